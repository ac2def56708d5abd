"""SVD task reweighting in training: alpha equals a numpy Algorithm 2 and is saved with the model."""

import os

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.config import load_config_file, resolve_config
from tests.helpers import REPO


def cfg(**weighting):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.train.epochs = 2
    c.train.aggregator = {"name": "sum"}
    c.train.weighting = {"name": "svd", "rank": 2, **weighting}
    return c


def numpy_algorithm2(x, labels, weights, classes, rank, center=False, normalize=False):
    thetas = []
    for y, w, c in zip(labels, weights, classes, strict=True):
        keep = w > 0
        y = np.eye(c)[y[keep]] if c else y[keep].reshape(keep.sum(), -1)
        sd = y.std(axis=0)
        if center:  # centred labels: each column minus its mean over the labelled examples
            y = y - y.mean(axis=0)
        if normalize:  # each column divided by its (population) standard deviation
            y = y / np.where(sd > 0, sd, 1.0)
        thetas.append(x[keep].T @ y)  # d x C_i
    u, _, _ = np.linalg.svd(np.concatenate(thetas, axis=1), full_matrices=False)
    alpha = np.array([np.linalg.norm(u[:, :rank].T @ t) for t in thetas])
    return alpha * len(alpha) / alpha.sum()


def recompute_and_reference(model, c, x_of, center=False, normalize=False):
    """(the weighting's recomputed alpha, numpy Algorithm 2 on ``x_of(rows)``) for ``model``."""
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.weighting.weightings import build_weighting

    tasks = tasks_from_config(c.tasks)
    split = load_data(c, tasks).splits["train"]
    w = build_weighting(dict(c.train.weighting), [t.name for t in tasks])
    w.attach(model)
    got = w.recompute(model, split, tasks, c.seed)
    rows = np.sort(np.random.default_rng([c.seed, 0x5D]).permutation(len(split))[:2048])
    expected = numpy_algorithm2(
        x_of({"features": split.features["features"][rows]}).astype(np.float64),
        [split.labels[t.name][rows] for t in tasks],
        [split.weights[t.name][rows] for t in tasks],
        [t.num_classes if t.kind == "multiclass" else None for t in tasks],
        rank=2,
        center=center,
        normalize=normalize,
    )
    return got, expected


@pytest.mark.parametrize("center,normalize", [(False, False), (True, False), (True, True)])
def test_svd_weights_match_numpy_and_travel_with_the_model(tmp_path, center, normalize):
    import keras

    from mtlzoo import load_model
    from mtlzoo.training import train

    r = train(cfg(center=center, normalize=normalize), str(tmp_path))
    model = r.model
    alpha = model.get_layer("task_weights").get_weights()[0]
    assert abs(alpha.mean() - 1) < 1e-5 and not np.allclose(alpha, 1)

    c = resolve_config(cfg(center=center, normalize=normalize))
    assert c.train.weighting.center is center and c.train.weighting.normalize is normalize
    rep = keras.Model(model.input, model.get_layer("shared_pooled").output)
    got, expected = recompute_and_reference(
        model, c, lambda f: rep.predict(f, verbose=0), center=center, normalize=normalize
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4)

    loaded = load_model(os.path.join(str(tmp_path), "model.keras"))
    np.testing.assert_array_equal(loaded.get_layer("task_weights").get_weights()[0], alpha)


@pytest.mark.parametrize("architecture", ["mmoe", "cross_stitch"])
def test_svd_weights_with_soft_sharing_architectures(tmp_path, architecture):
    """No ``shared_pooled`` layer there: X is the pooled representation below the experts/columns."""
    import keras

    from mtlzoo.training import train

    c = cfg()
    c.train.epochs = 1
    c.model.architecture = architecture
    r = train(c, str(tmp_path))
    model = r.model
    assert not any(layer.name == "shared_pooled" for layer in model.layers)
    c = resolve_config(c)
    # the tensor entering the (identity) TaskWeights layer, i.e. the encoder's pooled output
    rep = keras.Model(model.input, model.get_layer("task_weights").input)
    got, expected = recompute_and_reference(model, c, lambda f: rep.predict(f, verbose=0))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert not np.allclose(got, 1)


def test_svd_center_defaults_to_false_and_must_be_a_bool():
    assert resolve_config(cfg()).train.weighting.center is False
    with pytest.raises(ConfigError, match="train.weighting.center"):
        resolve_config(cfg(center="yes"))


def test_svd_bad_input():
    with pytest.raises(ConfigError, match="train.weighting.rank: rank 4 is larger than the number of tasks"):
        resolve_config(cfg(rank=4))
    c = cfg()
    c.tasks = {"a": {"kind": "binary"}}
    c.train.weighting = {"name": "svd", "rank": 1}
    with pytest.raises(ConfigError, match="needs at least 2 tasks"):
        resolve_config(c)


def test_normalize_option_reaches_the_weighting_and_is_checked():
    from mtlzoo.errors import ConfigError
    from mtlzoo.weighting.weightings import build_weighting

    w = build_weighting({"name": "svd", "normalize": True, "center": True, "rank": 2}, ["a", "b", "c"])
    assert w.opts["normalize"] is True and w.opts["center"] is True and w.opts["rank"] == 2
    assert build_weighting({"name": "svd"}, ["a", "b"]).opts["normalize"] is False
    with pytest.raises(ConfigError, match="normalize"):
        build_weighting({"name": "svd", "normalize": "yes"}, ["a", "b"])


@pytest.mark.parametrize(
    "every,expected",
    [(None, [0, 7]), (3, [0, 3, 6, 9, 12]), (10**9, [0])],  # every epoch (7 steps), every 3 steps, once
)
def test_svd_recompute_cadence(tmp_path, capsys, every, expected):
    """alpha is recomputed before steps 0, N, 2N, ... (N = every_steps, default one epoch), whatever
    steps_per_loop (4 here) is: the steps, read from the trainer's log lines, against the closed form."""
    import re

    from mtlzoo.training import train

    c = cfg(every_steps=every) if every else cfg()
    c.train.steps_per_epoch = 7
    c.train.verbose = 2
    train(c, str(tmp_path))
    steps = [int(m) for m in re.findall(r"step (\d+): SVD task weights", capsys.readouterr().out)]
    assert steps == expected
