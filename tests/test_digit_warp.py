"""The Warp backend (``envs/digit/warp_backend.py``) on warp's CPU device: parity with MuJoCo on the CPU through the
one task of ``envs/digit/task.py``, world masks, per-world randomisation, terrain access, buffer overflows; and, with a
CUDA-free stand-in for torch and warp, the stream its graphs are captured on.

Warp compiles its kernels at the first step on a machine (~60 s on this project's 2-core machine, then cached in
``~/.cache/warp``): the simulators are session fixtures (``tests/conftest.py``), so that cost is paid once.
"""

import contextlib
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from envs.digit import task
from envs.digit.env import DigitEnv
from envs.digit.rewards import REWARD_WEIGHTS, reward_terms

import mujoco_warp  # noqa: E402,F401  (pinned in requirements.txt: a missing or broken install fails, never skips)

F32 = torch.float32


def _rows(x, n):
    """numpy (...) -> torch (n, ...) float32 copies of one env's array."""
    return torch.as_tensor(np.tile(np.asarray(x, dtype=np.float64), (n,) + (1,) * np.ndim(x)), dtype=F32)


def _warp_task(sim, envs, last_actions, actions, air, contact):
    """Observation, termination and weighted Table II terms of every world from the Warp state, with the task state
    (time, command, origin, env params) of the CPU env of the same row and the foot timers before the step."""
    st = sim.state()
    air, contact = task.update_foot_timers(
        st.foot_force, torch.as_tensor(air, dtype=F32), torch.as_tensor(contact, dtype=F32)
    )
    stack = lambda name: torch.as_tensor(np.stack([getattr(e, name) for e in envs]), dtype=F32)  # noqa: E731
    steps = torch.tensor([float(e._t) for e in envs])
    obs, extra = task.observe(
        st,
        sim.idx,
        steps,
        stack("_command"),
        torch.as_tensor(last_actions, dtype=F32),
        stack("_origin"),
        stack("_env_params"),
        sim.ground_height,
    )
    done = task.terminated(st, obs, extra)
    inputs = task.reward_inputs(
        st,
        sim.idx,
        obs,
        extra,
        torch.as_tensor(actions, dtype=F32),
        torch.as_tensor(last_actions, dtype=F32),
        stack("_command"),
        air,
        contact,
        done,
        steps * 0.02,
    )
    terms = reward_terms(inputs, envs[0].reward_weights)  # the CPU env's weights (its default set)
    return obs.double().numpy(), done.numpy(), np.stack([terms[k].double().numpy() for k in REWARD_WEIGHTS], -1)


def _copy_into(sim, envs):
    n = sim.num_worlds
    qpos = torch.as_tensor(np.stack([e.data.qpos for e in envs]), dtype=F32)
    qvel = torch.as_tensor(np.stack([e.data.qvel for e in envs]), dtype=F32)
    ctrl = torch.as_tensor(np.stack([e.data.ctrl for e in envs]), dtype=F32)
    sim.set_state(torch.ones(n, dtype=torch.bool), qpos, qvel, ctrl)


# Tolerances of the flat-ground parity, per observation slice, after 5 control periods (50 physics steps) from the
# same state: float32 against float64 physics. Measured maxima on this machine (2 worlds, actions U(-0.2, 0.2)):
# positions and orientation ~1e-5, velocities ~3e-4 (the passive toe joints' rad/s), so the bounds are ~10x.
OBS_TOL = {
    "joint_vel": 5e-3,
    "base_lin_vel": 2e-3,
    "base_ang_vel": 2e-3,
    "base_lin_vel_w": 2e-3,
    "base_ang_vel_w": 2e-3,
}
OBS_TOL_DEFAULT = 2e-4


def test_flat_ground_parity_with_mujoco_on_the_cpu(warp_flat_sim):
    sim = warp_flat_sim
    n = sim.num_worlds
    envs = [DigitEnv(terrain="flat", randomize=False) for _ in range(n)]
    for i, e in enumerate(envs):
        e.reset(seed=100 + i)
    sim.reset(torch.ones(n, dtype=torch.bool))
    _copy_into(sim, envs)
    rng = np.random.default_rng(0)
    worst = {}
    for step in range(5):  # 0.1 s
        actions = rng.uniform(-0.2, 0.2, (n, 20))
        last = np.stack([e._last_action for e in envs])
        air, contact = np.stack([e._air_time for e in envs]), np.stack([e._contact_time for e in envs])
        cpu = [e.step(a) for e, a in zip(envs, actions)]
        sim.step(torch.as_tensor(np.stack([e.data.ctrl for e in envs]), dtype=F32))
        obs, done, terms = _warp_task(sim, envs, last, actions, air, contact)
        cpu_obs = np.stack([c[0] for c in cpu])
        for name, sl in task.OBS_SLICES.items():
            err = np.abs(obs[:, sl] - cpu_obs[:, sl]).max()
            worst[name] = max(worst.get(name, 0.0), err)
            assert err <= OBS_TOL.get(name, OBS_TOL_DEFAULT), (step, name, err)
        assert done.tolist() == [c[2] for c in cpu]
        cpu_terms = np.array([[c[4]["reward_terms"][k] for k in REWARD_WEIGHTS] for c in cpu])
        # each weighted term within 2 % of the CPU's or 2e-6 (a 50 Hz term of 1e-4 per second)
        np.testing.assert_allclose(terms, cpu_terms, rtol=0.02, atol=2e-6, err_msg=f"step {step}")
        assert np.array([c[4]["foot_contact"] for c in cpu]).tolist() == (sim.state().foot_force.numpy() > 1.0).tolist()
    assert worst["joint_pos"] < 1e-4 and worst["base_pos_w"] < 1e-4
    # (the Warp model runs without MuJoCo's sleep flag; the velocity tolerances above hold only because the control
    # period refreshes com_vel after each step, see envs/digit/warp_backend.py)
    import mujoco

    assert not sim.mjm.opt.enableflags & int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    sim.check_overflow()  # no flag raised
    assert sim.usage()["rows"] < sim.njmax


def test_reset_and_set_state_touch_only_the_masked_worlds(warp_flat_sim):
    sim = warp_flat_sim
    n = sim.num_worlds
    env = DigitEnv(terrain="flat", randomize=False)
    env.reset(seed=0)
    sim.reset(torch.ones(n, dtype=torch.bool))
    _copy_into(sim, [env] * n)
    for _ in range(3):
        sim.step()
    before = sim.qpos.clone()
    mask = torch.zeros(n, dtype=torch.bool)
    mask[0] = True
    sim.reset(mask)
    assert torch.equal(sim.qpos[1:], before[1:])  # untouched
    assert torch.allclose(sim.qpos[0], torch.as_tensor(sim.mjm.qpos0, dtype=F32))  # back to the model's qpos0
    assert float(sim.qvel[0].abs().max()) == 0.0
    target = before.clone()
    target[:, 2] += 0.25
    mask = torch.zeros(n, dtype=torch.bool)
    mask[n - 1] = True
    sim.set_state(mask, target, sim.qvel.clone())
    assert float(sim.qpos[n - 1, 2]) == pytest.approx(float(before[n - 1, 2]) + 0.25, abs=1e-6)
    assert torch.equal(sim.qpos[1 : n - 1], before[1 : n - 1])


def test_per_world_randomisation_lands_in_its_world(warp_flat_sim):
    """Each world's parameters reach its own physics: one period from the same standing state, every world matches
    a CPU MuJoCo run with that world's friction, added mass and gravity (and so not the others')."""
    import mujoco

    sim = warp_flat_sim
    n = sim.num_worlds
    env = DigitEnv(terrain="flat", randomize=False)
    env.reset(seed=0)
    friction = torch.tensor([0.5, 0.9, 1.0][:n])
    added = torch.tensor([5.0, -4.0, 0.0][:n])
    dg = torch.zeros(n, 3)
    dg[:, 2] = torch.tensor([0.5, -0.5, 0.0][:n])
    mask = torch.tensor([True, True, False][:n])
    sim.set_params(mask, friction, added, dg)
    try:
        assert torch.equal(sim.body_mass[~mask], sim.nominal["body_mass"].expand(int((~mask).sum()), -1))
        ground = sim.geom_friction[:, sim.ground_geoms, 0]  # written by the masked kernel
        assert torch.equal(ground[mask], friction[mask, None].expand(-1, ground.shape[1]))
        assert torch.equal(
            ground[~mask], sim.nominal["geom_friction"][sim.ground_geoms, 0].expand(int((~mask).sum()), -1)
        )
        sim.reset(torch.ones(n, dtype=torch.bool))
        _copy_into(sim, [env] * n)
        sim.step()
        sim_qpos = sim.qpos.double().numpy()
        finals = []
        for w in range(n):  # the CPU model with world w's parameters
            m = env.model
            saved = (m.pair_friction.copy(), m.geom_friction.copy(), m.body_mass.copy(), m.opt.gravity.copy())
            try:
                if mask[w]:
                    m.pair_friction[env._ground_pairs, :2] = float(friction[w])
                    m.geom_friction[env._ground_geoms, 0] = float(friction[w])
                    m.body_mass[env._torso] += float(added[w])
                    m.opt.gravity[2] += float(dg[w, 2])
                d = mujoco.MjData(m)
                mujoco.mj_setConst(m, d)
                d.qpos[:], d.qvel[:], d.ctrl[:] = env.data.qpos, env.data.qvel, env.data.ctrl
                mujoco.mj_step(m, d, nstep=10)
                finals.append(d.qpos.copy())
            finally:
                m.pair_friction[:], m.geom_friction[:], m.body_mass[:], m.opt.gravity[:] = saved
        for w in range(n):
            errs = [np.abs(sim_qpos[w] - finals[v]).max() for v in range(n)]
            assert errs[w] < 1e-5, errs
            assert all(errs[v] > 10 * errs[w] for v in range(n) if v != w and (mask[v] or mask[w])), (w, errs)
    finally:
        sim.set_params(torch.ones(n, dtype=torch.bool), torch.full((n,), 0.7), torch.zeros(n), torch.zeros(n, 3))


def test_torch_ground_lookup_matches_the_terrain(warp_rough_sim):
    sim = warp_rough_sim
    terrain = sim.terrain
    rng = np.random.default_rng(1)
    origins = terrain.origins.reshape(-1, 3)[:, :2]
    xy = origins[rng.integers(len(origins), size=400)] + rng.uniform(-4, 4, (400, 2))
    want = terrain.ground_height(xy)
    got = sim.ground_height(torch.as_tensor(xy, dtype=F32)).double().numpy()
    assert np.abs(got - want).max() < 1e-4  # float32 at |x| < 200 m: ~1e-5
    assert want.std() > 0.05  # the points do cover uneven ground


def test_rough_terrain_standing_statistics_agree(warp_rough_sim):
    """On rough tiles the contact sets differ (Warp: at most 4 contacts per heightfield-geom pair), so trajectories
    are compared in distribution: zero action for 0.5 s from the same spawns on every terrain type, torso height and
    feet in contact."""
    sim = warp_rough_sim
    n = sim.num_worlds
    envs = [
        DigitEnv(
            terrain="rough",
            terrain_col=c * 4,
            randomize=False,
            terrain_rows=sim.terrain.num_rows,
            terrain_cols=sim.terrain.num_cols,
        )
        for c in range(n)
    ]
    for i, e in enumerate(envs):
        e.reset(seed=i, options={"terrain_level": 1})
    sim.reset(torch.ones(n, dtype=torch.bool))
    _copy_into(sim, envs)
    zeros = np.zeros(20)
    cpu_h, warp_h, cpu_c, warp_c = [], [], [], []
    for _ in range(25):
        for e in envs:
            e._physics_step(zeros)
        sim.step()
        st = sim.state()
        cpu_h.append([e.data.qpos[2] for e in envs])
        warp_h.append(sim.qpos[:, 2].double().numpy())
        cpu_c.append([int((e._physics_state().foot_force[0] > 1.0).sum()) for e in envs])
        warp_c.append((st.foot_force > 1.0).sum(1).numpy())
    cpu_h, warp_h = np.array(cpu_h), np.array(warp_h)
    assert np.abs(cpu_h.mean(0) - warp_h.mean(0)).max() < 0.02  # mean standing height per world within 2 cm
    assert np.abs(np.mean(cpu_c) - np.mean(warp_c)) < 0.25  # feet in contact per step, on average
    ground = sim.terrain.ground_height(sim.qpos[:, :2].double().numpy())
    assert (warp_h[-1] - ground > 0.8).all() and (cpu_h[-1] - ground > 0.8).all()  # both still standing
    assert {sim.terrain.types[c * 4] for c in range(n)} >= {"random_rough", "stepping_stones"}  # hfield and boxes


def test_ppo_trains_two_iterations_on_the_warp_backend(tmp_path):
    """l2t_ppo_digit.py end to end with --backend warp on warp's CPU device: two iterations of 3 worlds with 8-step
    episodes (so the device-side autoreset, bootstrapping and episode statistics run), then an evaluation."""
    from conftest import load_script, scalars

    ppo = load_script("l2t_ppo_digit")
    args = ppo.Args(
        backend="warp",
        device="cpu",
        terrain="flat",
        max_episode_steps=8,
        num_envs=3,
        num_steps=6,
        num_minibatches=2,
        update_epochs=1,
        total_timesteps=36,
        eval_frequency=1,
        eval_episodes=2,
        checkpoint_frequency=0,
        runs_dir=str(tmp_path),
        alpha_mix=0.5,
    )
    run_dir = ppo.main(args)
    logged = scalars(run_dir)
    returns = logged["charts/episodic_return"]
    assert [s for s, _ in returns] == [36] and np.isfinite(returns[0][1])  # every world timed out at step 8 (2nd)
    assert [v for _, v in logged["charts/episodic_length"]][0] == 8  # time-outs at 8 steps
    for tag in ("losses/value_loss", "losses/policy_loss"):
        assert len(logged[tag]) == 2 and all(np.isfinite(v) for _, v in logged[tag])
    assert np.isfinite(logged["eval/teacher_return"][-1][1]) and logged["eval/teacher_length"][-1][1] == 8


def test_warp_vector_env_keeps_the_tasks_rules():
    """DigitWarpVectorEnv: SAME_STEP autoreset with final observations and episode statistics, Table III draws in
    their ranges, commands in theirs, noise on the sensor terms only."""
    from envs.digit.env import ADDED_MASS_RANGE, COMMAND_RANGES, EXT_FORCE, FRICTION_RANGE, GRAVITY_DELTA
    from envs.digit.warp_vector import DigitWarpVectorEnv

    envs = DigitWarpVectorEnv(
        num_envs=3, device="cpu", seed=4, alpha=0.3, env_kwargs={"terrain": "flat", "max_episode_steps": 5}
    )
    obs, _ = envs.reset()
    S = task.OBS_SLICES
    p = obs["state"][:, S["env_params"]]
    assert ((p[:, 0] >= FRICTION_RANGE[0]) & (p[:, 0] <= FRICTION_RANGE[1])).all()
    assert (p[:, 1].abs() <= ADDED_MASS_RANGE[1]).all() and (p[:, 4].abs() <= GRAVITY_DELTA).all()
    assert (p[:, 2:4] == 0).all() and (p[:, 5:8].abs() <= EXT_FORCE).all() and p[:, 1].std() > 0
    cmd = obs["state"][:, S["command"]]
    for k, (lo, hi) in enumerate(COMMAND_RANGES):
        assert ((cmd[:, k] >= lo) & (cmd[:, k] <= hi)).all()
    noisy = torch.tensor(task.DIGIT_NOISY_MASK)
    diff = obs["observation"] != obs["state"]
    nonzero = obs["state"] != 0  # uniform noise scales with |s_i|: zero stays zero
    assert not diff[:, ~noisy].any() and diff[:, noisy][nonzero[:, noisy]].float().mean() > 0.9
    assert torch.equal(
        envs.sim.body_mass[:, envs.sim.idx.torso], envs.sim.nominal["body_mass"][envs.sim.idx.torso] + p[:, 1]
    )  # the drawn mass is simulated
    for step in range(5):
        before = obs["state"].clone()
        obs, reward, terminated, truncated, infos = envs.step(torch.zeros(3, 20))
        assert reward.shape == (3,) and torch.isfinite(reward).all()
    assert truncated.all() and not terminated.any() and infos["_final_obs"].all()
    assert torch.equal(infos["episode"]["l"], torch.full((3,), 5.0))
    assert torch.allclose(infos["episode"]["r"], sum(infos["episode"][f"reward/{k}"] for k in REWARD_WEIGHTS))
    final = infos["final_obs"]["state"]
    assert (final[:, S["clock"]] != obs["state"][:, S["clock"]]).any()  # the last state of the old episode ...
    assert torch.allclose(obs["state"][:, S["clock"]], torch.tensor([0.0, 1.0]).expand(3, 2))  # ... and a new one
    assert (final[:, S["base_pos_w"]] - before[:, S["base_pos_w"]]).abs().max() < 0.05  # continuous with its past


# raises=AssertionError: only the final depth check may fail (the bug); an error anywhere else (a missing file, an
# API change in mujoco-warp) fails the test instead of passing as the expected failure
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="mujoco-warp 4.0.0 heightfield bug: a bogus foot contact 4 m away, 7.7 m deep",
)
def test_no_bogus_heightfield_contact_at_a_recorded_state(warp_rough_sim):
    """A tripwire and a reproduction for upstream: world 0 of an 8-env rough-ground run (seed 1, random actions),
    saved at the step where Warp's forward returned a contact 7.7 m deep; MuJoCo on the CPU finds none deeper than
    3 mm there. The scene is the terrain as the env built it then: ONE heightfield under the whole grid, with an
    explicit pair per robot geom (``single_hfield_model``). When an upstream fix lands this test passes, and strict
    xfail turns that into a failure: then drop the caveat from the README and envs/digit/README.md."""

    m = single_hfield_model(warp_rough_sim.terrain)
    state = np.load(os.path.join(os.path.dirname(__file__), "data", "warp_hfield_bug_state.npz"))
    assert deepest_contacts(m, state["qpos"], state["qvel"])[1] > -0.05


def test_the_env_model_has_no_bogus_contact_at_the_recorded_state(warp_rough_sim):
    """The env's own terrain (floor boxes and small hfield patches, ``terrain.ground_pieces``) at the recorded state
    of the test above: on the CPU and on Warp the deepest contact is millimetres."""
    cpu, warp = deepest_contacts(
        warp_rough_sim.mjm,
        *np.load(os.path.join(os.path.dirname(__file__), "data", "warp_hfield_bug_state.npz")).values(),
    )
    assert cpu > -0.003 and warp > -0.05, (cpu, warp)


def deepest_contacts(m, qpos, qvel):
    """(deepest contact distance on the CPU, the same on Warp) of model ``m`` at the state (qpos, qvel)."""
    import mujoco
    import mujoco_warp as mjw

    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = qpos, qvel
    mujoco.mj_forward(m, d)
    dw = mjw.put_data(m, d, nworld=1, njmax=256, nconmax=96)
    mjw.forward(mjw.put_model(m), dw)
    n = int(dw.nacon.numpy()[0])
    return float(d.contact.dist[: d.ncon].min()), float(dw.contact.dist.numpy()[:n].min())


def single_hfield_model(terrain):
    """Digit on ``terrain`` as the env built it before the floor boxes: one heightfield over the whole grid with an
    explicit pair per robot contact geom, the stair and stone boxes through the contype filter; sleep flag off
    (as the Warp backend)."""
    import mujoco
    from envs import terrain as T
    from envs.digit import GROUND_CONTACT_GEOMS, MODEL_PATH
    from envs.digit.task import TORSO_GEOMS

    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    for pair in [p for p in spec.pairs if "floor" in (p.geomname1, p.geomname2)]:
        spec.delete(pair)
    spec.delete(spec.geom("floor"))
    h = terrain.heights
    lo, span = float(h.min()), float(h.max() - h.min())
    ny, nx = h.shape
    half_x, half_y = (nx - 1) * terrain.scale / 2, (ny - 1) * terrain.scale / 2
    spec.add_hfield(
        name="terrain",
        size=[half_x, half_y, span, T.HFIELD_BASE],
        nrow=ny,
        ncol=nx,
        userdata=((h - lo) / span).ravel().tolist(),
    )
    g = spec.worldbody.add_geom(
        name="terrain",
        type=mujoco.mjtGeom.mjGEOM_HFIELD,
        hfieldname="terrain",
        pos=[terrain.x0 + half_x, terrain.y0 + half_y, lo],
    )
    g.contype = g.conaffinity = 0
    pp = T.PAIR_PARAMS
    fr = pp["friction"]
    for i, b in enumerate(terrain.boxes):
        g = spec.worldbody.add_geom(
            name=f"terrain-box-{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=(b[3:] - b[:3]) / 2, pos=(b[3:] + b[:3]) / 2
        )
        g.contype, g.conaffinity, g.priority, g.condim = 0, T.TERRAIN_BIT, 1, pp["condim"]
        g.friction, g.solref = [fr[0], fr[2], fr[3]], list(pp["solref"])
    for cg in GROUND_CONTACT_GEOMS + TORSO_GEOMS:
        spec.add_pair(
            geomname1="terrain", geomname2=cg, condim=pp["condim"], friction=list(fr), solref=list(pp["solref"])
        )
        spec.geom(cg).contype = int(spec.geom(cg).contype) | T.TERRAIN_BIT
    return spec.compile()


def test_warp_vector_env_spawns_on_the_stepping_stone_platform(warp_rough_sim):
    """The shared spawn rule on Warp: on a stepping-stones column at level 0, with the full +-0.5 m offset, every
    world's feet land on the 1 m platform, resting on the ground (soles 1 mm above it)."""
    from envs import terrain as terrain_mod
    from envs.digit.warp_vector import DigitWarpVectorEnv

    col = list(warp_rough_sim.terrain.types).index("stepping_stones")
    envs = DigitWarpVectorEnv(num_envs=4, device="cpu", seed=5, env_kwargs={"terrain": "rough", "terrain_col": col})
    envs.reset(options={"terrain_level": 0})
    st = envs.sim.state()
    rel = st.foot_pos[:, :, :2] - envs.origin[:, None, :2]
    half = terrain_mod.STONES["platform"] / 2
    assert (rel.abs() < half).all() and (envs.env_params[:, 0] != 0.7).all()  # randomised, on the platform
    sole = task.sole_z_of(st.foot_pos, st.foot_mat, envs.sim.idx.foot_size).amin(-1)
    ground = envs.sim.ground_height(st.foot_pos[:, :, :2]).amax(-1)
    assert ((sole - ground) - 0.001).abs().max() < 2e-3
    assert (envs.origin[:, :2] - envs.sim.qpos[:, :2]).norm(dim=-1).max() > 0.05  # an offset was drawn


def test_captured_graphs_match_eager_launches():
    """The Warp env replays captured graphs (the control period, and the reset work of every step: reset_data,
    set_const, kinematics, forward). Through two autoresets they give bit for bit what eager launches give."""
    from envs.digit.warp_vector import DigitWarpVectorEnv

    runs = []
    for graph in (False, True):
        envs = DigitWarpVectorEnv(
            num_envs=2,
            device="cpu",
            seed=3,
            alpha=0.1,
            graph=graph,
            env_kwargs={"terrain": "flat", "max_episode_steps": 4},
        )
        envs.reset()
        gen = torch.Generator().manual_seed(0)
        rewards = [envs.step(0.1 * torch.randn(2, 20, generator=gen))[1] for _ in range(10)]
        runs.append((torch.stack(rewards), envs.sim.qpos.clone()))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert set(envs.sim._graphs) == {"period", "reset", "set_const", "kinematics", "forward"}


def test_overflow_check_names_the_setting_to_raise():
    """With njmax below what Digit needs (38 rows before its feet touch, ~70 standing), MuJoCo Warp drops constraint
    rows (their forces read 0) and flags the worlds; the simulator stops on it with one line naming njmax, from
    check_overflow and from the step's own poll of the flags (every overflow_poll_steps control periods)."""
    from envs.digit.warp_backend import WarpDigitSim, WarpOverflowError

    sim = WarpDigitSim(2, terrain="flat", device="cpu", njmax=16, overflow_poll_steps=2)
    env = DigitEnv(terrain="flat", randomize=False)
    env.reset(seed=0)
    sim.reset(torch.ones(2, dtype=torch.bool))
    _copy_into(sim, [env] * 2)
    sim.step()  # the first period: no poll yet
    with pytest.raises(WarpOverflowError, match=r"constraint rows > njmax in 2 of 2 worlds.*raise njmax=16 "):
        sim.step()
    with pytest.raises(WarpOverflowError) as err:
        sim.check_overflow()
    assert "\n" not in str(err.value) and "nconmax=64" not in str(err.value)  # one line, naming njmax only
    assert sim.usage()["rows"] > 16 and sim.usage()["flags"]["NEFC"] == 2


def test_graphs_are_captured_on_one_dedicated_stream():
    """CUDA refuses graph capture on the legacy default stream, torch's current stream unless a program sets
    another. With a CUDA-free stand-in for torch and warp: every Warp call of the simulator runs eagerly, is captured
    and is replayed on the simulator's own stream (never handle 0), which is created and wrapped for Warp once, waits
    for the caller's torch stream before the work, and makes the caller's stream wait for it after."""
    from envs.digit.warp_backend import DeviceStream, GraphRunner

    log, created, wrapped, current = [], [], [], [None]

    class TorchStream:
        def __init__(self, device=None, handle=None):
            if handle is None:
                created.append(self)
                handle = 100 + len(created)
            self.cuda_stream = handle

        def wait_stream(self, other):
            log.append(("wait", self.cuda_stream, other.cuda_stream))

    legacy = TorchStream(handle=0)
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(Stream=TorchStream, current_stream=lambda device=None: legacy))

    @contextlib.contextmanager
    def scoped_stream(stream, sync_enter=True):
        saved, current[0] = current[0], stream
        yield
        current[0] = saved

    @contextlib.contextmanager
    def scoped_capture(device=None, stream=None):
        log.append(("capture", stream.cuda_stream, current[0].cuda_stream))
        yield SimpleNamespace(graph=object())

    def stream_from_torch(torch_stream):
        wrapped.append(torch_stream)
        return SimpleNamespace(cuda_stream=torch_stream.cuda_stream)

    fake_wp = SimpleNamespace(
        ScopedStream=scoped_stream,
        ScopedCapture=scoped_capture,
        ScopedDevice=lambda device: contextlib.nullcontext(),
        stream_from_torch=stream_from_torch,
        capture_launch=lambda graph, stream=None: log.append(("launch", stream.cuda_stream, current[0].cuda_stream)),
    )
    device = SimpleNamespace(is_cuda=True)
    runner = GraphRunner(fake_wp, device, DeviceStream(fake_wp, fake_torch, device, "cuda:0"))
    for name in ("period", "period", "period", "forward", "forward"):
        runner.run(name, lambda: log.append(("work", current[0].cuda_stream)))
    ours = runner.stream.wp_stream.cuda_stream
    assert ours != legacy.cuda_stream and len(created) == 1 and len(wrapped) == 1  # one stream, wrapped once
    before, after = ("wait", ours, 0), ("wait", 0, ours)
    eager = [before, ("work", ours), after]
    capture = [before, ("capture", ours, ours), ("work", ours), ("launch", ours, ours), after]
    replay = [before, ("launch", ours, ours), after]
    assert log == eager + capture + replay + eager + capture


def test_warp_vector_env_moves_the_terrain_level_at_episode_ends():
    """The terrain curriculum on DigitWarpVectorEnv (Isaac Lab's rule, `curriculum="isaac"`): at the end of an
    episode a world carried 6 m (more than half a tile) from its origin goes up a level, one that stood still under a
    1 m/s command (20 m commanded) goes down one; the episode statistics report the level it was played on, and the
    next episode starts on the new level's tile. (Fails if the Warp env kept the levels, applied the rule to worlds
    whose episodes did not end, or reset the worlds onto the old tiles.)"""
    from envs import terrain as terrain_mod
    from envs.digit.warp_vector import DigitWarpVectorEnv

    envs = DigitWarpVectorEnv(
        num_envs=4, device="cpu", seed=7, env_kwargs={"terrain": "rough", "curriculum": "isaac", "max_episode_steps": 2}
    )
    envs.reset(options={"terrain_level": 3})
    assert envs.get_attr("terrain_level") == (3, 3, 3, 3)
    zero = torch.zeros(4, 20)
    _, _, terminated, truncated, _ = envs.step(zero)
    assert not (terminated | truncated).any()
    origin_before = envs.origin.clone()
    carried = torch.tensor([True, True, False, False])
    qpos = envs.sim.qpos.clone()
    qpos[:, 0] += 0.75 * terrain_mod.TILE_SIZE  # 6 m forward
    qpos[:, 2] += 2.0  # and up, clear of whatever ground lies there (it falls ~2 mm in the next 20 ms)
    envs.sim.set_state(carried, qpos, torch.zeros_like(envs.sim.qvel))
    envs.command[~carried] = torch.tensor([1.0, 0.0, 0.0])
    _, _, terminated, truncated, infos = envs.step(zero)  # step 2: every episode ends (time-out or fall)
    assert (terminated | truncated).all()
    assert infos["episode"]["terrain_level"].tolist() == [3.0] * 4  # the level each episode was played on
    assert envs.get_attr("terrain_level") == (4, 4, 2, 2)
    rows = torch.as_tensor(envs.terrain.origins, dtype=torch.float32)[:, :, :2]
    row_of = [int(((rows[:, int(envs.col[i])] - envs.origin[i, :2]).norm(dim=-1)).argmin()) for i in range(4)]
    assert row_of == [4, 4, 2, 2]  # the new episodes start on the new levels' tiles
    assert not torch.equal(envs.origin, origin_before)
