"""The GLUE study runner (mtlzoo.studies.glue): five arms, resumable runs, the CSV and the report.

A tiny random one-layer BERT in transformers format and tiny GLUE-shaped TSVs are written by the test
(no shared data, no 90 MB checkpoint); the real study is in docs/reproductions.md.
"""

import os
import shutil

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, matthews_corrcoef

from mtlzoo.config import load_config_module
from mtlzoo.errors import ConfigError
from mtlzoo.studies import glue as study
from mtlzoo.studies import glue_publish
from mtlzoo.studies.common import append_csv_row, read_csv_rows
from tests.data.test_glue_files import LAYOUTS, write_glue
from tests.encoders.tiny_bert import write_transformers_bert
from tests.helpers import REPO, run_tool

TASKS = ("cola", "rte")  # one single-sentence and one pair task
ARMS = (
    "single_task",
    "mtl_fixed_encoder",
)  # trained for real (the other three differ only in model.alignment, train.alignment_phase2)


def _get_config(root, ckpt):
    base = load_config_module(os.path.join(REPO, "configs", "glue_minilm.py")).get_config

    def get_config(arg):
        cfg = base(arg)
        cfg.data.data_dir = root
        cfg.data.checkpoint = ckpt
        cfg.model.encoder.preset = ckpt
        cfg.data.batch_size = 8
        cfg.train.learning_rate = 1e-3
        cfg.train.verbose = 0
        return cfg

    return get_config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("glue_study")
    root, ckpt = str(base / "glue"), str(base / "bert")  # glue/: where $MTLZOO_DATA_DIR points a published entry
    write_transformers_bert(ckpt, layers=1)  # the study is checked, not BERT's depth
    write_glue(root, TASKS)
    for t in TASKS:  # dev = a copy of train: every metric has enough examples to be non-trivial
        lay = LAYOUTS[t]
        shutil.copy(os.path.join(root, lay.folder, lay.files[0]), os.path.join(root, lay.folder, lay.files[1]))
    return root, ckpt, _get_config(root, ckpt)


OVERRIDES = {"train.epochs": 1, "train.alignment_epochs": 1, "data.max_length": 24, "data.max_train_examples": 20}


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study"))
    lines = []
    report = study.run_glue_study(
        tiny[2],
        workdir,
        seeds=[0],
        tasks=TASKS,
        arms=ARMS,
        overrides=OVERRIDES,
        similarity_examples=8,
        progress=lines.append,
    )
    return workdir, report, lines


def test_every_run_has_its_own_folder_and_one_csv_row(finished):
    workdir, report, lines = finished
    assert sorted(os.listdir(os.path.join(workdir, "seed0"))) == ["mtl_fixed_encoder", "stl_cola", "stl_rte"]
    rows = read_csv_rows(os.path.join(workdir, "glue_runs.csv"), study.csv_columns(TASKS))
    assert [r["run"] for r in rows] == ["stl_cola", "stl_rte", "mtl_fixed_encoder"]
    assert rows[0]["rte_accuracy"] == "nan" and rows[1]["cola_mcc"] == "nan"  # a single-task row has its task only
    assert sum("starting" in line for line in lines) == 3 and "GLUE study done" in lines[-1]
    for name in ("glue_study.md", "glue_study.json", "glue_study.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0
    assert report["missing_runs"] == []
    assert list(report["summary"]) == ["single_task", "mtl_fixed_encoder"]


def test_each_arm_config_has_its_alignment_and_the_overrides(tiny):
    for arm, align in study.ALIGNMENT.items():
        cfg = study.run_config(tiny[2], 3, arm, TASKS, OVERRIDES)
        assert cfg.model.alignment == align and cfg.seed == 3 and cfg.train.epochs == 1
        assert dict(cfg.data.max_train_examples) == {"cola": 20, "rte": 20} and cfg.data.max_length == 24
        # the control arm differs from Algorithm 1's only in what phase 2 trains
        assert cfg.train.alignment_phase2 == ("heads" if arm == "mtl_fixed_heads" else "alignment_and_heads")
    cfg = study.run_config(tiny[2], 0, "single_task", ("rte",), OVERRIDES)
    assert list(cfg.tasks) == ["rte"] and cfg.model.alignment == "none"
    with pytest.raises(ConfigError, match="no field 'bogus'"):
        study.run_config(tiny[2], 0, "mtl", TASKS, {"train.bogus": 1})


def test_scores_equal_scikit_learn_on_the_models_own_predictions(finished):
    """The CSV's GLUE metrics against scikit-learn on predictions made independently (Keras predict
    on the whole padded dev split, not the study's length-trimmed batches)."""
    import keras

    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_run_data, load_workdir, read_config

    workdir, _, _ = finished
    rows = {r["run"]: r for r in read_csv_rows(os.path.join(workdir, "glue_runs.csv"), study.csv_columns(TASKS))}
    for run in ("mtl_fixed_encoder", "stl_cola"):
        run_dir = os.path.join(workdir, "seed0", run)
        config = read_config(run_dir)
        data = load_run_data(config, tasks_from_config(config.tasks), run_dir)
        test = data.splits["test"]
        model = load_workdir(run_dir)[0]
        pred = model.predict({n: test.features[n] for n in model.input}, verbose=0)
        for t in config.tasks:
            keep = test.weights[t] > 0
            y, p = np.asarray(test.labels[t])[keep].reshape(-1), np.asarray(pred[t])[keep].reshape(-1)
            if t == "cola":
                want = matthews_corrcoef(y.astype(int), (p >= 0.5).astype(int))
                assert float(rows[run]["cola_mcc"]) == pytest.approx(want, abs=1e-5)
            else:
                want = accuracy_score(y.astype(int), (p >= 0.5).astype(int))
                assert float(rows[run]["rte_accuracy"]) == pytest.approx(want, abs=1e-5)
        keras.backend.clear_session()
    mtl = rows["mtl_fixed_encoder"]
    assert float(mtl["glue_average"]) == pytest.approx(
        np.mean([float(mtl["cola_score"]), float(mtl["rte_score"])]), abs=1e-5
    )


def test_similarity_before_and_after_alignment(finished):
    workdir, report, _ = finished
    sim = study.read_json(os.path.join(workdir, "seed0", "mtl_fixed_encoder", "result.json"))["similarity"]
    assert sim["examples_per_task"] == [8, 8] and sim["tasks"] == list(TASKS)
    for key in ("before", "after"):
        m = np.asarray(sim[key]["normalized"])
        assert m.shape == (2, 2) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
        assert 0 < m[0, 1] <= 1
        e = np.asarray(sim[key]["eq5"])
        assert np.all(e <= m + 1e-9)  # Eq. 5 <= its normalized form
    # the report's summary is the mean of the off-diagonal entries
    m = np.asarray(sim["after"]["normalized"])
    assert report["similarity"]["mtl_fixed_encoder"]["after"][0] == pytest.approx(m[0, 1])


def test_rerun_skips_finished_runs_and_other_overrides_are_refused(finished, tiny):
    workdir, report, _ = finished

    def no_training(cfg, run_dir):
        raise AssertionError(f"{run_dir} retrained")

    lines = []
    again = study.run_glue_study(
        tiny[2],
        workdir,
        seeds=[0],
        tasks=TASKS,
        arms=ARMS,
        overrides=OVERRIDES,
        progress=lines.append,
        train_fn=no_training,
    )
    assert sum("skipped" in line for line in lines) == 3
    assert len(read_csv_rows(os.path.join(workdir, "glue_runs.csv"), study.csv_columns(TASKS))) == 3
    assert again["summary"] == report["summary"]
    with pytest.raises(ConfigError, match="other tasks or overrides"):
        study.run_glue_study(tiny[2], workdir, seeds=[0], tasks=TASKS, overrides={"train.epochs": 2})


def test_publish_stores_float16_weights_and_a_card_with_both_scores(finished, tiny, tmp_path, monkeypatch):
    import h5py

    from mtlzoo import zoo

    workdir, _, _ = finished
    monkeypatch.setenv("MTLZOO_DATA_DIR", os.path.dirname(tiny[0]))  # the entry reads $MTLZOO_DATA_DIR/glue
    out = glue_publish.publish_entry(
        workdir, "glue2_tiny", seed=0, root=str(tmp_path), command="mtlzoo glue_study", log=None
    )
    assert out["arm"] == "mtl_fixed_encoder"  # the only multi-task arm trained
    check = out["float16"]
    assert check["bytes"]["float16"] < check["bytes"]["float32"]
    result = study.read_json(os.path.join(workdir, "seed0", "mtl_fixed_encoder", "result.json"))
    assert check["float32"] == result["tasks"]
    want = max(
        abs(100 * (check["float16"][t][m] - result["tasks"][t][m])) for t, m in (("cola", "mcc"), ("rte", "accuracy"))
    )
    assert check["max_diff_points"] == pytest.approx(want)
    # the entry's weights are the run's, rounded to float16 (h5 datasets compared directly)
    import zipfile

    def arrays(keras_file):
        with zipfile.ZipFile(keras_file) as z, h5py.File(__import__("io").BytesIO(z.read("model.weights.h5"))) as h:
            found = {}
            h.visititems(lambda n, d: found.__setitem__(n, d[()]) if isinstance(d, h5py.Dataset) else None)
            return found

    run_w = arrays(os.path.join(workdir, "seed0", "mtl_fixed_encoder", "model.keras"))
    entry_w = arrays(os.path.join(tmp_path, "glue2_tiny", "model.keras"))
    assert run_w.keys() == entry_w.keys()
    for k, v in run_w.items():
        if v.dtype == np.float32:
            assert entry_w[k].dtype == np.float16 and np.array_equal(entry_w[k], v.astype(np.float16)), k
    facts = zoo.info("glue2_tiny", str(tmp_path))
    assert "| cola | mcc |" in facts["card"] and "| GLUE average |" in facts["card"]
    assert "sentence embedder" in facts["card"] and "mtlzoo glue_study" in facts["card"]
    # Algorithm 1's arm: two phases (an alignment epoch count) and a trained R_i, both named on the card
    assert "epoch(s) of alignment" in facts["card"] and "R_i (routed by `task_id`)" in facts["card"]
    # the recipe is the run's (the tiny config: rate 1e-3, batch 8; the rest as configs/glue_minilm.py)
    recipe = "AdamW (weight decay 0.01), peak rate 0.001, linear warm-up (10%) then linear decay to 0, "
    recipe += "gradient norm clipped at 1, batch 8, tasks sampled in proportion to sqrt(size)."
    assert recipe in facts["card"]
    model = zoo.load("glue2_tiny", str(tmp_path))
    assert {str(v.dtype) for v in model.weights} == {"float32"}


def _fake_workdir(path, values):
    """A study folder with hand-written CSV rows: ``values[(seed, run)] = (cola score, rte score)``."""
    from mtlzoo.fileio import write_json

    write_json({"tasks": list(TASKS), "overrides": {}, "similarity_examples": 0}, os.path.join(path, "study.json"))
    cols = study.csv_columns(TASKS)
    for (seed, run), (cola, rte) in values.items():
        arm = "single_task" if run.startswith("stl_") else run
        row = {c: float("nan") for c in cols}
        row.update(seed=seed, arm=arm, run=run, train_seconds=60.0, eval_seconds=0.0)
        if cola is not None:
            row.update(cola_mcc=cola, cola_score=cola)
        if rte is not None:
            row.update(rte_accuracy=rte, rte_score=rte)
        row["glue_average"] = np.nanmean([np.nan if v is None else v for v in (cola, rte)])
        append_csv_row(os.path.join(path, study.CSV_NAME), row, cols)
        os.makedirs(os.path.join(path, f"seed{seed}", run), exist_ok=True)
        write_json({}, os.path.join(path, f"seed{seed}", run, "result.json"))


def test_summary_differences_and_partial_seeds_against_numpy(tmp_path):
    values = {
        (0, "stl_cola"): (0.30, None),
        (0, "stl_rte"): (None, 0.60),
        (0, "mtl"): (0.32, 0.62),
        (0, "mtl_joint"): (0.34, 0.66),
        (1, "stl_cola"): (0.20, None),
        (1, "stl_rte"): (None, 0.58),
        (1, "mtl"): (0.28, 0.56),
        (1, "mtl_joint"): (0.26, 0.61),
    }  # mtl_fixed_encoder and mtl_fixed_heads are missing on both seeds
    _fake_workdir(str(tmp_path), values)
    report = study.write_report(str(tmp_path), seeds=[0, 1])
    s = report["summary"]
    assert "mtl_fixed_encoder" not in s
    assert s["single_task"]["average"]["mean"] == pytest.approx(np.mean([0.45, 0.39]))
    assert s["single_task"]["average"]["std"] == pytest.approx(np.std([0.45, 0.39], ddof=1))
    assert s["mtl"]["cola"]["mcc"][0] == pytest.approx(0.30)
    d = np.array([0.50 - 0.47, 0.435 - 0.42])  # joint - mtl, GLUE averages per seed
    diff = report["differences"]["mtl_joint - mtl"]["average"]
    assert diff["mean_diff"] == pytest.approx(d.mean())
    assert diff["t_test_p"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert report["missing_runs"] == [
        "seed 0 mtl_fixed_encoder",
        "seed 0 mtl_fixed_heads",
        "seed 1 mtl_fixed_encoder",
        "seed 1 mtl_fixed_heads",
    ]
    md = (tmp_path / "glue_study.md").read_text()
    assert "42.00 ± 4.24" in md  # single-task GLUE average x 100: mean 42, sd of (45, 39)
    assert "Not finished yet (4)" in md
    assert (tmp_path / "glue_study.png").stat().st_size > 0


def test_tool_bad_input_is_one_line_and_exit_2(tmp_path):
    r = run_tool("glue_study", f"--workdir={tmp_path}", "--arms=mtl,bogus")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: --arms: unknown arm 'bogus'")
    assert os.listdir(tmp_path) == []
    r = run_tool("glue_study", f"--workdir={tmp_path}", "--learning_rate=0")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == "error: --learning_rate must be > 0, got 0.0"
    assert os.listdir(tmp_path) == []
    with pytest.raises(ConfigError, match="holds no GLUE study"):
        study.write_report(str(tmp_path))
