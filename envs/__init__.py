"""Environments and wrappers shared by the L2T scripts.

The top-level scripts import from here and from libraries only; anything two scripts
need that is not part of the algorithm itself (noise models, robot models, terrain)
lives in this package.
"""

from envs.noise import NOISE_TYPES, NoisyObservation, get_noise_alpha, set_noise_alpha

__all__ = ["NOISE_TYPES", "NoisyObservation", "get_noise_alpha", "set_noise_alpha"]
