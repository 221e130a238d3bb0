"""Gymnasium's own env checker on our robot envs, bare and inside NoisyObservation (a proper gymnasium wrapper)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the l2t/ envs)
from envs.noise import NoisyObservation

ROBOT_IDS = sorted(i for i in gym.registry if i.startswith(("l2t/Cassie", "l2t/Digit")))


def test_both_robots_are_registered():
    assert any("Cassie" in i for i in ROBOT_IDS) and any("Digit" in i for i in ROBOT_IDS)


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "noisy"])
@pytest.mark.parametrize("env_id", ROBOT_IDS)
def test_check_env_passes(env_id, wrapped):
    env = gym.make(env_id, disable_env_checker=True).unwrapped
    if wrapped:
        env = NoisyObservation(env, 0.1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # unbounded observations are what we mean
        warnings.filterwarnings("ignore", message=".*different from the unwrapped.*")  # checking a wrapper on purpose
        check_env(env, skip_render_check=True)  # raises on any violation of the Env API (spaces, seeding, dtypes)
    env.close()


def test_noisy_wrapper_records_its_arguments():
    """RecordConstructorArgs: the wrapper's arguments are kept, so gymnasium can rebuild it from its spec."""
    env = NoisyObservation(gym.make("l2t-test/Counter-v0"), 0.3, noise="gaussian", noisy_mask=np.array([1, 0, 1], bool))
    assert env._saved_kwargs["alpha"] == 0.3 and env._saved_kwargs["noise"] == "gaussian"
    assert env.spec.additional_wrappers[-1].name == "NoisyObservation"
