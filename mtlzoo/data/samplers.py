"""Task samplers: which task each training step draws its batch from (interleaved mode).

Each sampler gives a distribution p_s over the k tasks at step s; the task of
step s is drawn with one uniform number u_s from a Philox stream keyed by the
seed, so the whole sequence is reproducible by seed and resumable at any step
(no sampler state besides the step counter).

* ``uniform``: p_i = 1/k.
* ``proportional``: p_i ∝ n_i^alpha (alpha = 1: by data size).
* ``temperature``: p_i ∝ n_i^(1/T) (T = 1 proportional, T -> inf uniform).
* ``annealed``: p_i ∝ n_i^alpha_s with alpha_s = 1 - 0.8 s / S decaying over the
  S training steps (Stickland & Murray 2019, "BERT and PALs", section 4).
* ``round_robin``: task s mod k, deterministic.

Example:
    >>> SAMPLERS.get("temperature")({"temperature": 2.0}).probabilities([100, 400], 0, 10)
    array([0.33333333, 0.66666667])
"""

import abc

import numpy as np

from mtlzoo import options
from mtlzoo.registry import Registry

SAMPLERS = Registry("sampler")


class Sampler(abc.ABC):
    """Base: ``probabilities(sizes, step, total_steps) -> p`` and ``choices(...)``."""

    schema = {}

    def __init__(self, opts=None):
        self.opts = dict(opts or {})

    @abc.abstractmethod
    def probabilities(self, sizes, step, total_steps):
        """The distribution over tasks at ``step`` given the task sizes."""

    def choices(self, sizes, start, stop, total_steps, seed):
        """Task index for each step in ``[start, stop)``; depends only on (seed, step)."""
        steps = np.arange(start, stop)
        u = np.random.Generator(np.random.Philox(key=seed + 0x5EED)).random(stop)[start:stop]
        p = (
            np.stack([self.probabilities(sizes, s, total_steps) for s in steps])
            if len(steps)
            else np.zeros((0, len(sizes)))
        )
        cdf = np.cumsum(p, axis=1)
        cdf[:, -1] = 1.0
        return (u[:, None] > cdf).sum(axis=1).astype(np.int64)


def _power(sizes, alpha):
    w = np.asarray(sizes, dtype=np.float64) ** alpha
    return w / w.sum()


@SAMPLERS.register("uniform")
class Uniform(Sampler):
    def probabilities(self, sizes, step, total_steps):
        return np.full(len(sizes), 1.0 / len(sizes))


@SAMPLERS.register("proportional")
class Proportional(Sampler):
    schema = options.SAMPLERS["proportional"]

    @property
    def exponent(self):
        """The power of the task sizes: p_i ∝ n_i^alpha."""
        return self.opts.get("alpha", 1.0)

    def probabilities(self, sizes, step, total_steps):
        return _power(sizes, self.exponent)


@SAMPLERS.register("temperature")
class Temperature(Sampler):
    schema = options.SAMPLERS["temperature"]

    @property
    def exponent(self):
        """The power of the task sizes: p_i ∝ n_i^(1/T)."""
        return 1.0 / self.opts.get("temperature", 2.0)

    def probabilities(self, sizes, step, total_steps):
        return _power(sizes, self.exponent)


@SAMPLERS.register("annealed")
class Annealed(Sampler):
    def probabilities(self, sizes, step, total_steps):
        return _power(sizes, 1.0 - 0.8 * step / max(total_steps, 1))


@SAMPLERS.register("round_robin")
class RoundRobin(Sampler):
    def probabilities(self, sizes, step, total_steps):
        p = np.zeros(len(sizes))
        p[step % len(sizes)] = 1.0
        return p

    def choices(self, sizes, start, stop, total_steps, seed):
        return np.arange(start, stop, dtype=np.int64) % len(sizes)
