"""Learning-rate schedules of the transformer fine-tuning recipe.

:class:`LinearWarmupDecay` is the schedule of BERT (Devlin et al. 2019) and of Hugging Face's
``get_linear_schedule_with_warmup``: with peak rate ``eta``, ``W`` warm-up steps and ``T``
steps in all, the rate of optimizer step ``s`` (0-based) is

    eta * s / max(1, W)                         for s < W
    eta * max(0, (T - s) / max(1, T - W))       for s >= W   (``decay=True``)
    eta                                         for s >= W   (``decay=False``)

Example:
    >>> lr = LinearWarmupDecay(2e-5, warmup_steps=10, total_steps=100)
    >>> float(lr(5)), float(lr(10)), float(lr(55))   # 1e-05, 2e-05, 1e-05
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mtlzoo")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then linear decay to 0 at ``total_steps``
    (or constant with ``decay=False``)."""

    def __init__(self, peak, warmup_steps, total_steps, decay=True):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.decay = bool(decay)

    def __call__(self, step):
        s = ops.cast(step, "float32")
        w = float(max(1, self.warmup_steps))
        warm = s / w
        if self.decay:
            after = ops.maximum(
                0.0, (float(self.total_steps) - s) / float(max(1, self.total_steps - self.warmup_steps))
            )
        else:
            after = ops.ones_like(s)
        factor = ops.where(s < float(self.warmup_steps), warm, after)
        return self.peak * factor

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "decay": self.decay,
        }
