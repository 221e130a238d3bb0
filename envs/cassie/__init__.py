"""Cassie biped: our own primitive-geometry MJCF (``cassie.xml`` next to this file).

Numbers from the MuJoCo Menagerie ``agility_cassie`` model (MIT, (c) 2022 Agility Robotics); see
README.md. The 10 motors are PD position actuators inside MuJoCo, so ``data.ctrl`` holds target
joint angles (rad) and ``mujoco.mj_step(model, data, nstep=k)`` runs a whole control period.

qpos (35) = root pos (3) + root quat (4) + per leg (left, then right): hip-roll, hip-yaw,
hip-pitch, achilles-rod quat (4), knee, shin, tarsus, heel-spring, foot-crank, plantar-rod, foot.
Motor qpos/dof indices: ``model.jnt_qposadr[model.actuator_trnid[:, 0]]`` / ``model.jnt_dofadr[...]``.
"""

from pathlib import Path

import mujoco
import numpy as np

MODEL_PATH = Path(__file__).resolve().with_name("cassie.xml")

# Actuator order == joint order (actuators are named after their joints).
LEG_MOTORS = ("hip-roll", "hip-yaw", "hip-pitch", "knee", "foot")
MOTOR_JOINTS = tuple(f"{side}-{name}" for side in ("left", "right") for name in LEG_MOTORS)


def _const(values):
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


# Joint-level PD gains (older OSU apex Cassie code) and torque limits (motor ctrlrange x gear), per motor.
KP = _const([100.0, 100.0, 88.0, 96.0, 50.0] * 2)  # N m / rad
KD = _const([10.0, 10.0, 8.0, 9.6, 5.0] * 2)  # N m s / rad (joint passive damping 1.0 comes on top)
TORQUE_LIMITS = _const([112.5, 112.5, 195.2, 195.2, 45.0] * 2)  # N m at the joint


def load_model() -> mujoco.MjModel:
    """A fresh ``MjModel`` of Cassie on a floor plane (timestep 2 ms, implicitfast; keyframe 0 = ``home``)."""
    return mujoco.MjModel.from_xml_path(str(MODEL_PATH))


_model = load_model()
SIM_DT = float(_model.opt.timestep)
HOME_QPOS = _const(_model.key("home").qpos)  # (35,) standing pose, feet on the floor
HOME_CTRL = _const(_model.key("home").ctrl)  # (10,) motor joint angles at home = PD targets that hold it
del _model

# The reference motion and the env import the names above, so they come after them. (The env is registered in
# envs/__init__.py, the one registration site of every env.)
from envs.cassie.env import (  # noqa: E402
    CASSIE_NOISY_MASK,
    ENV_ID,
    MAX_EPISODE_STEPS,
    STATE_DIM,
    STATE_SLICES,
    CassieEnv,
)

# (the function `reference` is not re-exported: the name would hide the module envs.cassie.reference)
from envs.cassie.reference import PERIOD, SPEED  # noqa: E402

__all__ = [
    "MODEL_PATH",
    "LEG_MOTORS",
    "MOTOR_JOINTS",
    "KP",
    "KD",
    "TORQUE_LIMITS",
    "SIM_DT",
    "HOME_QPOS",
    "HOME_CTRL",
    "load_model",
    "ENV_ID",
    "CassieEnv",
    "CASSIE_NOISY_MASK",
    "STATE_DIM",
    "STATE_SLICES",
    "MAX_EPISODE_STEPS",
    "PERIOD",
    "SPEED",
]
