"""Publishing a training workdir as a zoo entry: files, scores against numpy, the rendered
card, atomicity, refusals and the tool's one-line errors."""

import json
import os
import shutil

import numpy as np
import pytest

from mtlzoo import zoo
from mtlzoo.errors import ConfigError
from tests.export.common import trained_quickstart
from tests.helpers import REPO, run_tool
from tests.zoo.common import CARD, published_quickstart, write_card


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return published_quickstart(tmp_path_factory)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return trained_quickstart(tmp_path_factory)


def _auc(y, p):
    """ROC AUC as the Mann-Whitney statistic: P(p_pos > p_neg) + 0.5 P(tie)."""
    pos, neg = p[y == 1], p[y == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return greater + 0.5 * ties


def test_entry_files_and_scores_against_numpy(root):
    entry = os.path.join(root, "digits_mlp")
    assert sorted(os.listdir(entry)) == ["README.md", "card.md", "config.json", "metrics.json", "model.keras"]
    with open(os.path.join(entry, "card.md"), encoding="utf-8") as f:
        assert f.read() == CARD.format(name="digits_mlp", what="digits, three tasks")  # the template, kept
    assert not [d for d in os.listdir(root) if d.startswith(".")]
    with open(os.path.join(entry, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["split"] == "test"

    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    config = read_config(entry)
    test = load_data(config, tasks_from_config(config.tasks)).splits["test"]
    model = zoo.load("digits_mlp", root)
    pred = model.predict({"features": test.features["features"]}, verbose=0)
    digit = np.asarray(test.labels["digit"]).reshape(-1)
    assert metrics["examples"] == len(digit)
    assert metrics["tasks"]["digit"]["accuracy"] == pytest.approx(np.mean(pred["digit"].argmax(-1) == digit), abs=1e-9)
    for t in ("parity", "magnitude"):
        y = np.asarray(test.labels[t]).reshape(-1)
        p = pred[t].reshape(-1)
        assert metrics["tasks"][t]["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y), abs=1e-9)
        assert metrics["tasks"][t]["auc"] == pytest.approx(_auc(y, p), abs=1e-6)
    accs = [metrics["tasks"][t]["accuracy"] for t in ("digit", "parity", "magnitude")]
    assert metrics["average"]["accuracy"] == pytest.approx(np.mean(accs))


def test_card_is_rendered_from_metrics(root):
    facts = zoo.info("digits_mlp", root)
    card = facts["card"]
    assert "<!--" not in card
    assert "```bash\npython tools/train.py --config=configs/quickstart.py\n```" in card
    assert facts["description"] == "A tiny entry for the tests: digits, three tasks."
    table = zoo.parse_scores_table(card)
    assert sorted(table) == ["average", "digit", "magnitude", "parity"]
    for t, row in facts["metrics"]["tasks"].items():
        want = {m: round(100 * v, 2) for m, v in row.items() if m != "examples"}
        assert table[t] == pytest.approx(want, abs=1e-9), t
    assert table["average"]["accuracy"] == pytest.approx(round(100 * facts["average"]["accuracy"], 2))
    assert facts["tasks"]["digit"] == {"kind": "multiclass", "num_classes": 10}
    assert facts["data"] == "digits" and facts["vocab"] is None
    text = zoo.format_info(facts)
    assert "digit (multiclass, 10 classes), magnitude (binary), parity (binary)" in text
    assert f"| digit | {100 * facts['scores']['digit']['accuracy']:.2f} |" in text


def test_render_card_details():
    metrics = {
        "split": "test",
        "examples": 4,
        "tasks": {"y": {"mse": 0.123456, "pearson": None, "examples": 4}},
        "average": {"mse": 0.123456, "pearson": None},
    }
    text = "# t\n\ninside:\n```bash\n<!-- command -->\n```\n  <!-- scores -->\n"
    out = zoo.render_card(text, metrics, "python go.py")
    assert "```bash\npython go.py\n```" in out  # a placeholder inside a code block is replaced as is
    assert "| y | 0.1235 | - | 4 |" in out  # errors as measured, an undefined score as '-'
    assert "average" not in out.split("Test split")[0]  # one task: no average row


def test_refuses_an_existing_entry_and_overwrites_atomically(root, workdir, tmp_path):
    mine = str(tmp_path / "zoo")
    shutil.copytree(root, mine)
    entry = os.path.join(mine, "digits_mlp")
    before = {f: os.path.getmtime(os.path.join(entry, f)) for f in os.listdir(entry)}
    card = write_card(tmp_path / "card.md", "digits_mlp", "second version")
    with pytest.raises(ConfigError, match="digits_mlp already exists; pass --overwrite"):
        zoo.publish(workdir, "digits_mlp", card, command="x", root=mine, log=None)
    assert {f: os.path.getmtime(os.path.join(entry, f)) for f in os.listdir(entry)} == before
    zoo.publish(workdir, "digits_mlp", card, command="x", root=mine, overwrite=True, log=None)
    assert "second version" in zoo.info("digits_mlp", mine)["card"]
    assert os.listdir(mine) == ["digits_mlp"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_leaves_nothing_behind(workdir, tmp_path, monkeypatch, error):
    import mtlzoo.evaluation

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(mtlzoo.evaluation, "_evaluate", broken)  # publish's evaluation step
    card = write_card(tmp_path / "card.md", "x")
    with pytest.raises(type(error)):
        zoo.publish(workdir, "x", card, command="c", root=str(tmp_path / "zoo"), log=None)
    assert os.listdir(tmp_path / "zoo") == []


def test_bad_input(workdir, tmp_path):
    card = write_card(tmp_path / "card.md", "x")
    no_scores = tmp_path / "no_scores.md"
    no_scores.write_text("# x\n<!-- command -->\n")
    no_command = tmp_path / "no_command.md"
    no_command.write_text("# x\n<!-- scores -->\n")
    half = tmp_path / "half"
    os.makedirs(half)
    shutil.copy(os.path.join(workdir, "config.json"), half)
    root = str(tmp_path / "zoo")
    cases = [
        (dict(workdir=str(tmp_path / "nope")), "--workdir: .*nope does not exist"),
        (dict(workdir=str(half)), "has no model.keras: is it a finished training workdir"),
        (dict(card=str(tmp_path / "none.md")), "--card: .*none.md does not exist"),
        (dict(card=str(no_scores)), "has no line <!-- scores -->"),
        (dict(card=str(no_command)), "has no line <!-- command --> \\(where --command goes\\)"),
        (dict(command=None), "--command: .* has a <!-- command --> line"),
    ] + [(dict(name=bad), "is not a zoo entry name") for bad in ("", "../x", ".hidden", "a/b", "x" * 65, "a b")]
    for change, message in cases:
        args = {"workdir": workdir, "name": "x", "card": card, "command": "c", **change}
        with pytest.raises(ConfigError, match=message):
            zoo.publish(args["workdir"], args["name"], args["card"], command=args["command"], root=root, log=None)
    assert not os.path.exists(root) or os.listdir(root) == []


def test_machine_paths_are_dropped_from_the_config(tmp_path):
    path = tmp_path / "config.json"
    config = {
        "seed": 0,
        "data": {"source": "conll2000", "data_dir": "/home/me/data", "nltk_data": "/x", "max_length": 80},
    }
    path.write_text(json.dumps(config))
    from mtlzoo.zoo.publishing import _portable_config

    assert sorted(_portable_config(str(path))) == ["data_dir", "nltk_data"]
    want = {"seed": 0, "data": {"source": "conll2000", "data_dir": None, "nltk_data": None, "max_length": 80}}
    assert json.loads(path.read_text()) == want


def _recipes(root):
    """Copies the shipped entries' recipes (entry.json and card.md only: known, not published) into ``root``."""
    shipped = os.path.join(REPO, "saved_models")
    for name in zoo.known(shipped):
        os.makedirs(os.path.join(root, name))
        for fname in (zoo.ENTRY_JSON, zoo.CARD_TEMPLATE):
            shutil.copy(os.path.join(shipped, name, fname), os.path.join(root, name, fname))
    return sorted(zoo.known(shipped))


def test_known_entries_name_the_command_that_builds_them(root, tmp_path):
    mine = str(tmp_path / "zoo")
    shutil.copytree(root, mine)
    names = _recipes(mine)
    for name, known in zoo.known(mine).items():
        card = os.path.join(mine, name, "card.md")
        want = (
            f"{name!r} is not published in {mine}; build it with: mtlzoo train --config={known.config} "
            f"--workdir=/tmp/mtlzoo_zoo/{name} && mtlzoo publish --workdir=/tmp/mtlzoo_zoo/{name} --name={name} "
            f"--card={card}"
        )
        with pytest.raises(ConfigError) as e:
            zoo.load(name, mine)
        assert str(e.value).endswith(want)
        assert known.card == card and known.description and known.finetune.get("tasks")
    cat = zoo.catalog(mine)
    assert [e["name"] for e in cat] == sorted(["digits_mlp", *names])
    assert {e["name"]: e["published"] for e in cat} == {"digits_mlp": True, **{n: False for n in names}}
    assert zoo.list(mine) == ["digits_mlp"]


def test_a_known_entry_is_published_with_its_recipe(workdir, tmp_path):
    """Publishing into a folder that holds only entry.json and card.md: the card and the command
    default to the recipe's, and entry.json stays in the entry."""
    mine = tmp_path / "zoo"
    os.makedirs(mine / "digits_known")
    recipe = {"description": "digits from the quickstart config", "config": "quickstart", "data": None}
    (mine / "digits_known" / "entry.json").write_text(json.dumps(recipe))
    write_card(mine / "digits_known" / "card.md", "digits_known")
    zoo.publish(workdir, "digits_known", root=str(mine), log=None)
    facts = zoo.info("digits_known", str(mine))
    assert f"```bash\nmtlzoo train --config=quickstart --workdir={workdir}\n```" in facts["card"]
    assert (
        facts["known"]["config"] == "quickstart"
        and facts["description"] == "A tiny entry for the tests: scores and command filled by publish."
    )
    assert sorted(os.listdir(facts["path"])) == [
        "README.md",
        "card.md",
        "config.json",
        "entry.json",
        "metrics.json",
        "model.keras",
    ]
    with open(os.path.join(facts["path"], "entry.json")) as f:
        assert json.load(f) == recipe
    (mine / "bad").mkdir()
    (mine / "bad" / "entry.json").write_text('{"config": "quickstart"}')
    with pytest.raises(ConfigError, match=r"bad/entry.json: .*description"):
        zoo.known(str(mine))


def test_entries_table_and_readme(root, tmp_path):
    mine = str(tmp_path / "zoo")
    shutil.copytree(root, mine)
    readme = os.path.join(mine, "README.md")
    with open(readme, "w") as f:
        f.write("# zoo\n\n<!-- entries -->\nold\n<!-- /entries -->\n\nmore\n")
    zoo.update_readme(mine)
    with open(readme) as f:
        text = f.read()
    assert text.startswith("# zoo\n\n<!-- entries -->\n| entry |") and text.endswith("<!-- /entries -->\n\nmore\n")
    row = zoo.readme_entries(text).splitlines()[2]
    acc = zoo.info("digits_mlp", mine)["scores"]["digit"]["accuracy"]
    assert row.startswith("| `digits_mlp` | 3 binary/multiclass: digit, magnitude, parity | digits |")
    assert f"accuracy: digit {100 * acc:.2f}, magnitude " in row


def _tool(*args):
    return run_tool("publish", *args, timeout=300)


def test_tool_end_to_end_and_errors(workdir, tmp_path):
    card = write_card(tmp_path / "card.md", "digits")
    zdir = str(tmp_path / "zoo")
    r = _tool(
        f"--workdir={workdir}", "--name=digits", f"--card={card}", "--command=python train.py", f"--zoo_dir={zdir}"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "evaluation (test split" in r.stdout and "published " in r.stdout
    assert zoo.list(zdir) == ["digits"]
    r = _tool(f"--workdir={workdir}", "--name=digits", f"--card={card}", "--command=x", f"--zoo_dir={zdir}")
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --name: {os.path.join(zdir, 'digits')} already exists; pass --overwrite to replace it"]
    r = _tool("--name=x", f"--zoo_dir={zdir}")
    assert r.returncode == 2 and "error: --workdir, --card required" in r.stderr
    _recipes(zdir)
    r = _tool("--list", f"--zoo_dir={zdir}")
    assert r.returncode == 0 and "digits\n  A tiny entry" in r.stdout
    assert "yeast_mlp_svd (not published)" in r.stdout
