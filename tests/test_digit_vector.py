"""Checks of the vectorised Digit env (envs/digit/vector.py): spaces, SAME_STEP autoreset and episode statistics,
determinism across worker counts, noise control through the workers, argument errors and closing.

Flat ground and short episodes keep it fast; the rough-terrain case uses the small 3 x 7 grid of test_digit_env."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers l2t/Digit-v3 with its vector entry point)
from envs import NoisyObservation, get_noise_alpha, set_noise_alpha
from envs.digit.env import (
    DIGIT_NOISY_MASK,
    OBS_DIM,
    OBS_SLICES,
    POLICY_DT,
    REWARD_WEIGHTS,
    STUDENT_DIM,
    DigitEnv,
    GAIT_PERIOD,
)
from envs.digit.vector import EPISODE_KEYS, DigitVectorEnv

FLAT5 = {"terrain": "flat", "max_episode_steps": 5}
SMALL_ROUGH = {"terrain_rows": 3, "terrain_cols": 7, "max_episode_steps": 6}


def _actions(rng, n, scale=0.3):
    return scale * rng.uniform(-1.0, 1.0, size=(n, 20))


def test_spaces_and_dtypes():
    envs_ = DigitVectorEnv(num_envs=3, num_workers=0, seed=0, alpha=0.1, env_kwargs={"terrain": "flat"})
    try:
        box = gym.spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float32)
        assert envs_.single_observation_space == gym.spaces.Dict({"state": box, "observation": box})
        assert envs_.observation_space["state"].shape == (3, OBS_DIM)
        assert envs_.observation_space["observation"].dtype == np.float32
        assert envs_.single_action_space == gym.spaces.Box(-1.0, 1.0, shape=(20,), dtype=np.float32)
        assert envs_.action_space.shape == (3, 20) and envs_.action_space.dtype == np.float32
        assert envs_.num_envs == 3
        assert envs_.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
        obs, infos = envs_.reset()
        assert set(obs) == {"state", "observation"} and isinstance(infos, dict)
        for key in obs:
            assert obs[key].dtype == np.float32 and obs[key].shape == (3, OBS_DIM)
        assert obs in envs_.observation_space
        obs, rew, term, trunc, infos = envs_.step(np.zeros((3, 20), dtype=np.float32))
        assert obs in envs_.observation_space
        assert rew.dtype == np.float32 and rew.shape == (3,)
        assert term.dtype == np.bool_ and trunc.dtype == np.bool_ and term.shape == trunc.shape == (3,)
        assert infos == {}  # nothing ended
        # the student's part is the first STUDENT_DIM columns; the noise only touches its sensor terms
        assert np.array_equal(obs["observation"][:, ~DIGIT_NOISY_MASK], obs["state"][:, ~DIGIT_NOISY_MASK])
        assert not np.array_equal(obs["observation"][:, :STUDENT_DIM], obs["state"][:, :STUDENT_DIM])
        with pytest.raises(ValueError):
            envs_.step(np.zeros((2, 20)))
    finally:
        envs_.close()


@pytest.mark.parametrize("num_workers", [0, 1])
def test_same_step_autoreset_final_obs_and_episode_statistics(num_workers):
    """Zero action on flat ground stands (no termination), so both envs time out at step 5 (and 10)."""
    n = 2
    envs_ = DigitVectorEnv(num_envs=n, num_workers=num_workers, seed=7, alpha=0.2, env_kwargs=FLAT5)
    # the same sub-envs by hand, as the docstring defines them (seed + i at the first reset)
    refs = [NoisyObservation(DigitEnv(**FLAT5), 0.2, "uniform", noisy_mask=DIGIT_NOISY_MASK) for _ in range(n)]
    try:
        obs, _ = envs_.reset()
        for i, ref in enumerate(refs):
            ref_obs, _ = ref.reset(seed=7 + i)
            assert np.array_equal(obs["state"][i], ref_obs["state"].astype(np.float32))
            assert np.array_equal(obs["observation"][i], ref_obs["observation"].astype(np.float32))
        clock = OBS_SLICES["clock"]
        rewards = np.zeros(n)
        for k in range(1, 11):
            obs, rew, term, trunc, infos = envs_.step(np.zeros((n, 20)))
            rewards += rew
            ref_steps = [ref.step(np.zeros(20)) for ref in refs]
            assert not term.any()
            if k % 5:
                assert not trunc.any() and "final_obs" not in infos and "episode" not in infos
                for i, (ref_obs, ref_rew, *_rest) in enumerate(ref_steps):
                    assert np.array_equal(obs["state"][i], ref_obs["state"].astype(np.float32))
                    assert rew[i] == np.float32(ref_rew)
                continue
            assert trunc.all()
            assert infos["_final_obs"].dtype == np.bool_ and infos["_final_obs"].all()
            assert infos["_episode"].all()
            final = infos["final_obs"]
            assert set(final) == {"state", "observation"}
            for i, (ref_obs, *_rest) in enumerate(ref_steps):
                # final_obs is the last observation of the ended episode ...
                assert np.array_equal(final["state"][i], ref_obs["state"].astype(np.float32))
                assert np.array_equal(final["observation"][i], ref_obs["observation"].astype(np.float32))
                ref_obs, _ = refs[i].reset()  # ... and the returned row is the next episode's first one
                assert np.array_equal(obs["state"][i], ref_obs["state"].astype(np.float32))
            np.testing.assert_allclose(
                final["state"][:, clock],
                np.tile(
                    [np.sin(2 * np.pi * 5 * POLICY_DT / GAIT_PERIOD), np.cos(2 * np.pi * 5 * POLICY_DT / GAIT_PERIOD)],
                    (n, 1),
                ),
                atol=1e-6,
            )
            np.testing.assert_array_equal(obs["state"][:, clock], np.tile([0.0, 1.0], (n, 1)))  # t = 0
            ep = infos["episode"]
            assert set(ep) == set(EPISODE_KEYS) and all(v.shape == (n,) for v in ep.values())
            np.testing.assert_allclose(ep["r"], rewards, rtol=1e-5)  # rewards came back as float32
            np.testing.assert_array_equal(ep["l"], [5, 5])
            np.testing.assert_array_equal(ep["success"], [1.0, 1.0])
            np.testing.assert_array_equal(ep["terrain_level"], [0.0, 0.0])  # flat: level 0
            # from the tile origin: the spawn offset (+-0.5 m per axis, diagonal 0.71 m) plus 5 steps of standing
            assert np.all(ep["distance_walked"] >= 0) and np.all(ep["distance_walked"] < 0.5 * np.sqrt(2) + 0.05)
            terms = np.sum([ep[f"reward/{t}"] for t in REWARD_WEIGHTS], axis=0)
            np.testing.assert_allclose(terms, ep["r"], rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(ep["reward/termination"], [0.0, 0.0])  # a time-out is not a fall
            assert np.all(ep["reward/alive"] > 0)
            rewards[:] = 0.0
    finally:
        envs_.close()
        for ref in refs:
            ref.close()


def test_a_fall_is_logged_as_a_failure():
    """Full-scale actions throw the robot over within a second; the episode then ends terminated, success 0,
    with the termination penalty in its terms; the other env's row is masked out if it did not end."""
    envs_ = DigitVectorEnv(num_envs=2, num_workers=0, seed=3, env_kwargs={"terrain": "flat", "randomize": False})
    try:
        envs_.reset()
        actions = np.zeros((2, 20))
        actions[0] = 1.0  # env 0 flails, env 1 stands
        for k in range(200):
            _, rew, term, trunc, infos = envs_.step(actions)
            if term[0]:
                break
        assert term[0] and not trunc[0] and not term[1] and not trunc[1]
        assert infos["_episode"].tolist() == [True, False] and infos["_final_obs"].tolist() == [True, False]
        ep = infos["episode"]
        assert ep["success"][0] == 0.0 and ep["l"][0] == k + 1
        assert ep["reward/termination"][0] == pytest.approx(REWARD_WEIGHTS["termination"] * POLICY_DT)
        assert rew[0] < REWARD_WEIGHTS["termination"] * POLICY_DT / 2
    finally:
        envs_.close()


@pytest.mark.parametrize("env_kwargs", [FLAT5, SMALL_ROUGH], ids=["flat", "rough"])
def test_same_seed_same_outputs_for_any_number_of_workers(env_kwargs):
    """4 envs, 14 steps of random actions with autoresets in between (episodes of 5-6 steps)."""
    runs = []
    for num_workers in (0, 1, 2):
        envs_ = DigitVectorEnv(num_envs=4, num_workers=num_workers, seed=11, alpha=0.3, env_kwargs=env_kwargs)
        rng = np.random.default_rng(0)
        try:
            out = [envs_.reset()[0]]
            for _ in range(14):
                obs, rew, term, trunc, infos = envs_.step(_actions(rng, 4))
                out.append((obs, rew, term, trunc, infos))
        finally:
            envs_.close()
        runs.append(out)
    reference = runs[0]
    assert any("episode" in step[4] for step in reference[1:])  # the autoreset path was exercised
    for other in runs[1:]:
        for a, b in zip(reference, other):
            _assert_tree_equal(a, b)
    # and a different seed gives a different run
    envs_ = DigitVectorEnv(num_envs=4, num_workers=0, seed=12, alpha=0.3, env_kwargs=env_kwargs)
    try:
        assert not np.array_equal(envs_.reset()[0]["state"], reference[0]["state"])
    finally:
        envs_.close()


def _assert_tree_equal(a, b):
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            _assert_tree_equal(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_tree_equal(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_reset_with_seed_restarts_and_reset_without_keeps_the_streams():
    envs_ = DigitVectorEnv(num_envs=2, num_workers=1, seed=5, env_kwargs={"terrain": "flat"})
    try:
        first, _ = envs_.reset()
        assert envs_.get_attr("np_random_seed") == (5, 6)  # sub-env i got seed + i, in env order
        second, _ = envs_.reset()  # streams continue: a new random start
        assert not np.array_equal(first["state"], second["state"])
        again, _ = envs_.reset(seed=5)
        np.testing.assert_array_equal(again["state"], first["state"])
        envs_.reset(seed=20)
        assert envs_.get_attr("np_random_seed") == (20, 21)
    finally:
        envs_.close()


def test_randomization_scale_reaches_every_sub_env_from_the_next_reset():
    envs_ = DigitVectorEnv(num_envs=4, num_workers=2, seed=0, env_kwargs={"terrain": "flat"})
    params = OBS_SLICES["env_params"]
    try:
        obs, _ = envs_.reset()
        assert envs_.get_attr("randomization_scale") == (1.0,) * 4
        assert np.all(obs["state"][:, params][:, 1] != 0)  # added mass drawn in every env
        assert envs_.call("set_randomization_scale", 0.0) == (None,) * 4
        assert envs_.get_attr("randomization_scale") == (0.0,) * 4
        obs, *_ = envs_.step(np.zeros((4, 20)))
        assert np.all(obs["state"][:, params][:, 1] != 0)  # the running episodes keep their draws
        obs, _ = envs_.reset()
        np.testing.assert_allclose(obs["state"][:, params][:, 0], 0.7, rtol=1e-6)  # nominal friction ...
        np.testing.assert_array_equal(obs["state"][:, params][:, 1:], 0.0)  # ... and nothing else randomised
        with pytest.raises(RuntimeError, match="randomization_scale"):
            envs_.call("set_randomization_scale", 1.5)
    finally:
        envs_.close()


def test_noise_alpha_reaches_every_sub_env_in_every_worker():
    envs_ = DigitVectorEnv(num_envs=4, num_workers=2, seed=0, alpha=0.25, env_kwargs={"terrain": "flat"})
    try:
        envs_.reset()
        assert get_noise_alpha(envs_) == (0.25,) * 4
        set_noise_alpha(envs_, 0.0)
        assert get_noise_alpha(envs_) == (0.0,) * 4
        obs, *_ = envs_.step(np.zeros((4, 20)))
        np.testing.assert_array_equal(obs["observation"], obs["state"])  # alpha 0: no noise in any env
        set_noise_alpha(envs_, 0.5)
        obs, *_ = envs_.step(np.zeros((4, 20)))
        noisy = DIGIT_NOISY_MASK
        diff = np.abs(obs["observation"] - obs["state"])
        assert np.all(diff[:, noisy].max(axis=1) > 0)  # every env (both workers) noises again ...
        assert np.all(diff[:, noisy] <= 0.5 * np.abs(obs["state"][:, noisy]) * (1 + 1e-5) + 1e-7)  # ... at 0.5
        envs_.set_attr("noise_alpha", [0.1, 0.2, 0.3, 0.4])  # per-env values, in env order
        assert get_noise_alpha(envs_) == (0.1, 0.2, 0.3, 0.4)
        assert envs_.call("get_wrapper_attr", "terrain_kind") == ("flat",) * 4
        with pytest.raises(RuntimeError, match="no_such_attribute"):  # a worker's error comes back
            envs_.get_attr("no_such_attribute")
        assert get_noise_alpha(envs_) == (0.1, 0.2, 0.3, 0.4)  # and the workers still serve
    finally:
        envs_.close()


@pytest.mark.parametrize("num_envs, num_workers", [(3, 2), (4, 3), (0, 1), (2, -1)])
def test_bad_worker_split_raises(num_envs, num_workers):
    with pytest.raises(ValueError, match=f"num_envs={num_envs}.*num_workers={num_workers}"):
        DigitVectorEnv(num_envs=num_envs, num_workers=num_workers, env_kwargs={"terrain": "flat"})


def test_close_is_idempotent_and_stops_the_workers():
    envs_ = DigitVectorEnv(num_envs=2, num_workers=2, seed=0, env_kwargs={"terrain": "flat"})
    envs_.reset()
    processes = list(envs_._processes)
    assert all(p.is_alive() for p in processes)
    envs_.close()
    envs_.close()
    assert envs_.closed and not any(p.is_alive() for p in processes)
    with pytest.raises(RuntimeError, match="closed"):
        envs_.step(np.zeros((2, 20)))


def test_make_vec_builds_it():
    envs_ = gym.make_vec("l2t/Digit-v3", num_envs=2, num_workers=0, seed=0, env_kwargs={"terrain": "flat"})
    try:
        assert isinstance(envs_, DigitVectorEnv) and envs_.num_envs == 2
        obs, _ = envs_.reset()
        assert obs["state"].shape == (2, OBS_DIM)
    finally:
        envs_.close()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_reset_with_per_env_terrain_levels_puts_each_env_on_its_own(num_workers):
    """options={"terrain_level": levels} (one per env, through the workers) starts env i on levels[i]; the wrong
    count is refused."""
    venv = DigitVectorEnv(num_envs=4, num_workers=num_workers, seed=0, env_kwargs=SMALL_ROUGH)
    try:
        levels = [2, 0, 1, 2]
        venv.reset(seed=3, options={"terrain_level": levels})
        assert list(venv.get_attr("terrain_level")) == levels
        venv.reset(seed=3)  # without the option: a fresh curriculum (U{0..2} on 3 rows), not the levels above
        fresh = list(venv.get_attr("terrain_level"))
        venv.reset(seed=3, options={"terrain_level": fresh[::-1]})
        assert list(venv.get_attr("terrain_level")) == fresh[::-1]
        with pytest.raises(ValueError, match="got 3 terrain levels for num_envs=4"):
            venv.reset(options={"terrain_level": [0, 1, 2]})
    finally:
        venv.close()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_fixed_terrain_columns_keep_each_env_on_its_type_as_isaac_lab_spreads_them(num_workers):
    """terrain_columns="fixed": env i plays column floor(i * cols / num_envs) in every episode (through the
    workers too); "random" (the default) lets each episode draw its column; flat ground has no columns."""
    from envs.digit.vector import column_assignment

    assert column_assignment(4, "fixed", SMALL_ROUGH) == [{"terrain_col": c} for c in (0, 1, 3, 5)]  # 7 columns
    assert column_assignment(64, "fixed", {})[-1] == {"terrain_col": 19}  # the default 20 columns
    assert column_assignment(4, "random", SMALL_ROUGH) == [{}] * 4 == column_assignment(4, "fixed", {"terrain": "flat"})
    with pytest.raises(ValueError, match="terrain_columns must be 'random' or 'fixed'"):
        column_assignment(4, "rows", SMALL_ROUGH)
    venv = DigitVectorEnv(num_envs=4, num_workers=num_workers, seed=0, env_kwargs=SMALL_ROUGH, terrain_columns="fixed")
    try:
        venv.reset(seed=1)
        seen = set()
        for _ in range(20):  # episodes of 6 steps: three or four each
            _, _, _, _, infos = venv.step(np.zeros(venv.action_space.shape, dtype=np.float32))
            if "episode" in infos:
                done = infos["_episode"]
                seen |= {(int(i), int(c)) for i, c in zip(np.flatnonzero(done), infos["episode"]["terrain_col"][done])}
        assert seen == {(0, 0), (1, 1), (2, 3), (3, 5)}
    finally:
        venv.close()
