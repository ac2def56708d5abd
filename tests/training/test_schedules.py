"""The linear warm-up / decay schedule against its closed form, and inside the trainer's optimizer."""

import numpy as np
import pytest

from mtlzoo import ConfigError
from mtlzoo.training.schedules import LinearWarmupDecay
from mtlzoo.training.trainer import make_optimizer


def _closed_form(s, peak, w, t, decay=True):
    if s < w:
        return peak * s / max(1, w)
    return peak * (max(0.0, (t - s) / max(1, t - w)) if decay else 1.0)


@pytest.mark.parametrize(("w", "t", "decay"), [(10, 100, True), (0, 50, True), (7, 30, False)])
def test_schedule_matches_the_closed_form(w, t, decay):
    lr = LinearWarmupDecay(2e-5, w, t, decay)
    for s in range(t + 3):
        assert float(lr(s)) == pytest.approx(_closed_form(s, 2e-5, w, t, decay), rel=1e-5, abs=1e-12)


def test_optimizer_follows_the_schedule_over_its_steps():
    import keras

    cfg = {
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "weight_decay": 0.01,
        "clipnorm": 1.0,
        "lr_schedule": "linear",
        "warmup_fraction": 0.2,
    }
    opt = make_optimizer(cfg, total_steps=10)
    v = keras.Variable(np.ones(3, np.float32))
    seen = []
    for _ in range(10):
        seen.append(float(opt.learning_rate))
        opt.apply_gradients([(np.full(3, 5.0, np.float32), v)])
    np.testing.assert_allclose(seen, [_closed_form(s, 1e-3, 2, 10) for s in range(10)], rtol=1e-5)
    assert opt.clipnorm == 1.0 and isinstance(opt, keras.optimizers.AdamW)
    with pytest.raises(ConfigError, match="train.lr_schedule: a warm-up or decay schedule needs the number"):
        make_optimizer(cfg)
