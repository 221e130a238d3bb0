"""Fast checks of the Cassie walking reference (envs/cassie/reference.py), the env l2t/Cassie-v1
(envs/cassie/env.py) and the demonstration file format (envs/demos.py). Tolerances are justified where used."""

import importlib
import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs.cassie
from envs import NoisyObservation
from envs.cassie import load_model
from envs.cassie import env as cassie_env
from envs.cassie import reference as ref_mod
from envs.cassie.env import ACTION_SCALE, CASSIE_NOISY_MASK, ENV_ID, STATE_DIM, CassieEnv
from envs.cassie.reference import PERIOD, SPEED, STANCE_FRACTION, SWING_HEIGHT, reference
from envs.demos import LAYOUT_VERSION, DemoFormatError, Episode, load_demos, save_demos

LEGS = ("left", "right")


# ----------------------------------------------------------------------------- reference motion


def _foot_centres(model, data, qpos):
    """World centre of each foot capsule and the lowest point of each capsule (z) for a full qpos."""
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    centres, bottoms = [], []
    for leg in LEGS:
        g = model.geom(f"{leg}-foot").id
        half_z = abs(data.geom_xmat[g, 8]) * model.geom_size[g, 1]
        centres.append(data.geom_xpos[g].copy())
        bottoms.append(data.geom_xpos[g, 2] - half_z - model.geom_size[g, 0])
    return np.array(centres), np.array(bottoms)


def _qpos_unwrapped(phase):
    """Reference qpos at an unwrapped phase (may exceed 1): the pelvis keeps advancing across cycles."""
    q = reference(phase).qpos.copy()
    q[:2] = ref_mod.pelvis_xy(phase)
    return q


def test_reference_is_periodic_and_smooth_across_the_wrap():
    a, b = reference(0.0), reference(1.0 - 1e-9)
    # the interpolation wraps to sample 0: a jump here would be the difference of IK solutions at phase 0 and 1
    assert np.abs(a.motor - b.motor).max() < 1e-5
    assert reference(1.0).motor == pytest.approx(a.motor) and reference(-0.25).motor == pytest.approx(
        reference(0.75).motor
    )
    c = ref_mod.cycle()
    motor = c["motor"]
    steps = np.abs(np.diff(np.vstack([motor, motor[:1]]), axis=0)).max(axis=1)
    # The last -> first step is a step like any other (the IK at phase 1 reaches phase 0's solution): within
    # 1.5x the largest step inside the cycle (which is ~1 deg per 4 ms sample at ~3.5 rad/s).
    assert steps[-1] <= 1.5 * steps[:-1].max()
    assert np.all(np.isfinite(c["qvel"]))


def test_reference_stance_foot_is_still_on_the_floor_and_swing_foot_lifts():
    model = load_model()
    data = mujoco.MjData(model)
    dt_phase = 1.0 / 400  # 2 ms, finer than the 4 ms samples, so interpolation is exercised too
    for i, leg in enumerate(LEGS):
        start = 0.5 * i  # this foot's touchdown phase
        # stance, leaving 2% of the cycle at each end where the other foot's double support starts/ends
        phases = start + np.arange(0.02, STANCE_FRACTION - 0.02, dt_phase)
        pos = np.array([_foot_centres(model, data, _qpos_unwrapped(p))[0][i] for p in phases])
        bottoms = np.array([_foot_centres(model, data, _qpos_unwrapped(p))[1][i] for p in phases])
        speed = np.linalg.norm(np.diff(pos, axis=0), axis=1) / (dt_phase * PERIOD)
        # < 2 cm/s: the pelvis moves at 60 cm/s, so a foot moving with the pelvis, or a wrong sign, is 30x over;
        # linear interpolation of joint angles between IK samples moves the foot by well under 1 mm per sample.
        assert speed.max() < 0.02, (leg, speed.max())
        # the stance foot touches the floor: capsule bottom within 1 mm of z = 0
        assert np.abs(bottoms).max() < 1e-3, (leg, bottoms.min(), bottoms.max())
        # mid-swing, the foot is lifted by about SWING_HEIGHT (5 mm margin for interpolation and foot pitch)
        mid_swing = start + (1 + STANCE_FRACTION) / 2
        lift = _foot_centres(model, data, _qpos_unwrapped(mid_swing))[1][i]
        assert abs(lift - SWING_HEIGHT) < 5e-3, (leg, lift)
        # one stride per cycle: the foot's next touchdown is SPEED * PERIOD further on
        x0 = _foot_centres(model, data, _qpos_unwrapped(start + 0.1))[0][i, 0]
        x1 = _foot_centres(model, data, _qpos_unwrapped(start + 1.1))[0][i, 0]
        assert x1 - x0 == pytest.approx(SPEED * PERIOD, abs=1e-3)


def test_reference_joints_in_range_and_closed_chains_closed():
    model = load_model()
    data = mujoco.MjData(model)
    c = ref_mod.cycle()
    lo, hi = model.actuator_ctrlrange.T
    assert np.all(c["motor"] > lo) and np.all(c["motor"] < hi)
    # every limited joint (tarsus, foot-crank, ...) inside its range too
    for j in range(model.njnt):
        if model.jnt_limited[j]:
            q = c["qpos"][:, model.jnt_qposadr[j]]
            assert np.all(q > model.jnt_range[j, 0]) and np.all(q < model.jnt_range[j, 1]), model.joint(j).name
    # Residual of the 4 connect constraints as MuJoCo computes it (efc_pos), at samples and at midpoints between
    # samples. The IK converges to 1e-8 m at samples; interpolated midpoints stay well under 1 mm (a broken
    # loop, e.g. a tarsus not following the knee, is off by centimetres).
    for phase in np.arange(0.0, 1.0, 1.0 / 400):
        data.qpos[:] = reference(phase).qpos
        mujoco.mj_forward(model, data)
        eq_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
        assert eq_rows.sum() == 12
        assert np.abs(data.efc_pos[eq_rows]).max() < 5e-4, phase


def test_reference_springs_carry_the_load():
    """The springs are deflected as the load asks (module docstring: N_PASSES of IK + inverse dynamics). Stance leg
    in single support: shin spring 3-7 deg, heel spring 2-5 deg compressed (measured -3.8..-5.5 / -2.4..-3.5;
    published walking references deflect them ~-4.9 / -3.4 deg); swing leg within 1.5 deg of rest (its springs
    carry only the leg's own inertia). What the springs still lack (the extra spring torque inverse dynamics
    asks for) stays under 20 N m in single support, against ~80-140 N m they carry (1500 N m/rad x 3-5 deg)."""
    model = load_model()
    c = ref_mod.cycle()
    spring_q = [model.jnt_qposadr[model.joint(j).id] for j in ref_mod.SPRING_JOINTS]  # l-shin, l-heel, r-...
    for leg, (lo_p, hi_p) in enumerate(((0.1, 0.5), (0.6, 1.0))):
        single = (c["phase"] >= lo_p) & (c["phase"] < hi_p)
        stance_q = np.rad2deg(c["qpos"][single][:, spring_q[2 * leg : 2 * leg + 2]])
        swing_q = np.rad2deg(c["qpos"][single][:, spring_q[2 - 2 * leg : 4 - 2 * leg]])
        assert np.all((stance_q[:, 0] < -3.0) & (stance_q[:, 0] > -7.0)), stance_q[:, 0]
        assert np.all((stance_q[:, 1] < -2.0) & (stance_q[:, 1] > -5.0)), stance_q[:, 1]
        assert np.abs(swing_q).max() < 1.5
        assert np.abs(c["spring_torque"][single]).max() < 20.0


def _cross(u, v):
    return u[0] * v[1] - u[1] * v[0]


def _point_in_hull(p, points, margin):
    """True if the 2-D point p is inside the convex hull of `points`, or within `margin` of it."""
    pts = sorted(map(tuple, points))

    def half(seq):
        h = []
        for q in seq:
            while len(h) >= 2 and _cross(np.subtract(h[-1], h[-2]), np.subtract(q, h[-2])) <= 0:
                h.pop()
            h.append(q)
        return h

    hull = np.array(half(pts)[:-1] + half(pts[::-1])[:-1])  # counter-clockwise
    inside = True
    for a, b in zip(hull, np.roll(hull, -1, axis=0)):
        if _cross(b - a, p - a) < 0:
            inside = False
    return inside or min(_segment_distance(p, a, b) for a, b in zip(hull, np.roll(hull, -1, axis=0))) <= margin


def _segment_distance(p, a, b):
    t = np.clip((p - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def test_reference_centre_of_pressure_stays_on_the_foot():
    """The CoP the reference needs (inverse dynamics, root rows: the net ground wrench) at every sample. Single
    support: within 5 mm of the stance foot's contact line (the foot is a capsule, a line contact: it cannot
    resist a roll moment) including its ends (measured: <= 1.3 mm). Double support: inside the hull of the two
    contact lines (5 mm margin). The v0 reference (no sway, constant speed) needed 13.4 cm off the line on average.
    Also: per-point vertical contact forces of the single-support foot >= -1 N (it pushes, never pulls) and the
    tangential force within the friction cone (MuJoCo's default friction 1)."""
    c = ref_mod.cycle()
    ids = ref_mod.inverse_dynamics()
    worst_single = 0.0
    for k, phase in enumerate(c["phase"]):
        targets, stance = ref_mod.foot_targets(phase)
        lines = targets[:, :, :2]  # each foot's contact line end points (x, y)
        cop = c["cop"][k]
        if stance.all():
            assert _point_in_hull(cop, lines.reshape(4, 2), 0.005), (phase, cop)
        else:
            (i,) = np.flatnonzero(stance)
            worst_single = max(worst_single, _segment_distance(cop, *lines[i]))
            force = ids[k]["contact_force"]
            assert force[:, 2].min() > -1.0, (phase, force)
            total = force.sum(0)
            assert np.linalg.norm(total[:2]) < total[2], (phase, total)
    assert worst_single < 0.005, worst_single


def test_reference_lipm_sway_height_and_speed():
    """CoM on the LIPM path within 5 mm (what the CoP correction moves it by; measured 3.8 mm), sideways sway
    2-3 cm each way (the LIPM prediction for feet at +-0.135 m and 0.4 s steps is +-2.6 cm; published Cassie
    walking sways +-2.7 cm), pelvis at PELVIS_HEIGHT, mean forward speed SPEED."""
    c = ref_mod.cycle()
    assert np.abs(c["com"][:, :2] - c["lipm_com"]).max() < 0.005
    assert 0.02 < ref_mod.sway_amplitude() < 0.03
    assert 0.02 < c["com"][:, 1].max() < 0.03 and -0.03 < c["com"][:, 1].min() < -0.02
    # the sway is towards the stance foot: left single support (phase 0.3) -> y > 0
    assert c["com"][60, 1] > 0.015 and c["com"][160, 1] < -0.015
    assert np.all(c["qpos"][:, 2] == ref_mod.PELVIS_HEIGHT) and ref_mod.PELVIS_HEIGHT == pytest.approx(1.0)
    assert c["qvel"][:, 0].mean() == pytest.approx(SPEED, rel=1e-3)


def test_reference_torques_within_limits_and_reachable_by_the_action():
    """Inverse-dynamics motor torques along the reference stay within 80% of the actuator limits (measured: 62% at
    the knee, 122 N m). The env's PD target at zero action, q_ref + LEAD qdot_ref + tau_ref / kp (the inverse-
    dynamics feed-forward), stays inside its target range (joint range +-TARGET_MARGIN) with the whole action
    (+-ACTION_SCALE) to spare on both sides: the action is never clipped on the reference. Without the
    feed-forward, the same torques would need offsets up to 1.27 rad at the knee (kp 96)."""
    from envs.cassie import KP, TORQUE_LIMITS

    c = ref_mod.cycle()
    tau = c["motor_torque"]
    assert np.all(np.abs(tau) <= 0.8 * TORQUE_LIMITS), np.abs(tau).max(0) / TORQUE_LIMITS
    env = CassieEnv()
    target = c["motor"] + env._lead * c["motor_vel"] + tau / np.asarray(KP)
    lo, hi = env.model.actuator_ctrlrange.T
    assert np.all(target - ACTION_SCALE > lo) and np.all(target + ACTION_SCALE < hi)
    # the joint range alone (v0 clipped the target to it) could not give the knee its torque
    jlo, jhi = env.model.jnt_range[env.model.actuator_trnid[:, 0]].T
    assert (target > jhi).any()
    # and the env really applies target + ACTION_SCALE * a
    env.reset(seed=0)
    ref = env._ref
    env.step(np.full(10, 0.5))
    expected = ref.motor + env._lead * ref.motor_vel + ref.motor_torque / np.asarray(KP) + 0.5 * ACTION_SCALE
    assert env.data.ctrl == pytest.approx(expected)


def test_reference_pelvis_and_velocity():
    r = reference(0.3)
    assert r.pelvis_pos[2] == ref_mod.PELVIS_HEIGHT and r.pelvis_pos[:2] == pytest.approx(ref_mod.pelvis_xy(0.3))
    assert r.pelvis_quat == pytest.approx([1.0, 0.0, 0.0, 0.0])
    # pelvis x continues across cycles: one stride per cycle
    assert ref_mod.pelvis_xy(1.3) - ref_mod.pelvis_xy(0.3) == pytest.approx([SPEED * PERIOD, 0.0])
    # qvel is the derivative of qpos along the cycle: compare with a finite difference of the motor angles
    h = 1e-3
    fd = (reference(0.3 + h).motor - reference(0.3 - h).motor) / (2 * h * PERIOD)
    assert r.motor_vel == pytest.approx(fd, abs=0.05)  # rad/s; peak motor speeds are ~3.6 rad/s
    fd_x = (ref_mod.pelvis_xy(0.3 + h)[0] - ref_mod.pelvis_xy(0.3 - h)[0]) / (2 * h * PERIOD)
    assert r.qvel[0] == pytest.approx(fd_x, rel=0.02)


# ----------------------------------------------------------------------------- env


def test_registered_and_passes_env_checker():
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == cassie_env.MAX_EPISODE_STEPS
    importlib.reload(envs.cassie)  # registering again must not raise or duplicate
    assert gym.spec(ENV_ID).max_episode_steps == cassie_env.MAX_EPISODE_STEPS
    env = gym.make(ENV_ID)
    assert env.observation_space.shape == (STATE_DIM,) and env.action_space.shape == (10,)
    assert env.unwrapped.dt == pytest.approx(0.03)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # unbounded state space, as gymnasium's MuJoCo envs
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_random_rollout_reward_bounds_and_info():
    env = gym.make(ENV_ID)
    max_reward = cassie_env.C_JOINT + cassie_env.C_COM + cassie_env.C_ORI
    rng = np.random.default_rng(0)
    state, _ = env.reset(seed=3)
    episodes, steps = 0, 0
    while steps < 200:
        state, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 10).astype(np.float32))
        steps += 1
        assert state.shape == (STATE_DIM,) and np.all(np.isfinite(state))
        assert 0.0 <= reward <= max_reward
        # the clock entries are what the docstring says: phase of the next step and its reference
        assert state[45] ** 2 + state[46] ** 2 == pytest.approx(1.0)
        if terminated or truncated:
            # the robot fell: below the height limit or tilted past the limit
            u = env.unwrapped
            assert terminated and (u.data.qpos[2] < cassie_env.MIN_HEIGHT or u._tilt() > cassie_env.MAX_TILT)
            episodes += 1
            state, _ = env.reset()
    # without balance, random residuals topple the robot well within 200 steps (6 s)
    assert episodes >= 1


def _reward_at_pose(monkeypatch, edit):
    """The env's step reward with the robot held (no physics: mj_step does nothing) at the reference pose of the
    step's phase, placed where the reference puts it, after `edit(model, data)` changes that pose."""
    env = CassieEnv()
    _, info = env.reset(seed=0)
    phase = info["phase"] + env.dt / PERIOD  # the step's reward uses the reference at phi_{t+1}
    ref = reference(phase % 1.0)
    qpos = ref.qpos.copy()
    qpos[0] += ref_mod.pelvis_xy(phase)[0] - ref_mod.pelvis_xy(info["phase"])[0] - ref.pelvis_pos[0]  # x from 0
    assert np.allclose(ref.pelvis_quat, [1.0, 0.0, 0.0, 0.0])  # upright: the orientation error is the edit's
    env.data.qpos[:] = qpos
    env.data.qvel[:] = 0.0
    edit(env.model, env.data)
    with monkeypatch.context() as patch:
        patch.setattr(mujoco, "mj_step", lambda *args, **kwargs: None)
        _, reward, _, _, _ = env.step(np.zeros(10))
    return reward


def _com(model, data):
    """Whole-body centre of mass by MuJoCo itself (not the env's code): the world body's subtree CoM."""
    mujoco.mj_forward(model, data)
    return data.subtree_com[0].copy()


def _hip_pitch_with_the_com_kept(model, data):
    """Left hip pitch 0.2 rad off the reference, the whole robot shifted so that its CoM is the reference's again."""
    before = _com(model, data)
    data.qpos[model.jnt_qposadr[model.joint("left-hip-pitch").id]] += 0.2
    data.qpos[:3] -= _com(model, data) - before


def _turn_about_the_com(model, data, angle=0.2):
    """The whole robot turned by `angle` about the vertical line through its CoM: CoM and joints unchanged."""
    c = _com(model, data)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    data.qpos[:2] = c[:2] + rot @ (data.qpos[:2] - c[:2])
    quat = np.empty(4)
    mujoco.mju_mulQuat(quat, np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)]), data.qpos[3:7].copy())
    data.qpos[3:7] = quat


def _sideways(model, data, dy=0.1):
    data.qpos[1] += dy  # the whole robot 10 cm sideways: every body, so the CoM, moves 0.1 m


def test_eq9_reward_at_hand_built_poses(monkeypatch):
    """Paper 1's Eq. (9), r = 0.5 exp(-E_joint) + 0.3 exp(-5 |CoM error|) + 0.2 exp(-3 angle), at poses whose
    errors are known by construction, against numbers worked out by hand (the env's own terms are not used):

    * the reference pose itself: every error 0, r = 0.5 + 0.3 + 0.2 = 1;
    * 10 cm sideways: CoM error 0.1 m, r = 0.5 + 0.3 e^-0.5 + 0.2 = 0.5 + 0.181959 + 0.2 = 0.881959;
    * turned 0.2 rad about the vertical through the CoM: angle 0.2, r = 0.5 + 0.3 + 0.2 e^-0.6 = 0.909762;
    * left hip pitch +0.2 rad (weight 3.0), CoM kept: E_joint = sqrt(3.0 * 0.2^2) = sqrt(0.12) = 0.346410,
      r = 0.5 e^-0.346410 + 0.3 + 0.2 = 0.353611 + 0.5 = 0.853611;
    * all three: r = 0.353611 + 0.181959 + 0.109762 = 0.645332.

    Fails if a weight, a scale or a term's form (e.g. exp(-E_joint^2), the authors') differs from Eq. (9) as
    documented, or if the reference the reward compares against is not the step's."""
    cases = [
        (lambda m, d: None, 1.0),
        (_sideways, 0.881959),
        (_turn_about_the_com, 0.909762),
        (_hip_pitch_with_the_com_kept, 0.853611),
        (lambda m, d: (_hip_pitch_with_the_com_kept(m, d), _turn_about_the_com(m, d), _sideways(m, d)), 0.645332),
    ]
    for edit, expected in cases:
        assert _reward_at_pose(monkeypatch, edit) == pytest.approx(expected, abs=2e-6)


def test_state_layout_matches_simulation():
    env = CassieEnv()
    state, info = env.reset(seed=0)
    for _ in range(3):
        state, *_, info = env.step(np.zeros(10))
    d, m = env.data, env.model
    assert state[0] == d.qpos[2]
    assert state[1:5] == pytest.approx(d.qpos[3:7] * np.sign(d.qpos[3]))
    motor_q = m.jnt_qposadr[m.actuator_trnid[:, 0]]
    assert np.array_equal(state[11:21], d.qpos[motor_q])
    # next step's phase: one dt after the phase the reward of this step used
    next_phase = (info["phase"] + env.dt / PERIOD) % 1.0
    assert np.arctan2(state[45], state[46]) % (2 * np.pi) == pytest.approx(2 * np.pi * next_phase)
    assert np.array_equal(state[47:57], reference(next_phase).motor)
    # pelvis linear velocity in the pelvis frame: its norm is that of the world velocity
    assert np.linalg.norm(state[5:8]) == pytest.approx(np.linalg.norm(d.qvel[:3]))


def test_action_is_scaled_residual_on_the_reference():
    ctrls = []
    for a in (0.0, 1.0):
        env = CassieEnv()
        env.reset(seed=5)
        env.step(np.full(10, a))
        ctrls.append(env.data.ctrl.copy())
    lo, hi = env.model.actuator_ctrlrange.T
    assert np.all(ctrls[1] < hi)  # the target range is wide enough: nothing clipped
    assert ctrls[1] - ctrls[0] == pytest.approx(ACTION_SCALE)
    # 1 rad on hip pitch, knee and foot, 0.5 rad on hip roll and yaw
    assert ACTION_SCALE == pytest.approx([0.5, 0.5, 1.0, 1.0, 1.0] * 2)
    # the target range is the joint range +-TARGET_MARGIN, and MuJoCo's joint limits still hold the joints
    jlo, jhi = env.model.jnt_range[env.model.actuator_trnid[:, 0]].T
    assert lo == pytest.approx(jlo - cassie_env.TARGET_MARGIN) and hi == pytest.approx(jhi + cassie_env.TARGET_MARGIN)


def test_same_seed_same_trajectory():
    def rollout(seed):
        env = gym.make(ENV_ID)
        states, rewards = [env.reset(seed=seed)[0]], []
        rng = np.random.default_rng(7)  # the same actions for both
        for _ in range(20):
            s, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 10))
            states.append(s)
            rewards.append(r)
            if term:
                states.append(env.reset()[0])
        return np.array(states), np.array(rewards)

    s1, r1 = rollout(11)
    s2, r2 = rollout(11)
    s3, _ = rollout(12)
    assert np.array_equal(s1, s2) and np.array_equal(r1, r2)
    assert not np.allclose(s1[0], s3[0])  # the reset is randomised (phase, hip angles, velocities)


def _held_rollout(seed, actions):
    env = CassieEnv(hold_pelvis=True)
    env.reset(seed=seed)
    rewards, joint = [], []
    for a in actions:
        _, r, terminated, _, info = env.step(a)
        assert not terminated  # the pelvis is held at the reference height and upright
        rewards.append(r)
        joint.append(info["reward_joint"])
    return np.mean(rewards), np.mean(joint)


def test_tracking_reference_on_held_pelvis_scores_high_and_random_actions_less():
    steps = 60  # 1.8 s, more than two gait cycles
    rng = np.random.default_rng(0)
    zero_r, zero_joint = _held_rollout(0, np.zeros((steps, 10)))
    rand_r, rand_joint = _held_rollout(0, rng.uniform(-1, 1, (steps, 10)))
    # Max is 1. A lag of 0.1 rad on every motor would give E_joint = sqrt(30 * 0.01) = 0.55, joint term
    # 0.5 e^-0.55 = 0.29, total ~0.79; so > 0.85 needs the PD (with the velocity feed-forward) to follow the
    # reference within a few hundredths of a rad, with the feet meeting the floor where the reference puts them.
    assert zero_r > 0.85, zero_r
    # Random residuals (up to 0.3 rad, new each 30 ms) move the joints off the reference: the joint term must
    # drop by at least 10% and the total reward by at least 0.04 (half of a typical ~0.08 drop).
    assert rand_joint < 0.9 * zero_joint, (rand_joint, zero_joint)
    assert rand_r < zero_r - 0.04, (rand_r, zero_r)


def test_free_robot_falls_and_terminates_and_truncation_at_limit():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for t in range(100):  # a fixed PD target cannot balance Cassie (README): it falls within 3 s
        _, _, terminated, truncated, _ = env.step(np.zeros(10))
        if terminated:
            break
    assert terminated and not truncated and t < 99
    held = gym.make(ENV_ID, hold_pelvis=True)  # never falls, so the TimeLimit must end the episode
    held.reset(seed=0)
    for t in range(cassie_env.MAX_EPISODE_STEPS):
        _, _, terminated, truncated, _ = held.step(np.zeros(10))
        assert not terminated
        if truncated:
            break
    assert truncated and t == cassie_env.MAX_EPISODE_STEPS - 1


def test_feedforward_keeps_the_zero_action_robot_up_longer():
    """The inverse-dynamics feed-forward gives the reference's torques without any action: with zero action the
    free robot stays up longer than without it (measured over 10 seeds: 27-39 steps with, 18-25 without; v0 fell
    by step 13-15). Mean over 4 seeds: with > 1.2 x without, and with >= 22 steps."""

    def mean_length(feedforward):
        env = CassieEnv(feedforward=feedforward)
        lengths = []
        for seed in range(4):
            env.reset(seed=seed)
            for t in range(200):
                if env.step(np.zeros(10))[2]:
                    break
            lengths.append(t + 1)
        return np.mean(lengths)

    with_ff, without = mean_length(True), mean_length(False)
    assert with_ff > 1.2 * without and with_ff >= 22, (with_ff, without)


def test_low_reward_ends_the_episode_when_asked():
    """`min_reward` (the authors ended episodes below r = 0.3): off by default; a step whose reward falls below it
    terminates. On the held pelvis at zero action the reward is ~0.9 (see above): min_reward 0.3 never ends it,
    0.99 ends it at the first step."""
    assert cassie_env.MIN_REWARD == 0.0
    env = CassieEnv(hold_pelvis=True, min_reward=0.3)
    env.reset(seed=0)
    for _ in range(30):
        assert not env.step(np.zeros(10))[2]
    env = CassieEnv(hold_pelvis=True, min_reward=0.99)
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(np.zeros(10))
    assert terminated and reward < 0.99
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="min_reward"):
            CassieEnv(min_reward=bad)


def test_v0_is_deprecated_in_favour_of_v1():
    assert ENV_ID == "l2t/Cassie-v1"
    with pytest.warns(DeprecationWarning, match="v1"), pytest.raises(gym.error.DeprecatedEnv, match="v1"):
        gym.make("l2t/Cassie-v0")


def test_noise_mask_keeps_clock_clean():
    assert CASSIE_NOISY_MASK.shape == (STATE_DIM,)
    assert not CASSIE_NOISY_MASK[45:].any() and CASSIE_NOISY_MASK[:45].all()
    env = NoisyObservation(gym.make(ENV_ID), alpha=0.3, noisy_mask=CASSIE_NOISY_MASK)
    obs, _ = env.reset(seed=0)
    changed = np.zeros(STATE_DIM, dtype=bool)
    for _ in range(5):
        s, o = obs["state"], obs["observation"]
        assert np.array_equal(o[~CASSIE_NOISY_MASK], s[~CASSIE_NOISY_MASK])
        # uniform noise |o_i - s_i| <= alpha |s_i|, and an element equal to 0 stays 0
        assert np.all(np.abs(o - s) <= 0.3 * np.abs(s) + 1e-12)
        changed |= o != s
        obs, _, terminated, _, _ = env.step(np.zeros(10))
        assert not terminated
    # every measurement that is non-zero gets noise (hip-yaw velocity etc. may be exactly 0 at times: exclude 0s)
    nonzero = obs["state"] != 0
    assert changed[CASSIE_NOISY_MASK & nonzero].all()


def _offscreen_rendering_error():
    """Why MuJoCo cannot render offscreen on this machine (an empty model, 8 x 8 pixels), or None if it can."""
    try:
        with mujoco.Renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8) as renderer:
            renderer.render()
    except Exception as e:  # no OpenGL context (set MUJOCO_GL=egl or osmesa)
        return f"{type(e).__name__}: {e}"
    return None


def test_render_rgb_array():
    # skipped only where MuJoCo itself cannot render an empty scene; where it can, any error of the Cassie env's
    # rendering (its model, camera, sizes) fails the test
    unavailable = _offscreen_rendering_error()
    if unavailable:
        pytest.skip(f"no offscreen rendering here: {unavailable}")
    env = CassieEnv(render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()


# ----------------------------------------------------------------------------- demonstration files


def _episodes(rng, lengths=(5, 3), state_dim=4, action_dim=2):
    return [
        Episode(
            states=rng.normal(size=(T + 1, state_dim)),
            actions=rng.uniform(-1, 1, (T, action_dim)),
            rewards=rng.normal(size=T),
            terminated=bool(i % 2),
        )
        for i, T in enumerate(lengths)
    ]


def test_demos_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    eps = _episodes(rng)
    path = tmp_path / "demos.npz"
    save_demos(path, "l2t-test/Counter-v0", eps)
    demos = load_demos(path, env_id="l2t-test/Counter-v0", state_dim=4, action_dim=2)
    assert demos.env_id == "l2t-test/Counter-v0" and (demos.state_dim, demos.action_dim) == (4, 2)
    assert len(demos.episodes) == 2
    for a, b in zip(eps, demos.episodes):
        assert np.array_equal(a.states, b.states) and np.array_equal(a.actions, b.actions)
        assert np.array_equal(a.rewards, b.rewards) and a.terminated == b.terminated
    s, a, r, s2, term = demos.transitions()
    assert s.shape == (8, 4) and a.shape == (8, 2) and r.shape == (8,)
    assert np.array_equal(s2[4], eps[0].states[5]) and np.array_equal(s[5], eps[1].states[0])
    assert term.tolist() == [False] * 7 + [True]  # only the terminated (second) episode's last step


def test_demos_from_cassie_rollout(tmp_path):
    env = gym.make(ENV_ID)
    states, actions, rewards = [env.reset(seed=0)[0]], [], []
    for _ in range(10):
        a = np.zeros(10, dtype=np.float32)
        s, r, terminated, _, _ = env.step(a)
        states.append(s), actions.append(a), rewards.append(r)
        if terminated:
            break
    path = tmp_path / "cassie.npz"
    save_demos(path, ENV_ID, [Episode(np.array(states), np.array(actions), np.array(rewards), terminated)])
    demos = load_demos(path, env_id=ENV_ID, state_dim=STATE_DIM, action_dim=10)
    assert np.array_equal(demos.episodes[0].states, np.array(states))


def _rewrite(src, dst, **changes):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(dst, **arrays)


@pytest.mark.parametrize(
    "case, changes, kwargs, words",
    [
        ("missing key", {"rewards": None}, {}, "missing keys ['rewards']"),
        ("extra key", {"obs": np.zeros(3)}, {}, "unexpected keys ['obs']"),
        ("wrong version", {"layout_version": np.array(2)}, {}, "layout_version is 2"),
        ("ragged states", {"states": np.zeros((9, 4))}, {}, "states must have shape"),
        ("ragged actions", {"actions": np.zeros((7, 2))}, {}, "actions must have shape"),
        ("non-finite", {"rewards": np.full(8, np.nan)}, {}, "rewards holds non-finite"),
        ("wrong state dim", {}, {"state_dim": 5}, "state_dim is 4, expected 5"),
        ("wrong action dim", {}, {"action_dim": 3}, "action_dim is 2, expected 3"),
        ("wrong env", {}, {"env_id": "l2t/Cassie-v0"}, "expected 'l2t/Cassie-v0'"),
    ],
)
def test_demos_refuse_malformed_files(tmp_path, case, changes, kwargs, words):
    good = tmp_path / "good.npz"
    save_demos(good, "l2t-test/Counter-v0", _episodes(np.random.default_rng(1)))
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, **changes)
    with pytest.raises(DemoFormatError) as e:
        load_demos(bad, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and words in msg, msg
    load_demos(good)  # the untouched file still loads


def test_demos_refuse_missing_or_garbage_file(tmp_path):
    for path, words in ((tmp_path / "nope.npz", "no such file"), (tmp_path / "junk.npz", "not a readable .npz")):
        if words.startswith("not"):
            path.write_text("not a zip\nat all\n")
        with pytest.raises(DemoFormatError) as e:
            load_demos(path)
        msg = str(e.value)
        assert "\n" not in msg and str(path) in msg and words in msg, msg
    assert issubclass(DemoFormatError, ValueError)
    assert LAYOUT_VERSION == 1


def test_lazy_registration_in_envs_matches_the_env_module():
    """`import envs` registers l2t/Cassie-v1 without importing the model; the limits must agree."""
    import gymnasium

    import envs  # noqa: F401
    from envs.cassie import MAX_EPISODE_STEPS

    assert gymnasium.spec("l2t/Cassie-v1").max_episode_steps == MAX_EPISODE_STEPS
