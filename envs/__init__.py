"""Environments and wrappers shared by the L2T scripts.

The top-level scripts import from here and from libraries only; anything two scripts
need that is not part of the algorithm itself (noise models, robot models, terrain)
lives in this package.
"""

import gymnasium as gym

from envs.noise import NOISE_TYPES, NoisyObservation, get_noise_alpha, set_noise_alpha

# Our robot envs, registered lazily (a string entry point imports the module only at gym.make), so that
# `--env-id l2t/Cassie-v1` works in every script without importing MuJoCo models at start-up.
if "l2t/Cassie-v1" not in gym.registry:
    gym.register("l2t/Cassie-v1", entry_point="envs.cassie.env:CassieEnv", max_episode_steps=600)
if "l2t/Digit-v3" not in gym.registry:
    gym.register(
        "l2t/Digit-v3",
        entry_point="envs.digit.env:DigitEnv",
        max_episode_steps=1000,
        vector_entry_point="envs.digit.vector:DigitVectorEnv",
    )
    # v2: the same task with v2's stepping-stone tiles (a trench between the stones and the tile's border)
    gym.register(
        "l2t/Digit-v2",
        entry_point="envs.digit.env:DigitEnv",
        max_episode_steps=1000,
        kwargs=dict(terrain_preset="gentle_v2"),
    )
    # v1: the same robot and physics with v1's reward weights, curriculum rule, terrain preset and initial levels
    gym.register(
        "l2t/Digit-v1",
        entry_point="envs.digit.env:DigitEnv",
        max_episode_steps=1000,
        kwargs=dict(reward_weights="v1", curriculum="isaac", terrain_preset="isaac", max_init_level=5),
    )

__all__ = ["NOISE_TYPES", "NoisyObservation", "get_noise_alpha", "set_noise_alpha"]
