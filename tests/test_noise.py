"""The observation-noise wrapper: bounds, unbiasedness, seeding, and alpha changes reaching every sub-env."""

import gymnasium as gym
import numpy as np
import pytest

from envs.noise import NoisyObservation, get_noise_alpha, set_noise_alpha


def noisy(alpha, noise="uniform", **kwargs):
    return NoisyObservation(gym.make("l2t-test/Counter-v0"), alpha=alpha, noise=noise, **kwargs)


def rollout(env, steps, seed):
    """Pairs (s, o) of every observation of `steps` steps, resets included."""
    obs, _ = env.reset(seed=seed)
    states, observations = [obs["state"]], [obs["observation"]]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
        states.append(obs["state"])
        observations.append(obs["observation"])
    return np.array(states), np.array(observations)


@pytest.mark.parametrize("alpha", [0.1, 0.4, 1.0])
def test_uniform_noise_is_bounded_relative_and_unbiased(alpha):
    s, o = rollout(noisy(alpha), 20_000, seed=0)
    assert np.all(np.abs(o - s) <= alpha * np.abs(s) + 1e-12)
    # eps_i / |s_i| ~ U[-1, 1]: mean 0 and variance 1/3; check both within 5 standard errors
    u = ((o - s) / (alpha * np.abs(s))).ravel()
    assert abs(u.mean()) < 5 * np.sqrt(1 / 3 / u.size)
    assert abs(u.var() - 1 / 3) < 5 * np.sqrt((1 / 5 - 1 / 9) / u.size)  # Var(u^2) = E[u^4] - E[u^2]^2
    assert np.abs(u).max() > 0.99  # the whole interval is used, not a narrower one


def test_gaussian_noise_has_std_alpha():
    s, o = rollout(noisy(0.3, "gaussian"), 20_000, seed=0)
    d = (o - s).ravel()
    assert abs(d.mean()) < 5 * 0.3 / np.sqrt(d.size)
    assert abs(d.std() - 0.3) < 0.01


def test_alpha_zero_gives_the_clean_state():
    s, o = rollout(noisy(0.0), 500, seed=0)
    np.testing.assert_array_equal(o, s)
    s, o = rollout(noisy(0.0, "gaussian"), 500, seed=0)
    np.testing.assert_array_equal(o, s)


def test_same_seed_same_noise_other_seed_other_noise():
    s1, o1 = rollout(noisy(0.4), 300, seed=7)
    s2, o2 = rollout(noisy(0.4), 300, seed=7)
    s3, o3 = rollout(noisy(0.4), 300, seed=8)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(o1, o2)
    assert not np.allclose(o1 - s1, o3 - s3)


def test_noise_does_not_change_the_env_states():
    """The noise has its own generator: the clean states match those of the same env without noise."""
    s_noisy, _ = rollout(noisy(0.4), 300, seed=3)
    s_clean, _ = rollout(noisy(0.0), 300, seed=3)
    np.testing.assert_array_equal(s_noisy, s_clean)


def test_noisy_mask_leaves_masked_elements_clean():
    s, o = rollout(noisy(0.5, noisy_mask=[True, False, True]), 300, seed=0)
    np.testing.assert_array_equal(o[:, 1], s[:, 1])
    assert np.all(o[:, 0] != s[:, 0])


def test_bad_alpha_and_noise_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        noisy(-0.1)
    with pytest.raises(ValueError, match="noise"):
        noisy(0.1, "laplace")
    env = noisy(0.1)
    with pytest.raises(ValueError, match="alpha"):
        set_noise_alpha(env, float("nan"))


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_alpha_change_reaches_every_sub_env(vector_cls):
    """The authors' curriculum set alpha in the main process only, so their worker processes never saw it.
    Here the change is checked where it matters: in the noise each sub-env produces afterwards."""
    envs = vector_cls([lambda: noisy(0.5) for _ in range(3)])
    try:
        envs.reset(seed=0)

        def max_relative_noise(steps=40):
            rel = np.zeros(envs.num_envs)
            for _ in range(steps):
                obs, *_ = envs.step(envs.action_space.sample())
                rel = np.maximum(rel, (np.abs(obs["observation"] - obs["state"]) / np.abs(obs["state"])).max(1))
            return rel

        assert np.all(max_relative_noise() > 0.25)  # every sub-env starts noisy at 0.5
        set_noise_alpha(envs, 0.0)
        assert get_noise_alpha(envs) == (0.0, 0.0, 0.0)
        assert np.all(max_relative_noise() == 0.0)  # every sub-env, worker processes included, is now clean
        set_noise_alpha(envs, 0.2)
        rel = max_relative_noise()
        assert np.all(rel <= 0.2 + 1e-12) and np.all(rel > 0.1)
    finally:
        envs.close()
