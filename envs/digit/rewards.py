"""Reward terms of ``l2t/Digit-v3``: paper 2's Table II with Eqs. 6-7, as functions of one step's state.

Each term is a function of the step's state ``s`` (a ``RewardInputs``: what the env measured at the end of the step)
that returns the term's RAW value; a weight set is an explicit table of ``(term, weight)`` rows (``PAPER_REWARDS`` =
Table II, ``V1_REWARDS`` = v1's default). ``reward_terms(s, weights)`` gives ``{name: weight * value * dt}`` (Isaac
Lab's RewardManager multiplies every term by the policy step dt), which sum to the step reward. The terms' names are
Table II's rows. The env's docstring (``envs/digit/env.py``, "Rewards") describes every term and our readings.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import mujoco
import numpy as np

from envs.digit import ACTION_DIM, ARM_MOTORS, MODEL_PATH, MOTOR_JOINTS, POLICY_DT, STAND_QPOS

# Gait and foot trajectory (Eqs. 6-7)
GAIT_PERIOD = 0.68  # s (Eq. 7's h)
FOOT_APEX = 0.10  # m, swing apex of the foot-height trajectory and the foot-clearance target
C1, C2 = 0.5, 0.5  # Eq. 7 constants, per foot
# Isaac Lab's reward parameters (DigitRoughEnvCfg and its base LocomotionVelocityRoughEnvCfg)
CONTACT_FORCE = 1.0  # N, contact threshold
AIR_TIME_THRESHOLD = 0.8  # s
CLEARANCE_STD, CLEARANCE_TANH = 0.05, 2.0
TRACK_STD2 = 0.25  # std^2 of the velocity tracking kernels
SOFT_LIMIT_FACTOR = 0.9  # soft joint limits: this share of the range about its middle

# Motor index groups (in MOTOR_JOINTS order) and the joints of the limit term
_MOTOR_IDX = {name: i for i, name in enumerate(MOTOR_JOINTS)}
HIP_DEV_IDX = np.array([_MOTOR_IDX[f"{s}-hip-{j}"] for s in ("left", "right") for j in ("roll", "yaw")])
TOE_DEV_IDX = np.array([_MOTOR_IDX[f"{s}-toe-{j}"] for s in ("left", "right") for j in ("a", "b")])
ARM_DEV_IDX = np.array([_MOTOR_IDX[f"{s}-{j}"] for s in ("left", "right") for j in ARM_MOTORS])
LIMIT_JOINTS = tuple(f"{s}-{j}" for s in ("left", "right") for j in ("tarsus", "toe-pitch", "toe-roll"))
FEET = ("left-foot", "right-foot")  # the foot box geoms
FOOT_BODIES = ("left-toe-roll", "right-toe-roll")


def xp_of(x):
    """The array namespace of ``x``: ``torch`` for a torch tensor, else ``numpy``. The task's batched code (these
    terms, ``envs/digit/task.py``) is written once against the functions both share, so the MuJoCo-CPU path (numpy,
    float64) and the Warp path (torch on the device, float32) compute every term with the same lines."""
    t = sys.modules.get("torch")
    return t if t is not None and isinstance(x, t.Tensor) else np


def sole_z(model, data, geom_ids):
    """World z of the lowest corner of each foot box."""
    return sole_z_of(data.geom_xpos[geom_ids], data.geom_xmat[geom_ids].reshape(-1, 3, 3), model.geom_size[geom_ids])


def sole_z_of(pos, mat, size):
    """World z of the lowest corner of boxes at ``pos`` (..., 3), rotation ``mat`` (..., 3, 3), half-sizes ``size``
    (..., 3): the batched form of ``sole_z``."""
    return pos[..., 2] - (abs(mat[..., 2, :]) * size).sum(-1)


def _stance_rel_com():
    model = mujoco.MjModel.from_xml_path(str(MODEL_PATH))
    data = mujoco.MjData(model)
    data.qpos[:] = STAND_QPOS
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    feet = [model.geom(f).id for f in FEET]
    return float(np.mean(sole_z(model, data, feet)) - data.subtree_com[model.body("torso").id, 2])


FOOT_STANCE_REL_COM = _stance_rel_com()  # sole z - CoM z at the standing pose (~ -0.94 m)


def _device(x):
    """The torch device of ``x`` (None for numpy: ``numpy.asarray`` accepts ``device=None``)."""
    return getattr(x, "device", None) if not isinstance(x, np.ndarray) else None


def _sq(x):
    return (x * x).sum(-1)


def _float(x, like):
    """bool array -> 0.0 / 1.0 in the float dtype of array ``like`` (numpy or torch; torch's ``x * 1.0`` would give
    float32 whatever ``like`` is)."""
    if isinstance(x, np.ndarray) or not hasattr(x, "to"):
        return np.asarray(x, dtype=np.result_type(like, np.float32))
    return x.to(like.dtype)


def gait_phi(t):
    """Eq. 7's phi(t) = sin(2 pi t / h) of the left foot (the right foot's is -phi); > 0 means stance. ``t``: a
    float or an array of times."""
    return xp_of(t).sin(2.0 * math.pi * t / GAIT_PERIOD)


def _quintic(u):
    return u**3 * (10.0 - 15.0 * u + 6.0 * u * u)


def foot_height_target(t):
    """Eq. 6's target (..., 2) (left, right): sole z - CoM z, at time(s) ``t`` (a float or an (N,) array). Stance:
    ``FOOT_STANCE_REL_COM``; swing: + FOOT_APEX * bump. The left foot swings in the second half of the gait cycle (its
    phi < 0), the right one in the first."""
    xp = xp_of(t)
    p = xp.asarray(t) % GAIT_PERIOD / GAIT_PERIOD  # gait phase in [0, 1)
    swing = xp.stack(
        [(p - 0.5) * 2.0, p * 2.0], -1
    )  # swing progress of the left and right foot; outside [0, 1): stance
    u = xp.clip(xp.where(swing < 0.5, 2.0 * swing, 2.0 - 2.0 * swing), 0.0, 1.0)
    bump = _quintic(u) * _float((swing >= 0.0) & (swing < 1.0), u)
    return FOOT_STANCE_REL_COM + FOOT_APEX * bump


@dataclass
class RewardInputs:
    """One step's state as the reward terms read it (at the step's end). Defaults describe a robot standing still.
    Every field may carry a leading batch dimension (N envs: ``time`` (N,), ``command`` (N, 3), ...) and be numpy or
    torch: the terms index the LAST axis only, so one definition serves a single env and a batch on either backend."""

    time: float = 0.0
    terminated: bool = False
    command: np.ndarray = field(default_factory=lambda: np.zeros(3))
    action: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))
    last_action: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))
    motor_pos_rel: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))  # minus the standing pose
    motor_vel: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))
    motor_acc: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))
    motor_torque: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM))
    limit_excess: np.ndarray = field(default_factory=lambda: np.zeros(len(LIMIT_JOINTS)))  # rad beyond the soft limits
    projected_gravity: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, -1.0]))
    lin_vel_b: np.ndarray = field(default_factory=lambda: np.zeros(3))
    ang_vel_b: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lin_vel_yaw: np.ndarray = field(default_factory=lambda: np.zeros(3))  # world velocity in the heading frame
    ang_vel_w: np.ndarray = field(default_factory=lambda: np.zeros(3))
    foot_force: np.ndarray = field(default_factory=lambda: np.zeros(2))  # N, normal, left/right, from the ground
    air_time: np.ndarray = field(default_factory=lambda: np.zeros(2))
    contact_time: np.ndarray = field(default_factory=lambda: np.zeros(2))
    foot_vel_xy: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    foot_rel_com: np.ndarray = field(default_factory=lambda: np.full(2, FOOT_STANCE_REL_COM))  # sole z - CoM z
    foot_above_ground: np.ndarray = field(default_factory=lambda: np.zeros(2))  # sole height above the terrain
    undesired_contacts: int = 0


# ----------------------------------------------------------------------------- the terms (raw values)
# Every term reads the last axis of its inputs and returns one value per env (a 0-d array for a single env), with
# numpy or torch (``xp_of``): the MuJoCo-CPU and the Warp backend run these same lines.


def termination(s):
    """1 if the step ended in a fall (terminated), else 0 (also on the time-out)."""
    return _float(xp_of(s.command).asarray(s.terminated, device=_device(s.command)), s.command)


def alive(s):
    """1 if not terminated."""
    return 1.0 - termination(s)


def action_rate(s):
    """norm(a_t - a_{t-1})^2."""
    return _sq(s.action - s.last_action)


def dof_vel(s):
    """Sum of the squared motor joint velocities."""
    return _sq(s.motor_vel)


def undesired_contacts(s):
    """Number of robot geoms other than the feet in contact (> 1 N): toe rods on the ground, self-contacts."""
    return _float(xp_of(s.command).asarray(s.undesired_contacts, device=_device(s.command)) * 1, s.command)


def flat_orientation(s):
    """norm(projected gravity xy)^2."""
    g = s.projected_gravity
    return g[..., 0] * g[..., 0] + g[..., 1] * g[..., 1]


def feet_air_time(s):
    """Isaac Lab's ``feet_air_time_positive_biped``: in single stance the shorter contact / air time (capped)."""
    xp = xp_of(s.contact_time)
    contact = s.contact_time > 0.0
    in_mode = xp.where(contact, s.contact_time, s.air_time)  # each foot's time in its current mode
    single = contact[..., 0] != contact[..., 1]  # 0 in double stance, flight and for standing commands
    value = xp.clip(xp.minimum(in_mode[..., 0], in_mode[..., 1]), None, AIR_TIME_THRESHOLD)
    moving = xp.hypot(s.command[..., 0], s.command[..., 1]) > 0.1
    return value * _float(single & moving, value)


def _foot_speed(s):
    xp = xp_of(s.foot_vel_xy)
    return xp.hypot(s.foot_vel_xy[..., 0], s.foot_vel_xy[..., 1])  # (..., 2)


def feet_sliding(s):
    """Sum over the feet in contact of norm(foot body velocity xy) (Isaac Lab's ``feet_slide``)."""
    return (_foot_speed(s) * _float(s.foot_force > CONTACT_FORCE, s.foot_force)).sum(-1)


def dof_pos_limits(s):
    """Sum of the excess over the soft limits of tarsus, toe-pitch and toe-roll (rad)."""
    return s.limit_excess.sum(-1)


def joint_deviation_hip(s):
    """Sum of abs(q - q_stand) over hip roll and hip yaw."""
    return abs(s.motor_pos_rel[..., HIP_DEV_IDX]).sum(-1)


def joint_deviation_arms(s):
    """Sum of abs(q - q_stand) over the 8 arm motors."""
    return abs(s.motor_pos_rel[..., ARM_DEV_IDX]).sum(-1)


def joint_deviation_toes(s):
    """Sum of abs(q - q_stand) over toe-A and toe-B."""
    return abs(s.motor_pos_rel[..., TOE_DEV_IDX]).sum(-1)


def foot_contact(s):
    """Eq. 7 per foot, summed: +C1 where the contact matches the phase (phi > 0 <=> F_GRF > 1 N), else -C2."""
    xp = xp_of(s.foot_force)
    phi = gait_phi(s.time) * xp.ones_like(s.foot_force[..., 0])  # left; the right foot's is -phi
    contact = s.foot_force > CONTACT_FORCE
    match = (xp.stack([phi, -phi], -1) > 0.0) == contact
    return (_float(match, s.foot_force) * (C1 + C2) - C2).sum(-1)


def track_foot_height(s):
    """Eq. 6: exp(-norm(h - h_target)_2), h = sole z - CoM z of both feet."""
    xp = xp_of(s.foot_rel_com)
    err = s.foot_rel_com - foot_height_target(s.time)
    return xp.exp(-xp.sqrt(_sq(err)))


def foot_clearance(s):
    """exp(-sum_feet (h_ground - apex)^2 tanh(2 norm(v_xy)) / 0.05), h_ground = sole height above the terrain."""
    xp = xp_of(s.foot_above_ground)
    err = ((s.foot_above_ground - FOOT_APEX) ** 2 * xp.tanh(CLEARANCE_TANH * _foot_speed(s))).sum(-1)
    return xp.exp(-err / CLEARANCE_STD)


def track_lin_vel_xy(s):
    """exp(-norm(cmd_xy - v_xy)^2 / 0.25), v in the heading frame."""
    err = s.command[..., :2] - s.lin_vel_yaw[..., :2]
    return xp_of(err).exp(-_sq(err) / TRACK_STD2)


def track_ang_vel_z(s):
    """exp(-(cmd_wz - w_z)^2 / 0.25), world z."""
    err = s.command[..., 2] - s.ang_vel_w[..., 2]
    return xp_of(err).exp(-err * err / TRACK_STD2)


def lin_vel_z(s):
    """v_z^2 in the torso frame (Table II's "Lin vel XY" row, read as Isaac Lab's ``lin_vel_z_l2``)."""
    return s.lin_vel_b[..., 2] ** 2


def ang_vel_xy(s):
    """w_x^2 + w_y^2 in the torso frame (Table II's "Ang vel Z" row, read as Isaac Lab's ``ang_vel_xy_l2``)."""
    return _sq(s.ang_vel_b[..., :2])


def dof_torques(s):
    """Sum of the squared motor torques (actuator forces)."""
    return _sq(s.motor_torque)


def dof_acc(s):
    """Sum of the squared motor joint accelerations."""
    return _sq(s.motor_acc)


# ----------------------------------------------------------------------------- weight sets

# Table II (reward_weights="paper").
PAPER_REWARDS = (
    (termination, -200.0),
    (alive, 0.01),
    (action_rate, -0.015),
    (dof_vel, -5e-4),
    (undesired_contacts, -1.0),
    (flat_orientation, -10.0),
    (feet_air_time, 0.25),
    (feet_sliding, -1.0),
    (dof_pos_limits, -0.5),
    (joint_deviation_hip, -5.0),
    (joint_deviation_arms, -0.3),
    (joint_deviation_toes, -0.1),
    (foot_contact, 2.0),
    (track_foot_height, 0.5),
    (foot_clearance, 0.5),
    (track_lin_vel_xy, 0.5),
    (track_ang_vel_z, 1.0),
    (lin_vel_z, -2.0),
    (ang_vel_xy, -0.1),
    (dof_torques, -1e-5),
    (dof_acc, -2.5e-7),
)

# v1's default (reward_weights="v1"): Table II except four penalties at Isaac Lab's DigitRoughEnvCfg values. With
# Table II's a zero-mean policy exploring at std 0.3 (the v0 runs' std) earns -0.059 a step (without the termination
# term; -0.028 at std 0.2), below -0.04 = (1 - gamma) x the fall's term (-200 x 0.02 s, gamma 0.99): falling early
# paid. With these it earns -0.007 at std 0.3, -0.030 at 0.5 (8 seeds, nominal flat ground; the four were the largest
# penalties at std 0.1: hip -0.0080, flat orientation -0.0068, feet sliding -0.0039, torques -0.0036 a step).
V1_CHANGES = {  # term -> v1's weight, where it differs from Table II's
    flat_orientation: -2.5,  # Table II: -10.0
    feet_sliding: -0.25,  # Table II: -1.0
    joint_deviation_hip: -0.2,  # Table II: -5.0; Isaac Lab: hip yaw -0.2 (hip roll -0.1)
    dof_torques: -1e-6,  # Table II: -1e-5
}
V1_REWARDS = tuple((term, V1_CHANGES.get(term, weight)) for term, weight in PAPER_REWARDS)  # same order

REWARD_FUNCTIONS = {term.__name__: term for term, _ in PAPER_REWARDS}  # name -> term, Table II's order
PAPER_REWARD_WEIGHTS = {term.__name__: w for term, w in PAPER_REWARDS}
REWARD_WEIGHTS = {term.__name__: w for term, w in V1_REWARDS}
# v2's default (reward_weights="v2"): v1 with velocity tracking weighted 2.0 (Table II: 0.5). At 0.5 against foot
# contact's 2.0, stepping in place to the gait clock pays more than following the command (docs/environments.md).
V2_REWARD_WEIGHTS = dict(REWARD_WEIGHTS, track_lin_vel_xy=2.0)
REWARD_WEIGHT_SETS = {"v2": V2_REWARD_WEIGHTS, "v1": REWARD_WEIGHTS, "paper": PAPER_REWARD_WEIGHTS}
assert [t for t, _ in V1_REWARDS] == [t for t, _ in PAPER_REWARDS]  # the same terms in the same order


def reward_terms(s: RewardInputs, weights=None, dt: float = POLICY_DT) -> dict:
    """Every Table II term of state ``s``, weighted and times dt (Isaac Lab's convention): {name: w * value * dt}.
    ``weights``: {name: weight} (default ``REWARD_WEIGHTS``, v1's)."""
    weights = REWARD_WEIGHTS if weights is None else weights
    return {name: weights[name] * term(s) * dt for name, term in REWARD_FUNCTIONS.items()}


__all__ = [
    "GAIT_PERIOD",
    "FOOT_APEX",
    "C1",
    "C2",
    "CONTACT_FORCE",
    "AIR_TIME_THRESHOLD",
    "CLEARANCE_STD",
    "CLEARANCE_TANH",
    "TRACK_STD2",
    "SOFT_LIMIT_FACTOR",
    "HIP_DEV_IDX",
    "TOE_DEV_IDX",
    "ARM_DEV_IDX",
    "LIMIT_JOINTS",
    "FEET",
    "FOOT_BODIES",
    "FOOT_STANCE_REL_COM",
    "xp_of",
    "sole_z",
    "sole_z_of",
    "gait_phi",
    "foot_height_target",
    "RewardInputs",
    "PAPER_REWARDS",
    "V1_REWARDS",
    "REWARD_FUNCTIONS",
    "PAPER_REWARD_WEIGHTS",
    "REWARD_WEIGHTS",
    "V2_REWARD_WEIGHTS",
    "REWARD_WEIGHT_SETS",
    "reward_terms",
] + [term.__name__ for term, _ in PAPER_REWARDS]
