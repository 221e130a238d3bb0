"""Left-right mirror images of Digit's states, observations and actions (for symmetry data augmentation).

Mirroring reflects the world in the robot's sagittal plane (y -> -y): the left and right limbs swap, and

* every joint of ours maps to its twin on the other side with its sign flipped (Digit's right-side joints have
  mirrored axes: the standing pose is q_right = -q_left for all 30 joints, and so are the joint ranges);
* polar vectors (velocities, positions, gravity, forces) flip their y component; axial vectors (angular
  velocities, torques) flip x and z; a rotation quaternion (w, x, y, z) becomes (w, -x, y, -z);
* the command (vx, vy, yaw rate) becomes (vx, -vy, -yaw rate);
* the gait clock advances half a period, (sin, cos) -> (-sin, -cos): Eq. 7's right foot has the left foot's phase
  shifted by half a cycle;
* the height scan's rows y -> -y swap.

Mirror maps are (index, sign) pairs over the last axis: ``x_mirrored[..., i] = sign[i] * x[..., index[i]]``;
``mirror(x, MAP)`` applies one to numpy arrays or torch tensors. Each map is an involution (applied twice it is the
identity; tests/test_digit_symmetry.py). The same idea as rsl_rl's symmetry module (Mittal et al., "Symmetry
considerations for learning task symmetric robot policies", ICRA 2024); our own code.
"""

from __future__ import annotations

import numpy as np

from envs import terrain as terrain_mod
from envs.digit import ACTION_DIM, MOTOR_JOINTS, PASSIVE_JOINTS
from envs.digit.task import ENV_PARAM_NAMES, OBS_DIM, OBS_SLICES, STUDENT_DIM

_JOINTS = MOTOR_JOINTS + PASSIVE_JOINTS  # the observation's joint order


def _twin(name: str) -> str:
    side, rest = name.split("-", 1)
    return f"{'right' if side == 'left' else 'left'}-{rest}"


def _joint_map(names):
    """Swap each joint with its twin, sign flipped."""
    return np.array([names.index(_twin(n)) for n in names]), -np.ones(len(names))


def _build_obs_map():
    index, sign = np.arange(OBS_DIM), np.ones(OBS_DIM)

    def put(name, idx, sgn):
        sl = OBS_SLICES[name]
        index[sl], sign[sl] = sl.start + np.asarray(idx), np.asarray(sgn, dtype=np.float64)

    polar, axial = ([0, 1, 2], [1, -1, 1]), ([0, 1, 2], [-1, 1, -1])
    put("clock", [0, 1], [-1, -1])
    for name in ("base_lin_vel", "projected_gravity", "base_lin_vel_w", "base_pos_w"):
        put(name, *polar)
    for name in ("base_ang_vel", "base_ang_vel_w"):
        put(name, *axial)
    put("command", [0, 1, 2], [1, -1, -1])
    put("joint_pos", *_joint_map(_JOINTS))
    put("joint_vel", *_joint_map(_JOINTS))
    put("last_action", *_joint_map(MOTOR_JOINTS))
    put("base_quat_w", [0, 1, 2, 3], [1, -1, 1, -1])
    param_sign = {"gravity_y": -1, "force_y": -1, "torque_x": -1, "torque_z": -1, "push_vy": -1}
    put("env_params", np.arange(len(ENV_PARAM_NAMES)), [param_sign.get(n, 1) for n in ENV_PARAM_NAMES])
    nx, ny = len(terrain_mod.SCAN_X), len(terrain_mod.SCAN_Y)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")  # flat index iy * nx + ix
    put("height_scan", ((ny - 1 - iy) * nx + ix).ravel(), np.ones(nx * ny))
    return index, sign


STATE_MAP = _build_obs_map()  # the teacher's state (OBS_DIM,)
OBS_MAP = (STATE_MAP[0][:STUDENT_DIM].copy(), STATE_MAP[1][:STUDENT_DIM].copy())  # the student's terms come first
ACTION_MAP = _joint_map(MOTOR_JOINTS)
assert len(ACTION_MAP[0]) == ACTION_DIM and (OBS_MAP[0] < STUDENT_DIM).all()


def mirror(x, mirror_map):
    """The mirror image of ``x`` (..., D) (numpy or torch) under ``mirror_map`` = (index, sign), both (D,)."""
    index, sign = mirror_map
    if isinstance(x, np.ndarray):
        return x[..., index] * sign
    import torch

    return x[..., torch.as_tensor(index, device=x.device)] * torch.as_tensor(sign, dtype=x.dtype, device=x.device)


__all__ = ["STATE_MAP", "OBS_MAP", "ACTION_MAP", "mirror"]
