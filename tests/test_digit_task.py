"""The batched task of ``envs/digit/task.py``: one code path for numpy (MuJoCo on the CPU) and torch (Warp)."""

import dataclasses

import numpy as np
import pytest
import torch

from envs.digit import task
from envs.digit.env import DigitEnv, step_task
from envs.digit.rewards import REWARD_WEIGHTS, reward_terms


def _states(n=3, steps=12, seed=0):
    """n rough-terrain envs driven by random actions: their PhysicsStates and task inputs at the last step."""
    envs = [DigitEnv(terrain="rough", terrain_col=c, randomization_scale=0.5) for c in range(n)]
    rng = np.random.default_rng(seed)
    for i, e in enumerate(envs):
        e.reset(seed=seed + i)
        for _ in range(steps):
            e._physics_step(rng.uniform(-0.3, 0.3, 20))
    return envs


def _task_outputs(envs, to):
    """observe -> terminated -> reward_inputs -> reward_terms for a batch, with arrays converted by ``to``."""
    state = task.stack_states([e._physics_state() for e in envs])
    state = task.PhysicsState(**{f: to(getattr(state, f)) for f in task.PhysicsState.__dataclass_fields__})
    idx = envs[0]._idx if to is np.asarray else envs[0]._idx.as_torch("cpu", torch.float64)

    def ground(xy):
        g = envs[0]._ground_batch(np.asarray(xy))
        return to(g)

    stack = lambda name: to(np.stack([getattr(e, name) for e in envs]))  # noqa: E731
    steps = to(np.array([float(e._t) for e in envs]))
    obs, extra = task.observe(
        state, idx, steps, stack("_command"), stack("_last_action"), stack("_origin"), stack("_env_params"), ground
    )
    done = task.terminated(state, obs, extra)
    air, contact = task.update_foot_timers(state.foot_force, stack("_air_time"), stack("_contact_time"))
    inputs = task.reward_inputs(
        state,
        idx,
        obs,
        extra,
        stack("_last_action") * 0.5,
        stack("_last_action"),
        stack("_command"),
        air,
        contact,
        done,
        steps * 0.02,
    )
    terms = reward_terms(inputs)
    return obs, done, np.stack([np.asarray(terms[k]) for k in REWARD_WEIGHTS], -1)


def test_torch_and_numpy_compute_the_same_task_from_the_same_state():
    envs = _states()
    obs_np, done_np, terms_np = _task_outputs(envs, np.asarray)
    obs_t, done_t, terms_t = _task_outputs(envs, lambda a: torch.as_tensor(np.asarray(a)))
    assert obs_np.shape == (3, task.OBS_DIM) and terms_np.shape == (3, len(REWARD_WEIGHTS))
    assert isinstance(obs_t, torch.Tensor)
    np.testing.assert_allclose(obs_t.numpy(), obs_np, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(done_t.numpy(), done_np)
    np.testing.assert_allclose(terms_t, terms_np, rtol=1e-10, atol=1e-14)
    assert (terms_np != 0).any(0).sum() >= 15  # most terms are live, so the comparison covers them


def test_a_batch_gives_each_env_what_it_gives_alone():
    envs = _states()
    obs, done, terms = _task_outputs(envs, np.asarray)
    for k, e in enumerate(envs):
        o, d, t = _task_outputs([e], np.asarray)
        np.testing.assert_array_equal(o[0], obs[k])
        np.testing.assert_allclose(t[0], terms[k], rtol=1e-13, atol=1e-18)  # numpy reductions: ULPs
    assert not np.allclose(obs[0], obs[1])  # different envs, different rows


def test_step_task_on_a_block_matches_stepping_each_env_alone():
    def run(batched):
        envs = [DigitEnv(terrain="flat", reward_weights=w) for w in ("v1", "paper", "v1")]
        for i, e in enumerate(envs):
            e.reset(seed=10 + i)
        rng = np.random.default_rng(3)
        out = []
        for _ in range(30):
            actions = rng.uniform(-0.2, 0.2, (3, 20))
            if batched:
                for e, a in zip(envs, actions):
                    e._physics_step(a)
                results = step_task(envs)
            else:
                results = [e.step(a) for e, a in zip(envs, actions)]
            out.append([(r[0], r[1], r[2], r[3], r[4]["reward_terms"]) for r in results])
            for e, r in zip(envs, results):
                if r[2] or r[3]:
                    e.reset()
        return out

    alone, block = run(False), run(True)
    for step_a, step_b in zip(alone, block):
        for (oa, ra, ta, ua, terms_a), (ob, rb, tb, ub, terms_b) in zip(step_a, step_b):
            np.testing.assert_array_equal(oa, ob)
            assert ra == pytest.approx(rb, rel=1e-12, abs=1e-15) and (ta, ua) == (tb, ub)
            assert terms_a.keys() == terms_b.keys()
            for name in terms_a:  # the mixed block applied each env's own weight set (v1, paper, v1): a wrong
                # weight set in the block would break this equality with the envs stepped alone
                assert terms_a[name] == pytest.approx(terms_b[name], rel=1e-12, abs=1e-15), name


def test_quat_to_mat_matches_mujoco():
    import mujoco

    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ref = np.empty((5, 9))
    for i in range(5):
        mujoco.mju_quat2Mat(ref[i], q[i])
    np.testing.assert_allclose(task.quat_to_mat(q), ref.reshape(5, 3, 3), atol=1e-15)
    np.testing.assert_allclose(task.quat_to_mat(torch.as_tensor(q)).numpy(), ref.reshape(5, 3, 3), atol=1e-15)


def test_physics_state_fields_are_all_batched():
    envs = _states(n=2, steps=3)
    state = task.stack_states([e._physics_state() for e in envs])
    for f in dataclasses.fields(state):
        assert len(getattr(state, f.name)) == 2, f.name
