"""The version layout is written atomically: refuse, overwrite, next version, clean failure."""

import os

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.export.common import FOUR_KINDS, build


@pytest.fixture(scope="module")
def model():
    return build("mlp", FOUR_KINDS)


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_versions_count_up_and_an_existing_one_is_refused(model, tmp_path):
    from mtlzoo.export import export_model, versions

    root = str(tmp_path / "serving")
    assert export_model(model, root, "m") == os.path.join(root, "m", "1")
    assert export_model(model, root, "m") == os.path.join(root, "m", "2")
    assert export_model(model, root, "m", version=7) == os.path.join(root, "m", "7")
    assert versions(os.path.join(root, "m")) == [1, 2, 7]
    before = _listing(root)
    stamp = os.path.getmtime(os.path.join(root, "m", "2", "saved_model.pb"))
    with pytest.raises(ConfigError, match=r"m/2 already exists; pass --overwrite"):
        export_model(model, root, "m", version=2)
    assert _listing(root) == before
    assert os.path.getmtime(os.path.join(root, "m", "2", "saved_model.pb")) == stamp


def test_overwrite_replaces_the_version_and_leaves_no_hidden_directories(model, tmp_path):
    import tensorflow as tf

    from mtlzoo.export import export_model

    root = str(tmp_path / "serving")
    export_model(model, root, "m", version=1)
    other = build("mlp", FOUR_KINDS)  # different random weights
    export_model(other, root, "m", version=1, overwrite=True)
    assert sorted(os.listdir(os.path.join(root, "m"))) == ["1"]
    x = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)
    got = tf.saved_model.load(os.path.join(root, "m", "1")).signatures["topic"](features=tf.constant(x))
    np.testing.assert_allclose(
        got["probabilities"].numpy(), other.predict({"features": x}, verbose=0)["topic"], rtol=1e-5
    )


def test_a_failed_export_leaves_nothing(model, tmp_path, monkeypatch):
    import mtlzoo.export.warmup as warmup
    from mtlzoo.export import export_model

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(warmup, "write_warmup", broken)
    root = tmp_path / "serving"
    with pytest.raises(OSError, match="disk full"):
        export_model(model, str(root), "m", version=1)
    assert os.listdir(root / "m") == []


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"model_name": "../up"}, "not a valid model name"),
        ({"version": 0}, "positive integer"),
        ({"version": "1"}, "positive integer"),
    ],
)
def test_bad_names_and_versions(model, tmp_path, kwargs, words):
    from mtlzoo.export import export_model

    with pytest.raises(ConfigError, match=words):
        export_model(model, str(tmp_path), **{"model_name": "m", **kwargs})
    assert not os.path.exists(tmp_path / "m")
