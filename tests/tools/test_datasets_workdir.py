"""A run trained on tf.data.Datasets in Python (``data.source: datasets``): the workdir records
the source; ``mtlzoo evaluate`` says in one line what it needs, ``mtlzoo.evaluate(...,
datasets=...)`` scores it (checked with numpy), and ``mtlzoo export`` needs no data."""

import json

import numpy as np
import pytest

from tests.data.test_files_more import _api_config, _user_datasets
from tests.helpers import run_tool


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    import mtlzoo

    wd = str(tmp_path_factory.mktemp("datasets_run") / "run")
    mtlzoo.train(_api_config(), wd, datasets=_user_datasets())
    return wd


def test_the_workdir_records_the_python_source(workdir):
    with open(f"{workdir}/config.json") as f:
        assert json.load(f)["data"]["source"] == "datasets"
    r = run_tool("evaluate", f"--workdir={workdir}", "--split=validation")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1, r.stderr[-2000:]
    assert "tf.data.Datasets passed in Python" in errors[0]
    assert "mtlzoo.evaluate(workdir, split='validation', datasets={'validation': ds})" in errors[0]


def test_evaluate_with_the_datasets_again(workdir):
    import mtlzoo
    from mtlzoo.models import load_model

    ds = _user_datasets()["validation"]
    result = mtlzoo.evaluate(workdir, split="validation", datasets={"validation": ds}, write=False)
    model = load_model(f"{workdir}/model.keras")
    hits, n = [], 0
    for f, y, w in ds:
        p = np.asarray(model.predict({"features": f["features"]}, verbose=0)["flag"])[:, 0] >= 0.5
        t = np.asarray(y["flag"])[:, 0] >= 0.5
        hits += [float(a == b) for a, b, c in zip(p, t, np.asarray(w["flag"]), strict=True) if c > 0]
        n += len(p)
    assert result["examples"] == n == 8
    assert result["tasks"]["flag"]["accuracy"] == pytest.approx(np.mean(hits), abs=1e-6)


def test_export_needs_no_data(workdir, tmp_path):
    r = run_tool("export", f"--workdir={workdir}", f"--export_dir={tmp_path}", "--model_name=api")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "api" / "1" / "saved_model.pb").exists()
