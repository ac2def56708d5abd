"""Sequence layers against numpy, and their .keras round trips."""

import keras
import numpy as np
import pytest

from mtlzoo.layers import ApplyMask, MaskedGlobalPooling1D, PaddingMask, TokenSelect
from tests.helpers import assert_keras_round_trip


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    mask = np.ones((4, 6), np.float32)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    mask[3, :] = 0  # an all-padding row
    return x, mask


def test_masked_max_and_mean_match_numpy():
    x, mask = _data()
    mx = MaskedGlobalPooling1D("max")([x, mask]).numpy()
    mean = MaskedGlobalPooling1D("mean")([x, mask]).numpy()
    for i in range(3):
        real = x[i][mask[i] > 0]
        np.testing.assert_allclose(mx[i], real.max(0), rtol=1e-6)
        np.testing.assert_allclose(mean[i], real.mean(0), rtol=1e-5)
    np.testing.assert_array_equal(mx[3], 0)
    np.testing.assert_array_equal(mean[3], 0)


def test_padding_mask_apply_mask_token_select():
    tokens = np.array([[4, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(PaddingMask()(tokens).numpy(), [[1, 1, 0], [0, 0, 0]])
    x, mask = _data()
    np.testing.assert_array_equal(ApplyMask()([x, mask]).numpy(), x * mask[..., None])
    np.testing.assert_array_equal(TokenSelect(2)(x).numpy(), x[:, 2])


def test_bad_pooling_mode():
    with pytest.raises(ValueError, match="mode must be"):
        MaskedGlobalPooling1D("min")


def test_layers_round_trip_through_keras_file(tmp_path):
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    vecs = keras.Input((None, 3), name="vecs")
    mask = PaddingMask()(tokens)
    h = ApplyMask()([vecs, mask])
    out = {
        "max": MaskedGlobalPooling1D("max")([h, mask]),
        "mean": MaskedGlobalPooling1D("mean")([h, mask]),
        "first": TokenSelect(0)(h),
    }
    model = keras.Model({"tokens": tokens, "vecs": vecs}, out)
    x, m = _data()
    assert_keras_round_trip(model, {"tokens": (m > 0).astype(np.int32) * 7, "vecs": x}, tmp_path, "layers")
