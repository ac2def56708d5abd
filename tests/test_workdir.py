"""Loading a run's folder back: model.keras, a checkpoint by epoch or path, the last checkpoint."""

import os

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from mtlzoo.workdir import checkpoint_path, load_workdir
from tests.export.common import FOUR_KINDS, build
from tests.helpers import model_config, random_features


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from mtlzoo.config import write_config
    from mtlzoo.models import save_model

    wd = tmp_path_factory.mktemp("run")
    final = build("mlp", FOUR_KINDS)
    save_model(final, str(wd / "model.keras"))
    write_config(model_config("mlp", FOUR_KINDS), str(wd))
    other = build("mlp", FOUR_KINDS)
    os.makedirs(wd / "checkpoints")
    other.save_weights(str(wd / "checkpoints" / "epoch_002.weights.h5"))
    return {"path": wd, "final": final, "other": other}


def test_final_model_then_checkpoints(workdir):
    wd, x = workdir["path"], random_features("mlp")
    model, config, source = load_workdir(str(wd))
    assert source == str(wd / "model.keras") and sorted(config.tasks) == sorted(FOUR_KINDS)
    np.testing.assert_allclose(
        model.predict(x, verbose=0)["topic"], workdir["final"].predict(x, verbose=0)["topic"], rtol=1e-6
    )
    for ckpt in ("2", 2, "epoch_002.weights.h5", str(wd / "checkpoints" / "epoch_002.weights.h5")):
        model, _, source = load_workdir(str(wd), checkpoint=ckpt)
        assert source.endswith(os.path.join("checkpoints", "epoch_002.weights.h5")), ckpt
    np.testing.assert_allclose(
        model.predict(x, verbose=0)["topic"], workdir["other"].predict(x, verbose=0)["topic"], rtol=1e-6
    )


def test_errors_name_the_file_and_the_checkpoints(workdir, tmp_path):
    import shutil

    with pytest.raises(ConfigError, match=r"epoch_005.weights.h5 does not exist; .* has epoch_002.weights.h5"):
        checkpoint_path(str(workdir["path"]), 5)
    wd = tmp_path / "copy"
    shutil.copytree(workdir["path"], wd)
    os.remove(wd / "model.keras")  # no final model: the last checkpoint
    assert load_workdir(str(wd))[2].endswith("epoch_002.weights.h5")
    (wd / "checkpoints" / "epoch_002.weights.h5").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="could not be loaded into the workdir's model"):
        load_workdir(str(wd))
    shutil.rmtree(wd / "checkpoints")
    with pytest.raises(ConfigError, match="has no model.keras and no checkpoints/: did training run"):
        load_workdir(str(wd))
    with pytest.raises(ConfigError, match="does not exist"):
        load_workdir(str(tmp_path / "missing"))
