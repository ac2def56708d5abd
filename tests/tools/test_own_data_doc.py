"""docs/own_data.md's worked example, run as written in an empty folder (train -> evaluate ->
export -> predict), then the tools that reload a files workdir in fresh processes (finetune,
publish, evaluate after the files changed), each checked against an independent reading."""

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, run_python

DOC = os.path.join(REPO, "docs", "own_data.md")


def doc_example():
    """(make_data.py, own_data.py, [commands]) from the worked example section."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    make_data, config = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return make_data, config, [c for c in commands.splitlines() if c.strip()]


def _shell(command, cwd):
    """Runs a command of the page as written: ``mtlzoo X`` is ``python -m mtlzoo X`` and a
    ``python``/``mtlzoo`` command without shell syntax runs as a child of the fork server
    (:func:`tests.helpers.run_python`); anything else goes through the shell."""
    args = shlex.split(command)
    if args[0] in ("mtlzoo", "python") and not any(ch in command for ch in "|<>;&$`*?"):
        argv = ["-m", "mtlzoo", *args[1:]] if args[0] == "mtlzoo" else args[1:]
        return run_python(argv, timeout=600, env={"PYTHONPATH": REPO}, cwd=cwd)
    if args[0] == "mtlzoo":
        command = f"{shlex.quote(sys.executable)} -m mtlzoo {command[len('mtlzoo ') :]}"
    elif args[0] == "python":
        command = f"{shlex.quote(sys.executable)} {command[len('python ') :]}"
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def _mtlzoo(cwd, *args):
    return _shell("mtlzoo " + " ".join(shlex.quote(a) for a in args), cwd)


def test_the_doc_lists_the_loop():
    tools = [shlex.split(c)[1] for c in doc_example()[2] if c.startswith(("mtlzoo", "python"))]
    assert tools == ["make_data.py", "train", "evaluate", "export", "predict"]


def _token_ids(text, vocab, max_length):
    """The whitespace tokenizer's rule, written out: lower-case, split, id = line in vocab.txt, [UNK] = 1."""
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index.get(w, 1) for w in text.lower().split()][:max_length]
    return np.array([ids + [0] * (max_length - len(ids))], np.int32)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    d = tmp_path_factory.mktemp("own_data")
    make_data, config, commands = doc_example()
    (d / "make_data.py").write_text(make_data, encoding="utf-8")
    (d / "own_data.py").write_text(config, encoding="utf-8")
    outputs = []
    for command in commands:
        r = _shell(command, d)
        assert r.returncode == 0, (command, r.stderr[-3000:])
        outputs.append(r.stdout)
    return d, outputs


@pytest.fixture(scope="module")
def model(ran):
    """The example's model.keras, loaded once for the tests that only predict with it."""
    from mtlzoo.models import load_model

    return load_model(str(ran[0] / "runs" / "own_data" / "model.keras"))


@pytest.mark.slow
def test_the_worked_example_runs_as_written(ran, model):
    d, outputs = ran
    wd = d / "runs" / "own_data"
    vocab = (wd / "vocab.txt").read_text(encoding="utf-8").splitlines()
    saved = json.loads((wd / "vocabularies.json").read_text(encoding="utf-8"))
    assert saved["tokens"] == vocab and vocab[:2] == ["[PAD]", "[UNK]"]
    # every vocabulary word occurs in the files (read with the csv/json modules)
    import csv

    words = set()
    for name in ("reviews.csv", "news.csv"):
        with open(d / name, newline="") as f:
            words |= {w for row in csv.DictReader(f) for w in row["text"].lower().split()}
    with open(d / "extra.jsonl") as f:
        words |= {w for line in f for w in json.loads(line)["text"].lower().split()}
    assert set(vocab[2:]) <= words and len(vocab) > 10
    result = json.loads((wd / "eval_test.json").read_text())
    assert result["split"] == "test" and set(result["tasks"]) == {"sentiment", "topic"}
    assert "evaluation (test split" in outputs[2]
    assert "signature text: inputs text" in outputs[3]
    # predict on raw text = the Keras model on the ids the test computes from vocab.txt
    prediction = json.loads(outputs[5])["predictions"][0]
    ids = _token_ids("the film was great", vocab, 8)
    want = model.predict({"tokens": ids}, verbose=0)
    np.testing.assert_allclose(prediction["sentiment"]["probabilities"], want["sentiment"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prediction["topic"]["probabilities"], want["topic"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_evaluate_streams_the_split_and_scores_it(ran, model):
    """eval_test.json = accuracy computed here with numpy over the model's predictions of the test rows."""
    d, _ = ran
    wd = d / "runs" / "own_data"
    from mtlzoo.config import read_config
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_run_data

    config = read_config(str(wd))
    data = load_run_data(config, tasks_from_config(config.tasks), str(wd))
    # the page's CSV files (Python's csv module: \r\n line ends, no quotes) with the default
    # csv_reader get the fast reading, pyarrow in parts
    assert data.info["csv_readers"] == {"data.files[0]": "pyarrow parts", "data.files[1]": "pyarrow parts"}
    chunks = list(data.split("test").batches(None))  # the test rows, stored order
    f, y, w = ({k: np.concatenate([np.asarray(c[j][k]) for c in chunks]) for k in chunks[0][j]} for j in range(3))
    p = model.predict({k: f[k] for k in model.input}, verbose=0)  # every test row in one call
    n = len(f["tokens"])
    s = np.asarray(p["sentiment"])[:, 0] >= 0.5
    t = np.argmax(np.asarray(p["topic"]), axis=-1)
    got = {
        "sentiment": list(zip(s == (y["sentiment"][:, 0] >= 0.5), w["sentiment"], strict=True)),
        "topic": list(zip(t == y["topic"], w["topic"], strict=True)),
    }
    result = json.loads((wd / "eval_test.json").read_text())
    assert result["examples"] == n
    for task, pairs in got.items():
        hits = [float(h) for h, c in pairs if c > 0]
        assert result["tasks"][task]["accuracy"] == pytest.approx(np.mean(hits), abs=1e-6)


@pytest.mark.slow
def test_saved_vocabularies_are_reused_when_the_files_change(ran):
    d, _ = ran
    wd = d / "runs" / "own_data"
    saved = json.loads((wd / "vocabularies.json").read_text(encoding="utf-8"))
    with open(d / "reviews.csv", "a", encoding="utf-8") as f:
        for _ in range(50):  # a new word, frequent enough to come first in a rebuilt vocabulary
            f.write("zebra zebra zebra,positive\n")
    r = _mtlzoo(d, "evaluate", f"--workdir={wd}", "--split=validation")
    assert r.returncode == 0, r.stderr[-3000:]
    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_run_data

    config = read_config(str(wd))
    tasks = tasks_from_config(config.tasks)
    assert load_run_data(config, tasks, str(wd)).info["vocabularies"] == saved
    assert "zebra" in load_data(config, tasks).info["vocabularies"]["tokens"]  # what a fresh build would do
    assert json.loads((wd / "vocabularies.json").read_text(encoding="utf-8")) == saved


@pytest.mark.slow
def test_finetune_and_publish_a_files_workdir(ran, tmp_path):
    d, _ = ran
    wd = d / "runs" / "own_data"
    ft = tmp_path / "ft"
    r = _mtlzoo(d, "finetune", f"--pretrained={wd}", f"--workdir={ft}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (ft / "model.keras").exists()
    saved = json.loads((wd / "vocabularies.json").read_text(encoding="utf-8"))
    assert json.loads((ft / "vocabularies.json").read_text(encoding="utf-8")) == saved
    zoo = tmp_path / "zoo"
    card = tmp_path / "card.md"
    card.write_text("# own data\n\n<!-- scores -->\n\n<!-- command -->\n", encoding="utf-8")
    r = _mtlzoo(
        d,
        "publish",
        f"--workdir={wd}",
        "--name=own_data",
        f"--zoo_dir={zoo}",
        f"--card={card}",
        "--command=mtlzoo train --config=own_data.py --workdir=runs/own_data",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    entry = zoo / "own_data"
    assert json.loads((entry / "vocabularies.json").read_text(encoding="utf-8")) == saved
    metrics = json.loads((entry / "metrics.json").read_text())
    assert metrics["split"] == "test" and set(metrics["tasks"]) == {"sentiment", "topic"}
