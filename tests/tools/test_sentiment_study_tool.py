"""tools/sentiment_study.py: bad flags are one error line and exit 2, before any training."""

import pytest

from tests.helpers import run_tool


@pytest.mark.parametrize(
    "args, message",
    [
        (["--study=capacity", "--capacity_encoder=bert"], "--capacity_encoder must be one of text_mlp, lstm, text_cnn"),
        (["--study=stl_mtl", "--seeds=a"], "--seeds must be comma-separated non-negative integers"),
        (["--study=capacity", "--capacities=0,5"], "--capacities must be comma-separated positive integers"),
        (["--study=stl_mtl", "--encoders=rnn"], "unknown encoder 'rnn'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, args, message):
    proc = run_tool("sentiment_study", f"--workdir={tmp_path}/w", *args)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_sentiment_config_argument():
    from mtlzoo.config import load_config_module
    from tests.helpers import REPO

    module = load_config_module(f"{REPO}/configs/sentiment.py")
    c = module.get_config("lstm,mr,trec,align")
    assert sorted(c.tasks) == ["mr", "trec"] and c.tasks.trec.num_classes == 6
    assert c.model.alignment == "joint" and c.model.encoder.name == "lstm"
    assert sorted(module.get_config().tasks) == sorted(module.SIX) and module.get_config().model.alignment == "none"
    with pytest.raises(ValueError, match="unknown task 'imdb'"):
        module.get_config("text_cnn,imdb")
