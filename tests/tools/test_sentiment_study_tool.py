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


def test_capacity_study_on_finished_runs_reads_them_back(tmp_path):
    """Fabricated finished runs (metrics.json only): the tool trains nothing and reports by hand-known numbers."""
    import json

    tasks = ["cr", "mpqa", "mr", "sst2", "subj", "trec"]

    def write(name, scores):
        d = tmp_path / name / "seed_0"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({t: {"accuracy": v} for t, v in scores.items()}))

    for r, acc in ((5, 0.6), (50, 0.9)):
        write(f"text_mlp/capacity/r{r}", {t: acc for t in tasks})
    for i, t in enumerate(tasks):
        write(f"text_mlp/stl/{t}", {t: 0.5 + 0.01 * i})
    proc = run_tool("sentiment_study", "--study=capacity", f"--workdir={tmp_path}", "--capacities=5,50", "--seeds=0")
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "capacity_text_mlp.md").read_text()
    assert "| 50 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 **(best)** |" in table
    assert "| 52.5 |" in table  # STL mean: 0.5 + 0.01 * (0 + ... + 5) / 6
    assert (tmp_path / "capacity_text_mlp.png").stat().st_size > 1000
