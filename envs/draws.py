"""Random draws for code written once for numpy (a CPU env's own generator) and torch (a batch on a device).

The batched task code (``envs/digit/task.py``, the terrain curriculum, the observation noise) asks a ``Draws`` object
for numbers instead of calling a generator: ``NumpyDraws(rng)`` wraps a ``numpy.random.Generator`` with exactly the
calls the code made before (so a seeded CPU env draws what it drew), ``TorchDraws(generator)`` draws on the
generator's device. Both return arrays of their own kind, so the code that uses them does not branch.
"""

from __future__ import annotations

import numpy as np


class NumpyDraws:
    """Draws from a ``numpy.random.Generator`` (float64 arrays)."""

    xp = np

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def uniform(self, low, high, shape):
        return self.rng.uniform(low, high, size=shape)

    def integers(self, low, high, shape):
        return self.rng.integers(low, high, size=shape)

    def normal(self, shape):
        return self.rng.standard_normal(size=shape)

    def zeros(self, shape):
        return np.zeros(shape)


class TorchDraws:
    """Draws from a ``torch.Generator`` on its device (float32 tensors)."""

    def __init__(self, generator):
        import torch

        self.xp, self.generator, self.device = torch, generator, generator.device

    def uniform(self, low, high, shape):
        return low + (high - low) * self.xp.rand(shape, generator=self.generator, device=self.device)

    def integers(self, low, high, shape):
        return self.xp.randint(low, high, tuple(np.atleast_1d(shape)), generator=self.generator, device=self.device)

    def normal(self, shape):
        return self.xp.randn(shape, generator=self.generator, device=self.device)

    def zeros(self, shape):
        return self.xp.zeros(shape, device=self.device)


def as_draws(rng):
    """``rng`` as a Draws object: a numpy Generator is wrapped, a Draws object passes through."""
    return NumpyDraws(rng) if isinstance(rng, np.random.Generator) else rng


__all__ = ["NumpyDraws", "TorchDraws", "as_draws"]
