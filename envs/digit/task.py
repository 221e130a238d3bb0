"""The ``l2t/Digit-v3`` task: its constants, and its computation once, batched over N envs, for every backend.

A physics backend (MuJoCo on the CPU: ``envs/digit/env.py``; MuJoCo Warp: ``envs/digit/warp_backend.py``) steps the
robot and hands this module a ``PhysicsState``: the few arrays of the final state the task reads, with a leading
batch dimension N, as numpy (float64, CPU) or torch (float32, on the Warp device). From it and the task's own per-env
state (time, command, last action, foot timers, spawn origin, env parameters) the functions below compute Table I's
observation, the termination test and Table II's ``RewardInputs`` with the same lines for both backends
(``rewards.xp_of`` picks numpy or torch). Nothing here steps physics or draws random numbers. ``DigitEnv``'s
docstring (``envs/digit/env.py``) is the reference for what each quantity means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs import terrain as terrain_mod
from envs.digit import ACTION_DIM, ARM_MOTORS, MOTOR_JOINTS, PASSIVE_JOINTS, POLICY_DT, SIM_DT, STAND_QPOS
from envs.digit.rewards import (
    CONTACT_FORCE,
    FEET,
    FOOT_BODIES,
    GAIT_PERIOD,
    LIMIT_JOINTS,
    SOFT_LIMIT_FACTOR,
    RewardInputs,
    sole_z_of,
    xp_of,
)

SUBSTEPS = int(round(POLICY_DT / SIM_DT))  # 10 physics steps of 2 ms per policy step
EPISODE_LENGTH_S = 20.0
MAX_EPISODE_STEPS = int(round(EPISODE_LENGTH_S / POLICY_DT))  # 1000
ACTION_SCALE = 0.5  # rad per unit action (Isaac Lab Digit)
# The initial policy std (action units) we recommend to a learner: a zero-mean policy with i.i.d. N(0, 0.05^2) action
# noise survives a median of 813.5 steps on nominal flat ground (8 seeds; std 0.06: 338, 0.07: 257.5, 0.1: 161.5,
# 0.3: 51; python -m envs.digit.probes exploration) and earns +0.030 per step (v1 weights; +0.022 with the paper's;
# surviving pays above -0.04).
RECOMMENDED_INIT_STD = 0.05

# Commands
COMMAND_RANGES = ((-0.8, 0.8), (-0.5, 0.5), (-1.0, 1.0))  # vx (m/s), vy (m/s), yaw rate (rad/s)
COMMAND_RESAMPLE_S = (3.0, 8.0)
STANDING_SHARE = 0.1
CURRICULUM_RULES = terrain_mod.LEVEL_RULES  # the `curriculum` kwarg: how a reset moves the terrain level

# Domain randomisation
FRICTION_RANGE = (0.4, 1.0)
ADDED_MASS_RANGE = (-5.0, 5.0)  # kg
GRAVITY_DELTA = 0.5  # m/s^2, on z (default) or per axis (gravity_axes="xyz")
EXT_FORCE = 10.0  # N, per axis
EXT_TORQUE = 2.0  # N m, per axis
BASE_XY_RANGE = 0.5  # m
PUSH_INTERVAL_S = (10.0, 15.0)
PUSH_VELOCITY = 0.5  # m/s, per axis x, y
JOINT_POS_NOISE = 0.1  # rad, hips and arms
JOINT_VEL_NOISE = 0.1  # rad/s
SPAWN_TRIES = 50  # draws of the spawn offset on stepping-stones tiles before spawning at the platform centre
SPAWN_PLATFORM_MARGIN = 0.02  # m kept between the feet and the platform edge
_MOTOR_IDX = {name: i for i, name in enumerate(MOTOR_JOINTS)}
RESET_NOISE_IDX = np.array(
    [_MOTOR_IDX[f"{s}-{j}"] for s in ("left", "right") for j in ("hip-roll", "hip-yaw", "hip-pitch") + ARM_MOTORS]
)  # open chains only

# Termination (Isaac Lab's Digit ``bad_orientation``; the height is ours)
MAX_TILT = 0.7  # rad
MIN_HEIGHT = 0.5  # m above the ground under the torso

ENV_PARAM_NAMES = (
    "friction",
    "added_mass",
    "gravity_x",
    "gravity_y",
    "gravity_z",
    "force_x",
    "force_y",
    "force_z",
    "torque_x",
    "torque_y",
    "torque_z",
    "push_vx",
    "push_vy",
)

# Observation layout (Table I: the student's 94 terms first, then the teacher's privileged ones)
NUM_JOINTS = len(MOTOR_JOINTS) + len(PASSIVE_JOINTS)  # 30
_SIZES = (
    ("clock", 2),
    ("base_lin_vel", 3),
    ("base_ang_vel", 3),
    ("projected_gravity", 3),
    ("command", 3),
    ("joint_pos", NUM_JOINTS),
    ("joint_vel", NUM_JOINTS),
    ("last_action", len(MOTOR_JOINTS)),
    ("base_lin_vel_w", 3),
    ("base_ang_vel_w", 3),
    ("base_pos_w", 3),
    ("base_quat_w", 4),
    ("env_params", len(ENV_PARAM_NAMES)),
    ("height_scan", len(terrain_mod.SCAN_POINTS)),
)
OBS_SLICES = {}
_i = 0
for _name, _n in _SIZES:
    OBS_SLICES[_name] = slice(_i, _i + _n)
    _i += _n
OBS_DIM = _i  # 307
STUDENT_DIM = OBS_SLICES["last_action"].stop  # 94
STUDENT_SLICE = slice(0, STUDENT_DIM)
DIGIT_NOISY_MASK = np.zeros(OBS_DIM, dtype=bool)
for _name in ("base_lin_vel", "base_ang_vel", "projected_gravity", "joint_pos", "joint_vel"):
    DIGIT_NOISY_MASK[OBS_SLICES[_name]] = True
DIGIT_NOISY_MASK.setflags(write=False)
SCAN_CENTRE = int(np.flatnonzero((np.abs(terrain_mod.SCAN_POINTS) < 1e-9).all(-1))[0])  # the (0, 0) point
HEIGHT_SCAN_CENTRE = OBS_SLICES["height_scan"].start + SCAN_CENTRE  # obs index of the scan's centre point
NUM_SCAN = len(terrain_mod.SCAN_POINTS)  # 187
TORSO_GEOMS = ("torso-box", "torso-head")


@dataclass
class PhysicsState:
    """What the task reads of N envs' physics at the end of a step (numpy or torch, leading dimension N). A backend
    fills it (``mujoco_state`` below for MuJoCo on the CPU, ``WarpDigitSim.state`` for Warp)."""

    qpos: object  # (N, nq)
    qvel: object  # (N, nv)
    qacc: object  # (N, nv)
    actuator_force: object  # (N, nu)
    foot_pos: object  # (N, 2, 3) world position of the two foot boxes (left, right)
    foot_mat: object  # (N, 2, 3, 3) their rotation matrices
    com_z: object  # (N,) z of the whole robot's centre of mass (the torso subtree)
    foot_vel_xy: object  # (N, 2, 2) world xy velocity of the foot bodies at their CoMs (MuJoCo's mj_objectVelocity)
    foot_force: object  # (N, 2) normal force of the ground on each foot box (N), contacts above CONTACT_FORCE
    torso_contact: object  # (N,) bool: a torso geom touches the ground (> CONTACT_FORCE)
    undesired: object  # (N,) number of robot geoms other than the feet in contact (> CONTACT_FORCE)


class ModelIndex:
    """The addresses and constants of a compiled Digit model the task needs (numpy; ``as_torch`` copies them to a
    device once)."""

    def __init__(self, model):
        m = model
        assert tuple(m.actuator(i).name for i in range(m.nu)) == MOTOR_JOINTS
        joints = np.concatenate([m.actuator_trnid[:, 0], [m.joint(j).id for j in PASSIVE_JOINTS]])
        self.jq, self.jv = m.jnt_qposadr[joints].copy(), m.jnt_dofadr[joints].copy()
        self.mq, self.mv = self.jq[:ACTION_DIM], self.jv[:ACTION_DIM]
        self.joint_default = STAND_QPOS[self.jq].copy()
        lim = np.array([m.joint(j).id for j in LIMIT_JOINTS])
        self.lim_q = m.jnt_qposadr[lim].copy()
        mid, half = m.jnt_range[lim].mean(1), 0.5 * np.diff(m.jnt_range[lim], axis=1)[:, 0]
        self.soft_lo, self.soft_hi = mid - SOFT_LIMIT_FACTOR * half, mid + SOFT_LIMIT_FACTOR * half
        self.torso = m.body("torso").id
        self.feet = np.array([m.geom(f).id for f in FEET])
        self.foot_bodies = np.array([m.body(b).id for b in FOOT_BODIES])
        self.foot_size = m.geom_size[self.feet].copy()  # (2, 3) half-sizes of the foot boxes
        self.scan_xy = terrain_mod.SCAN_POINTS.copy()  # (187, 2) body-frame (yaw-aligned) scan offsets

    _ARRAYS = (
        "jq",
        "jv",
        "mq",
        "mv",
        "joint_default",
        "lim_q",
        "soft_lo",
        "soft_hi",
        "feet",
        "foot_bodies",
        "foot_size",
        "scan_xy",
    )

    def as_torch(self, device, dtype):
        """A copy whose arrays are torch tensors on ``device`` (floats in ``dtype``)."""
        import torch

        out = object.__new__(ModelIndex)
        out.__dict__.update(self.__dict__)
        for name in self._ARRAYS:
            a = getattr(self, name)
            out.__dict__[name] = torch.as_tensor(a, device=device, dtype=dtype if a.dtype.kind == "f" else torch.long)
        return out


# ----------------------------------------------------------------------------- batched geometry


def quat_to_mat(q):
    """Rotation matrices (N, 3, 3) of unit quaternions (N, 4) (w, x, y, z): MuJoCo's ``mju_quat2Mat``, batched."""
    xp = xp_of(q)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return xp.stack(rows, -1).reshape(-1, 3, 3)


def heading_of(R):
    """Yaw (N,) of rotation matrices (N, 3, 3): the angle of their x axis in the world xy plane."""
    return xp_of(R).arctan2(R[:, 1, 0], R[:, 0, 0])


def scan_points(base_pos, yaw, idx):
    """World xy (N, 187, 2) of the height-scan points of bases at ``base_pos`` (N, 3) with heading ``yaw`` (N,)
    (``envs.terrain.scan_points_world``, batched for either backend)."""
    xp = xp_of(base_pos)
    c, s = xp.cos(yaw)[:, None], xp.sin(yaw)[:, None]
    sx, sy = idx.scan_xy[:, 0], idx.scan_xy[:, 1]
    return xp.stack([base_pos[:, 0:1] + c * sx - s * sy, base_pos[:, 1:2] + s * sx + c * sy], -1)


# ----------------------------------------------------------------------------- the task


def observe(s: PhysicsState, idx: ModelIndex, steps, command, last_action, origin, env_params, ground_height):
    """Table I's observation (N, 307) and what the reward and termination read besides it.

    ``steps`` (N,) env steps since reset; ``command`` (N, 3); ``last_action`` (N, 20); ``origin`` (N, 3) spawn origin;
    ``env_params`` (N, 13); ``ground_height(xy)``: ground z at world points (N, K, 2) -> (N, K) (the backend's terrain
    access). Returns ``(obs, extra)``, extra = {"R", "yaw", "foot_ground" (N, 2), "base_height" (N,)}."""
    xp = xp_of(s.qpos)
    quat = s.qpos[:, 3:7]
    quat = quat / xp.sqrt((quat * quat).sum(-1, keepdims=True))
    quat = xp.where(quat[:, :1] < 0, -quat, quat)  # w >= 0
    R = quat_to_mat(quat)
    pos, v_w, w_b = s.qpos[:, :3], s.qvel[:, :3], s.qvel[:, 3:6]
    yaw = heading_of(R)
    phase = (2.0 * math.pi * POLICY_DT / GAIT_PERIOD) * steps
    ground = ground_height(xp.concatenate([scan_points(pos, yaw, idx), s.foot_pos[:, :, :2]], 1))  # (N, 189)
    scan = xp.clip(
        pos[:, 2:3] - ground[:, :NUM_SCAN] - terrain_mod.SCAN_OFFSET, -terrain_mod.SCAN_CLIP, terrain_mod.SCAN_CLIP
    )
    parts = {
        "clock": xp.stack([xp.sin(phase), xp.cos(phase)], -1),
        "base_lin_vel": (R * v_w[:, :, None]).sum(1),  # R^T v
        "base_ang_vel": w_b,
        "projected_gravity": -R[:, 2, :],  # R^T (0, 0, -1)
        "command": command,
        "joint_pos": s.qpos[:, idx.jq] - idx.joint_default,
        "joint_vel": s.qvel[:, idx.jv],
        "last_action": last_action,
        "base_lin_vel_w": v_w,
        "base_ang_vel_w": (R * w_b[:, None, :]).sum(-1),  # R w
        "base_pos_w": pos - origin,
        "base_quat_w": quat,
        "env_params": env_params,
        "height_scan": scan,
    }
    obs = xp.concatenate([parts[name] for name, _ in _SIZES], -1)
    extra = {
        "R": R,
        "yaw": yaw,
        "foot_ground": ground[:, NUM_SCAN:],
        "base_height": scan[:, SCAN_CENTRE] + terrain_mod.SCAN_OFFSET,
    }
    return obs, extra


def terminated(s: PhysicsState, obs, extra):
    """(N,) bool: a torso geom touches the ground, the tilt exceeds ``MAX_TILT``, or the torso is less than
    ``MIN_HEIGHT`` above the ground under it. (A backend also ends an env whose state is not finite.)"""
    xp = xp_of(obs)
    gz = obs[:, OBS_SLICES["projected_gravity"].start + 2]
    tilt = xp.arccos(xp.clip(-gz, -1.0, 1.0))
    return s.torso_contact | (tilt > MAX_TILT) | (extra["base_height"] < MIN_HEIGHT)


def update_foot_timers(foot_force, air_time, contact_time, dt=POLICY_DT):
    """The feet's time in contact / in the air (N, 2) after a step with ground forces ``foot_force`` (N, 2)."""
    xp = xp_of(foot_force)
    contact = foot_force > CONTACT_FORCE
    return xp.where(contact, 0.0 * air_time, air_time + dt), xp.where(contact, contact_time + dt, 0.0 * contact_time)


def reward_inputs(
    s: PhysicsState, idx: ModelIndex, obs, extra, action, last_action, command, air_time, contact_time, done, time
) -> RewardInputs:
    """Table II's inputs (batched ``RewardInputs``) of the step's final state; ``action`` is this step's clipped
    action, ``time`` (N,) the time since reset (s) at the step's end."""
    xp = xp_of(obs)
    S = OBS_SLICES
    yaw = extra["yaw"]
    c, sn = xp.cos(yaw), xp.sin(yaw)
    v = s.qvel[:, :3]
    lin_vel_yaw = xp.stack([c * v[:, 0] + sn * v[:, 1], -sn * v[:, 0] + c * v[:, 1], v[:, 2]], -1)
    q_lim = s.qpos[:, idx.lim_q]
    sole = sole_z_of(s.foot_pos, s.foot_mat, idx.foot_size)  # (N, 2)
    return RewardInputs(
        time=time,
        terminated=done,
        command=command,
        action=action,
        last_action=last_action,
        motor_pos_rel=obs[:, S["joint_pos"]][:, :ACTION_DIM],
        motor_vel=s.qvel[:, idx.mv],
        motor_acc=s.qacc[:, idx.mv],
        motor_torque=s.actuator_force,
        limit_excess=xp.clip(idx.soft_lo - q_lim, 0.0, None) + xp.clip(q_lim - idx.soft_hi, 0.0, None),
        projected_gravity=obs[:, S["projected_gravity"]],
        lin_vel_b=obs[:, S["base_lin_vel"]],
        ang_vel_b=obs[:, S["base_ang_vel"]],
        lin_vel_yaw=lin_vel_yaw,
        ang_vel_w=obs[:, S["base_ang_vel_w"]],
        foot_force=s.foot_force,
        air_time=air_time,
        contact_time=contact_time,
        foot_vel_xy=s.foot_vel_xy,
        foot_rel_com=sole - s.com_z[:, None],
        foot_above_ground=sole - extra["foot_ground"],
        undesired_contacts=s.undesired,
    )


def commanded_path_step(commanded_xy, command, yaw, dt=POLICY_DT):
    """The commanded path (N, 2) advanced by one step: + R(yaw) cmd_xy dt, along the robot's own heading (the frame
    ``track_lin_vel_xy`` reads; the "tracking" curriculum compares the walk with it)."""
    xp = xp_of(commanded_xy)
    c, s = xp.cos(yaw), xp.sin(yaw)
    vx, vy = command[:, 0], command[:, 1]
    return commanded_xy + dt * xp.stack([c * vx - s * vy, s * vx + c * vy], -1)


# ----------------------------------------------------------------------------- random events (envs.draws)
# Commands, pushes, Table III's draws, the reset pose and the spawn offset, for n envs at once. ``draws`` is an
# ``envs.draws`` object: a CPU env passes its own numpy generator (n = 1), the Warp env a torch generator on its
# device (n = all worlds; rows that do not reset are drawn and discarded).


def draw_commands(draws, n):
    """(commands (n, 3), seconds until the next draw (n,)): each component uniform in ``COMMAND_RANGES``, all zero
    (a standing command) with probability ``STANDING_SHARE``, redrawn after U(``COMMAND_RESAMPLE_S``) s."""
    xp = draws.xp
    standing = draws.uniform(0.0, 1.0, (n,)) < STANDING_SHARE
    cmd = xp.stack([draws.uniform(lo, hi, (n,)) for lo, hi in COMMAND_RANGES], -1)
    return cmd * (1.0 - standing[:, None] * 1.0), draws.uniform(*COMMAND_RESAMPLE_S, (n,))


def draw_push(draws, n, scale):
    """(velocity kick (n, 2) on the torso's world x, y, seconds until the next push (n,)): Isaac Lab's push_robot,
    U(-0.5, 0.5) m/s per axis times the randomisation strength, every U(10, 15) s."""
    return scale * draws.uniform(-PUSH_VELOCITY, PUSH_VELOCITY, (n, 2)), draws.uniform(*PUSH_INTERVAL_S, (n,))


def draw_env_params(draws, n, scale, gravity_axes="z"):
    """Table III's model draws (n, 13) in ``ENV_PARAM_NAMES`` order, each range times ``scale``: friction
    0.7 + s U(-0.3, 0.3), added torso mass, gravity offset (on z only unless ``gravity_axes="xyz"``: the same draws
    either way), constant external force and torque; the last push's velocity (0 until a push)."""
    mid, half = 0.5 * (FRICTION_RANGE[0] + FRICTION_RANGE[1]), 0.5 * (FRICTION_RANGE[1] - FRICTION_RANGE[0])
    friction = mid + scale * draws.uniform(-half, half, (n,))
    mass = scale * draws.uniform(*ADDED_MASS_RANGE, (n,))
    dg = scale * draws.uniform(-GRAVITY_DELTA, GRAVITY_DELTA, (n, 3))
    if gravity_axes != "xyz":
        dg = dg * draws.xp.asarray([0.0, 0.0, 1.0], **({} if draws.xp is np else {"device": draws.device}))
    force = scale * draws.uniform(-EXT_FORCE, EXT_FORCE, (n, 3))
    torque = scale * draws.uniform(-EXT_TORQUE, EXT_TORQUE, (n, 3))
    return draws.xp.concatenate([friction[:, None], mass[:, None], dg, force, torque, draws.zeros((n, 2))], -1)


def draw_reset_pose(draws, n, scale):
    """(yaw (n,) uniform in [-pi, pi), joint offsets (n, 12) and velocities (n, 12) of ``RESET_NOISE_IDX`` (the hips
    and arms: open chains), times ``scale``)."""
    k = len(RESET_NOISE_IDX)
    yaw = draws.uniform(-math.pi, math.pi, (n,))
    return (
        yaw,
        scale * draws.uniform(-JOINT_POS_NOISE, JOINT_POS_NOISE, (n, k)),
        scale * draws.uniform(-JOINT_VEL_NOISE, JOINT_VEL_NOISE, (n, k)),
    )


def draw_spawn_offset(draws, feet_rel, on_stones, scale):
    """Spawn offsets (n, 2): U(-0.5, 0.5) m per axis times ``scale``; where ``on_stones`` (n,), the first of
    ``SPAWN_TRIES`` draws that keeps all the feet's points ``feet_rel`` (n, P, 2; relative to the tile origin) on the
    1 m platform (a margin of ``SPAWN_PLATFORM_MARGIN``), else 0 (the platform's centre)."""
    xp = draws.xp
    n = feet_rel.shape[0]
    tries = scale * draws.uniform(-BASE_XY_RANGE, BASE_XY_RANGE, (n, SPAWN_TRIES, 2))
    half = terrain_mod.STONES["platform"] / 2 - SPAWN_PLATFORM_MARGIN
    ok = (abs(feet_rel[:, None] + tries[:, :, None]) <= half).all(-1).all(-1) | ~on_stones[:, None]  # (n, tries)
    first = (ok * 1).argmax(1)  # the first draw that fits (0 if none)
    chosen = tries[xp.arange(n), first] if xp is np else tries[xp.arange(n, device=draws.device), first]
    return chosen * (ok.any(1)[:, None] * 1.0)


# ----------------------------------------------------------------------------- MuJoCo (CPU) physics state


def stack_states(states) -> PhysicsState:
    """One ``PhysicsState`` of many (numpy): each field concatenated along the batch axis."""
    return PhysicsState(
        **{f: np.concatenate([getattr(s, f) for s in states]) for f in PhysicsState.__dataclass_fields__}
    )


def mujoco_state(model, data, idx: ModelIndex, ground, foot_of, is_torso) -> PhysicsState:
    """The ``PhysicsState`` (N = 1, numpy float64) of one MuJoCo ``data`` after ``mj_forward``. ``ground`` (ngeom,)
    bool marks the ground geoms, ``foot_of`` (ngeom,) the foot index of a foot geom (-1 otherwise), ``is_torso``
    (ngeom,) bool the torso geoms."""
    import mujoco

    foot_force = np.zeros(2)
    torso = False
    undesired = set()
    f6 = np.zeros(6)
    contact = data.contact  # (each access of data.contact builds a new view: once, not per contact)
    geom1, geom2 = contact.geom1.tolist(), contact.geom2.tolist()
    for i in range(data.ncon):
        g1, g2 = geom1[i], geom2[i]
        mujoco.mj_contactForce(model, data, i, f6)
        if f6[0] <= CONTACT_FORCE:
            continue
        gr1, gr2 = ground[g1], ground[g2]
        if gr1 or gr2:
            robot = g2 if gr1 else g1
            if foot_of[robot] >= 0:
                foot_force[foot_of[robot]] += f6[0]
            elif is_torso[robot]:
                torso = True
            else:
                undesired.add(robot)
        else:  # robot-robot
            undesired.update((g1, g2))
    vel6 = np.zeros(6)
    foot_vel = np.zeros((2, 2))
    for k, b in enumerate(idx.foot_bodies):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, int(b), vel6, 0)
        foot_vel[k] = vel6[3:5]
    return PhysicsState(
        qpos=data.qpos[None],
        qvel=data.qvel[None],
        qacc=data.qacc[None],
        actuator_force=data.actuator_force[None],
        foot_pos=data.geom_xpos[idx.feet][None],
        foot_mat=data.geom_xmat[idx.feet].reshape(1, 2, 3, 3),
        com_z=data.subtree_com[idx.torso, 2:3],
        foot_vel_xy=foot_vel[None],
        foot_force=foot_force[None],
        torso_contact=np.array([torso]),
        undesired=np.array([len(undesired)]),
    )


__all__ = [
    "SUBSTEPS",
    "EPISODE_LENGTH_S",
    "MAX_EPISODE_STEPS",
    "ACTION_SCALE",
    "RECOMMENDED_INIT_STD",
    "COMMAND_RANGES",
    "COMMAND_RESAMPLE_S",
    "STANDING_SHARE",
    "CURRICULUM_RULES",
    "FRICTION_RANGE",
    "ADDED_MASS_RANGE",
    "GRAVITY_DELTA",
    "EXT_FORCE",
    "EXT_TORQUE",
    "BASE_XY_RANGE",
    "PUSH_INTERVAL_S",
    "PUSH_VELOCITY",
    "JOINT_POS_NOISE",
    "JOINT_VEL_NOISE",
    "SPAWN_TRIES",
    "SPAWN_PLATFORM_MARGIN",
    "RESET_NOISE_IDX",
    "MAX_TILT",
    "MIN_HEIGHT",
    "ENV_PARAM_NAMES",
    "NUM_JOINTS",
    "OBS_SLICES",
    "OBS_DIM",
    "STUDENT_DIM",
    "STUDENT_SLICE",
    "DIGIT_NOISY_MASK",
    "SCAN_CENTRE",
    "HEIGHT_SCAN_CENTRE",
    "NUM_SCAN",
    "TORSO_GEOMS",
    "PhysicsState",
    "ModelIndex",
    "quat_to_mat",
    "heading_of",
    "scan_points",
    "observe",
    "terminated",
    "update_foot_timers",
    "reward_inputs",
    "commanded_path_step",
    "draw_commands",
    "draw_push",
    "draw_env_params",
    "draw_reset_pose",
    "draw_spawn_offset",
    "stack_states",
    "mujoco_state",
]
