"""mmoe, cgc, ple and cross_stitch: build with mlp and text_cnn, train, save/load, export;
gates sum to 1; identity cross-stitch = independent columns (numpy reference); experts
shared exactly as the papers define."""

import numpy as np
import pytest

import mtlzoo
from mtlzoo.errors import ConfigError
from tests.helpers import assert_keras_round_trip, model_config, random_features, random_labels

ARCHS = ["mmoe", "cgc", "ple", "cross_stitch"]
EXPERTS = {
    "mmoe": {"num_experts": 3, "units": [8]},
    "cgc": {"num_shared_experts": 2, "num_task_experts": 1, "units": [8]},
    "ple": {"num_shared_experts": 1, "num_task_experts": 2, "levels": 2, "units": [8]},
    "cross_stitch": {"units": [8, 6], "alpha_self": 0.9},
}


def config(arch, encoder="mlp", experts=None, **enc):
    cfg = model_config(encoder)
    cfg["model"]["architecture"] = arch
    cfg["model"]["experts"] = dict(EXPERTS[arch] if experts is None else experts)
    cfg["model"]["encoder"].update(enc)
    return cfg


def build(arch, encoder="mlp", experts=None, seed=0, **enc):
    import keras

    keras.utils.set_random_seed(seed)
    return mtlzoo.build_model(config(arch, encoder, experts, **enc))


@pytest.mark.parametrize("encoder", ["mlp", pytest.param("text_cnn", marks=pytest.mark.slow)])
@pytest.mark.parametrize("arch", ARCHS)
def test_builds_trains_and_round_trips_through_keras_file(arch, encoder, tmp_path):
    import keras
    import tensorflow as tf

    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training.loop import TrainLoop
    from mtlzoo.weighting.aggregators import build_aggregator
    from mtlzoo.weighting.weightings import build_weighting
    from tests.helpers import THREE_TASKS

    model = build(arch, encoder)
    assert model.name == f"mtl_{arch}"
    tasks = tasks_from_config(THREE_TASKS)
    x, y = random_features(encoder, batch=6), random_labels(THREE_TASKS, batch=6)
    w = {t.name: np.ones((6, 1), np.float32) for t in tasks}
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt = keras.optimizers.SGD(0.1)
    # pcgrad takes per-task gradients over every shared variable (experts, stitches included);
    # text_cnn trains with the plain sum (one backward pass) to keep the file fast
    aggregator = "pcgrad" if encoder == "mlp" else "sum"
    loop = TrainLoop(
        model,
        tasks,
        opt,
        build_weighting({"name": "ew"}, [t.name for t in tasks]),
        build_aggregator({"name": aggregator}),
        tf.distribute.get_strategy(),
        6,
    )
    opt.build(loop.shared + loop.own)
    batches = iter(tf.data.Dataset.from_tensors((x, y, w)).repeat())
    losses0, _ = loop.run(batches, 1)
    losses, finite = loop.run(batches, 5)
    assert finite and losses.sum() < losses0.sum()
    # every gate / expert / column / stitch weight received a gradient
    moved = {
        v.path.split("/")[0]
        for v, b in zip(model.trainable_variables, before, strict=True)
        if not np.array_equal(v.numpy(), b)
    }
    special = {layer.name for layer in model.layers if "gate" in layer.name or "expert" in layer.name}
    special |= {layer.name for layer in model.layers if "column" in layer.name or "stitch" in layer.name}
    special = {n for n in special if model.get_layer(n).trainable_variables}
    assert special and special <= moved, special - moved

    assert sorted(model.output) == ["score", "sentiment", "topic"]
    assert_keras_round_trip(model, x, tmp_path, arch)


@pytest.mark.parametrize("arch", ["mmoe", "cgc", "ple"])
def test_gate_outputs_sum_to_one_and_statistics_name_the_experts(arch):
    import keras

    from mtlzoo.layers import MixtureGate
    from mtlzoo.models.soft_sharing import gate_statistics

    model = build(arch)
    x = random_features("mlp", batch=9)
    gates = [layer for layer in model.layers if isinstance(layer, MixtureGate)]
    probe = keras.Model(model.input, [g.output for g in gates])
    for g in probe.predict(x, verbose=0):
        assert g.shape[0] == 9
        np.testing.assert_allclose(g.sum(axis=1), np.ones(9), atol=1e-5)
    stats = gate_statistics(model, x)
    assert sorted(stats) == ["score", "sentiment", "topic"]
    for task, per_expert in stats.items():
        assert sum(per_expert.values()) == pytest.approx(1.0, abs=1e-5)
        if arch == "mmoe":
            assert sorted(per_expert) == ["expert_0", "expert_1", "expert_2"]
        else:  # the task's own experts and the shared ones of the last level
            last = 0 if arch == "cgc" else 1
            own = [n for n in per_expert if n.startswith(f"{task}__level{last}_expert_")]
            shared = [n for n in per_expert if n.startswith(f"level{last}_shared_expert_")]
            assert len(own) == EXPERTS[arch]["num_task_experts"]
            assert len(shared) == EXPERTS[arch]["num_shared_experts"]
            assert len(per_expert) == len(own) + len(shared)
    by_layer = gate_statistics(model, x, by_layer=True)
    if arch == "ple":  # the level-0 shared gate sees every expert of its level
        assert len(by_layer["level0_shared_gate"]) == 3 * 2 + 1


def _np_forward(model, x, tasks, columns, alphas):
    """Cross-stitch network in numpy: columns from their Dense kernels, mixed by ``alphas``."""

    def relu(a):
        return np.maximum(a, 0)

    hs = [x for _ in tasks]
    for i in range(columns):
        hs = [relu(h @ model.get_layer(f"{t}__column_{i}").kernel.numpy() + model.get_layer(f"{t}__column_{i}").bias.numpy()) for t, h in zip(tasks, hs, strict=True)]  # fmt: skip
        A = alphas[i]
        hs = [sum(A[r, c] * hs[c] for c in range(len(tasks))) for r in range(len(tasks))]
    out = {}
    for t, h in zip(tasks, hs, strict=True):
        tower = model.get_layer(f"{t}__tower_0")
        h = relu(h @ tower.kernel.numpy() + tower.bias.numpy())
        head = model.get_layer(t)
        logits = h @ head.kernel.numpy() + head.bias.numpy()
        if t == "sentiment":
            out[t] = 1 / (1 + np.exp(-logits))
        elif t == "topic":
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[t] = e / e.sum(axis=1, keepdims=True)
        else:
            out[t] = logits
    return out


def test_identity_cross_stitch_reproduces_independent_columns():
    # mlp with no hidden layers: the columns start at the features, as in Misra et al.
    model = build("cross_stitch", experts={"units": [8, 6], "alpha_self": 1.0}, units=[])
    tasks = list(model.output_names)
    x = random_features("mlp", batch=5)["features"]
    got = model.predict({"features": x}, verbose=0)
    ref = _np_forward(model, x, tasks, 2, [np.eye(3), np.eye(3)])
    for t in tasks:
        np.testing.assert_allclose(got[t], ref[t], rtol=1e-4, atol=1e-5)
    # each column alone: a separately built single-task network with the same weights
    for t in tasks:
        single = _np_forward(model, x, [t], 2, [np.eye(1), np.eye(1)])
        np.testing.assert_allclose(got[t], single[t], rtol=1e-4, atol=1e-5)
    # learned alphas mix the columns by eq. 1
    rng = np.random.default_rng(0)
    alphas = [rng.uniform(0, 1, size=(3, 3)).astype(np.float32) for _ in range(2)]
    for i, A in enumerate(alphas):
        model.get_layer(f"cross_stitch_{i}").set_weights([A])
    got = model.predict({"features": x}, verbose=0)
    ref = _np_forward(model, x, tasks, 2, alphas)
    for t in tasks:
        np.testing.assert_allclose(got[t], ref[t], rtol=1e-4, atol=1e-5)


def _changed_tasks(model, layer_name, x):
    before = model.predict(x, verbose=0)
    layer = model.get_layer(layer_name)
    layer.set_weights([w + np.random.default_rng(5).normal(size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    after = model.predict(x, verbose=0)
    return sorted(t for t in before if not np.allclose(before[t], after[t], atol=1e-6))


ALL = ["score", "sentiment", "topic"]


@pytest.mark.parametrize(
    "arch,layer,changed",
    [
        ("mmoe", "expert_1_dense_0", ALL),  # every task's gate mixes every expert
        ("mmoe", "sentiment__gate", ["sentiment"]),
        ("cgc", "sentiment__level0_expert_0_dense_0", ["sentiment"]),  # task experts: own gate only
        ("cgc", "level0_shared_expert_1_dense_0", ALL),
        ("cgc", "topic__level0_gate", ["topic"]),
        ("ple", "sentiment__level1_expert_1_dense_0", ["sentiment"]),
        # below the last level the shared gate carries every task's experts to everyone (PLE eq. 4)
        ("ple", "sentiment__level0_expert_0_dense_0", ALL),
        ("ple", "level0_shared_gate", ALL),
        ("ple", "score__level1_gate", ["score"]),
        ("cross_stitch", "topic__column_1", ALL),  # alpha_self = 0.9: columns exchange features
    ],
)
def test_experts_are_shared_as_the_papers_define(arch, layer, changed):
    model = build(arch)
    assert _changed_tasks(model, layer, random_features("mlp", batch=6)) == changed


def test_identity_cross_stitch_columns_are_independent():
    model = build("cross_stitch", experts={"units": [8], "alpha_self": 1.0})
    assert _changed_tasks(model, "topic__column_0", random_features("mlp", batch=6)) == ["topic"]


@pytest.mark.parametrize("arch", ARCHS)
def test_task_layers_are_task_specific_and_shared_experts_shared(arch):
    from mtlzoo.models import split_variables

    model = build(arch)
    shared, own = split_variables(model, ALL)
    shared_layers = {v.path.split("/")[0] for v in shared}
    for t in ALL:
        own_layers = {v.path.split("/")[0] for v in own[t]}
        assert all(n.startswith(f"{t}__") or n == t for n in own_layers)
        if arch != "mmoe":
            assert any("expert" in n or "column" in n for n in own_layers)
        if arch != "cross_stitch":
            assert any(n.endswith("_gate") for n in own_layers)
    assert "mlp_dense_0" in shared_layers
    if arch == "mmoe":
        assert {f"expert_{j}_dense_0" for j in range(3)} <= shared_layers
    elif arch == "cross_stitch":
        assert {"cross_stitch_0", "cross_stitch_1"} <= shared_layers
    else:
        assert "level0_shared_expert_0_dense_0" in shared_layers
    if arch == "ple":
        assert "level0_shared_gate" in shared_layers


def test_export_round_trip_has_per_task_signatures(tmp_path):
    import tensorflow as tf

    from mtlzoo.export import export_model
    from mtlzoo.tasks import tasks_from_config
    from tests.helpers import THREE_TASKS

    model = build("ple")
    x = random_features("mlp", batch=4)
    ref = model.predict(x, verbose=0)
    target = export_model(model, str(tmp_path / "serving"), "ple", version=1, tasks=tasks_from_config(THREE_TASKS))
    loaded = tf.saved_model.load(target)
    assert {"serving_default", *ALL} <= set(loaded.signatures)
    sig = loaded.signatures["sentiment"](features=tf.constant(x["features"]))
    np.testing.assert_allclose(sig["probabilities"].numpy(), ref["sentiment"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sig["class_ids"].numpy(), (ref["sentiment"][:, 0] >= 0.5).astype(np.int64))
    every = loaded.signatures["serving_default"](features=tf.constant(x["features"]))
    np.testing.assert_allclose(every["score_values"].numpy(), ref["score"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(every["topic_probabilities"].numpy(), ref["topic"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_train_end_to_end_and_cross_stitch_matrices(tmp_path):
    from mtlzoo.models.soft_sharing import architecture_statistics
    from mtlzoo.training import train
    from tests.training.three_tasks_config import get_config

    cfg = get_config()
    cfg.model.architecture = "cross_stitch"
    cfg.model.experts = {"units": [8], "alpha_self": 0.8}
    cfg.train.epochs = 2
    r = train(cfg, str(tmp_path / "run"))
    assert set(r.metrics) >= {"a", "b", "c"}
    loaded = mtlzoo.load_model(str(tmp_path / "run" / "model.keras"))
    stats = architecture_statistics(loaded, {"features": np.zeros((2, 8), np.float32)})
    alpha = stats["cross_stitch"]["cross_stitch_0"]
    assert sorted(alpha) == ["a", "b", "c"] and sorted(alpha["a"]) == ["a", "b", "c"]
    trained = loaded.get_layer("cross_stitch_0").alpha.numpy()
    assert not np.allclose(trained, [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])  # it learned
    assert alpha["b"]["c"] == pytest.approx(float(trained[1, 2]))
    assert "gates" not in stats


def test_bad_options_and_unsupported_settings_name_the_field(tmp_path):
    with pytest.raises(ConfigError) as e:
        build("mmoe", experts={"levels": 2})
    assert e.value.field == "model.experts.levels"
    with pytest.raises(ConfigError) as e:
        build("ple", experts={"num_task_experts": 0})
    assert e.value.field == "model.experts.num_task_experts"
    with pytest.raises(ConfigError) as e:
        build("cross_stitch", experts={"alpha_self": 1.5})
    assert e.value.field == "model.experts.alpha_self"
    cfg = model_config("tagger", tasks={"pos": {"kind": "tagging", "num_classes": 3}})
    cfg["model"]["architecture"] = "mmoe"
    with pytest.raises(ConfigError) as e:
        mtlzoo.build_model(cfg)
    assert e.value.field == "model.architecture" and "pos" in str(e.value)


def test_representation_gradients_are_refused_with_a_clear_error(tmp_path):
    from mtlzoo.training import train
    from tests.training.three_tasks_config import get_config

    cfg = get_config()
    cfg.model.architecture = "mmoe"
    cfg.train.per_task_grads = "representation"
    with pytest.raises(ConfigError) as e:
        train(cfg, str(tmp_path / "run"))
    assert e.value.field == "train.per_task_grads"


def test_alignment_and_task_weights_combine_with_experts():
    cfg = config("cgc")
    cfg["model"]["alignment"] = "joint"
    cfg["model"]["task_weights"] = True
    model = mtlzoo.build_model(cfg)
    assert "task_id" in model.input
    model.get_layer("alignment")
    model.get_layer("task_weights")
    x = {**random_features("mlp", batch=3), "task_id": np.array([0, 1, 2], np.int32)}
    out = model.predict(x, verbose=0)
    assert out["topic"].shape == (3, 4)


def test_compare_tool_tabulates_finished_runs_and_refuses_bad_input(tmp_path):
    """tools/compare_architectures.py on fabricated finished runs: mean and sample std by hand."""
    import json
    import os

    from tests.helpers import REPO, run_tool

    acc = {("shared_bottom", 0): (0.5, 0.8, 0.9), ("shared_bottom", 1): (0.7, 0.6, 0.9)}
    acc.update({("mmoe", 0): (0.4, 0.4, 0.4), ("mmoe", 1): (0.6, 0.6, 0.6)})
    for (arch, seed), (d, p, m) in acc.items():
        wd = tmp_path / arch / f"seed{seed}"
        os.makedirs(wd)
        metrics = {"digit": {"accuracy": d}, "parity": {"accuracy": p}, "magnitude": {"accuracy": m}}
        (wd / "metrics.json").write_text(json.dumps(metrics))
        (wd / "params.json").write_text(json.dumps({"trainable_params": 100 if arch == "mmoe" else 50}))
    config = os.path.join(REPO, "configs", "compare_architectures.py")
    r = run_tool(
        "compare_architectures",
        f"--config={config}",
        f"--workdir={tmp_path}",
        "--architectures=shared_bottom,mmoe",
        "--seeds=0,1",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    table = (tmp_path / "architectures.md").read_text()
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in table.splitlines()
        if line.startswith("| `")
    }
    # digit: (0.5, 0.7) -> 0.6 +- 0.1414; mean over tasks per seed: (2.2/3, 2.2/3) -> 0.7333 +- 0
    assert table.splitlines()[0].split("|")[3:6] == [" digit accuracy ", " magnitude accuracy ", " parity accuracy "]
    assert rows["`shared_bottom`"] == ["50", "0.6000 ± 0.1414", "0.9000 ± 0.0000", "0.7000 ± 0.1414", "0.7333 ± 0.0000"]
    assert rows["`mmoe`"][0] == "100" and rows["`mmoe`"][-1] == "0.5000 ± 0.1414"
    bad = run_tool("compare_architectures", f"--config={config}", f"--workdir={tmp_path}", "--architectures=moe")
    assert bad.returncode == 2 and "unknown architecture 'moe'" in bad.stderr
    bad = run_tool("compare_architectures", f"--config={config}", f"--workdir={tmp_path}", "--seeds=x")
    assert bad.returncode == 2 and "--seeds" in bad.stderr
