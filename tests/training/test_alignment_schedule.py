"""model.alignment = fixed_encoder: phase 1 keeps R_i = I, phase 2 freezes the encoder
(``train.alignment_phase2 = heads``: and keeps R_i = I, training the heads only)."""

import os

import numpy as np

from mtlzoo.config import load_config_file
from mtlzoo.training import train
from tests.helpers import REPO


def _run(tmp_path, phase2=None):
    c = load_config_file(os.path.join(REPO, "tests", "training", "three_tasks_config.py"))
    c.model.alignment = "fixed_encoder"
    c.train.epochs = 1
    c.train.alignment_epochs = 1
    c.train.optimizer = "adam"
    c.train.learning_rate = 0.01
    c.model.encoder.dropout = 0.1  # the user's path: dropout on
    if phase2 is not None:
        c.train.alignment_phase2 = phase2
    wd = str(tmp_path)
    model = train(c, wd).model
    final = {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}
    model.load_weights(os.path.join(wd, "checkpoints", "epoch_001.weights.h5"))  # end of phase 1
    after1 = {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}
    return wd, after1, final


def test_fixed_encoder_schedule(tmp_path):
    wd, after1, final = _run(tmp_path)
    eye = np.broadcast_to(np.eye(8), (3, 8, 8))
    np.testing.assert_array_equal(after1["alignment"][0], eye)  # R_i = I during phase 1
    assert not np.allclose(final["alignment"][0], eye)  # phase 2 trains R_i
    for name in ("mlp_dense_0", "mlp_dense_1"):  # the shared encoder B is frozen in phase 2
        for a, b in zip(after1[name], final[name], strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.allclose(after1["a"][0], final["a"][0])  # the heads A_i train in phase 2
    assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["epoch_001.weights.h5", "epoch_002.weights.h5"]


def test_heads_only_phase2_is_the_control(tmp_path):
    """``alignment_phase2 = heads``: the same phase 1 (bit-equal to the default's: same seed and
    batches), then R_i stays exactly I and B frozen while the heads train."""
    _, after1, final = _run(tmp_path / "heads", "heads")
    _, ref_after1, _ = _run(tmp_path / "ref")
    for name in ref_after1:
        for a, b in zip(ref_after1[name], after1[name], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(final["alignment"][0], np.broadcast_to(np.eye(8), (3, 8, 8)))
    for name in ("mlp_dense_0", "mlp_dense_1"):
        for a, b in zip(after1[name], final[name], strict=True):
            np.testing.assert_array_equal(a, b)
    for head in ("a", "b", "c"):
        assert not np.allclose(after1[head][0], final[head][0])
