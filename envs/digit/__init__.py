"""Digit V3 humanoid: our own primitive-geometry MJCF (``digit.xml`` next to this file).

Numbers from the OSU DRL roadrunner ``digit-v3.xml`` / ``mj_digitsim.py`` (MIT, (c) 2024 OSU DRL; originally
Agility Robotics'); see README.md. The 20 motors are PD position actuators inside MuJoCo, so ``data.ctrl`` holds
target joint angles (rad) and ``mujoco.mj_step(model, data, nstep=k)`` runs a whole control period.

qpos (61) = root pos (3) + root quat (4) + left leg (23) + left arm (4) + right leg (23) + right arm (4).
Leg: hip-roll, hip-yaw, hip-pitch, achilles-rod quat (4), knee, shin, tarsus, heel-spring, toe-a,
toe-a-rod quat (4), toe-b, toe-b-rod quat (4), toe-pitch, toe-roll. Arm: shoulder-roll, -pitch, -yaw, elbow.
Motor qpos/dof indices: ``model.jnt_qposadr[model.actuator_trnid[:, 0]]`` / ``model.jnt_dofadr[...]``.

Terrain: the whole robot is the ``torso`` subtree of the world body, and the only contacts MuJoCo checks
are the explicit ``<pair>``s (every geom has contype=conaffinity=0). To put the robot on other ground,
edit ``mujoco.MjSpec.from_file(str(MODEL_PATH))``: delete the ``floor`` geom (and its pairs), add the terrain
geoms to ``spec.worldbody`` and let each meet the geoms of ``GROUND_CONTACT_GEOMS`` with the floor pairs'
parameters (condim=3, friction=[0.7, 0.7, 0.01, 0.005, 0.005], solref=[0.005, 1]), by explicit pairs or by a
contype/conaffinity bit with geom priority (``envs.terrain.add_to_spec`` does the latter), then
``spec.compile()``.
"""

from pathlib import Path

import mujoco
import numpy as np

MODEL_PATH = Path(__file__).resolve().with_name("digit.xml")

# Actuator order == joint order == the LLAPI/OSU motor order (actuators are named after their joints).
LEG_MOTORS = ("hip-roll", "hip-yaw", "hip-pitch", "knee", "toe-a", "toe-b")
ARM_MOTORS = ("shoulder-roll", "shoulder-pitch", "shoulder-yaw", "elbow")
MOTOR_JOINTS = tuple(f"{side}-{name}" for side in ("left", "right") for name in LEG_MOTORS + ARM_MOTORS)
ACTION_DIM = len(MOTOR_JOINTS)  # 20: one action (PD target) per motor
# Unactuated hinges (springs and the passive tarsus / toe joints); the rods are ball joints.
PASSIVE_JOINTS = tuple(
    f"{side}-{name}"
    for side in ("left", "right")
    for name in ("shin", "tarsus", "heel-spring", "toe-pitch", "toe-roll")
)
# Geoms that touch the ground (the source's floor pairs): feet and the toe rods.
GROUND_CONTACT_GEOMS = tuple(
    f"{side}-{name}" for side in ("left", "right") for name in ("foot", "toe-a-rod", "toe-b-rod")
)


def _const(values):
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


# Joint-level PD gains of the OSU roadrunner Digit code (MIT), per motor in MOTOR_JOINTS order (for reference).
OSU_KP = _const([80.0, 80.0, 110.0, 140.0, 40.0, 40.0, 80.0, 80.0, 50.0, 80.0] * 2)  # N m / rad
OSU_KD = _const([8.0, 8.0, 10.0, 12.0, 6.0, 6.0, 9.0, 9.0, 7.0, 9.0] * 2)  # N m s / rad
# OUR gains (what digit.xml uses): the OSU ones with the 12 leg motors' kp x LEG_GAIN_FACTOR and kd x sqrt of it,
# arms unchanged. Why: with the OSU gains a fixed standing target does not hold Digit up (zero action: the torso
# sinks 1.0 -> 0.7 m and it falls after ~1.5 s; the OSU policies add their own offsets). Measured on flat ground,
# nominal model, zero action (README.md "Gains"): leg factor 3-7 fall within 4-9.4 s, 8 is the smallest that stands
# 10 s (torso 0.963 m), 10 stands 10 s at 0.971 m using at most 47 % of any torque limit. 10 keeps a margin over 8.
LEG_GAIN_FACTOR = 10.0
_LEG = np.array([name.split("-", 1)[1] in LEG_MOTORS for name in MOTOR_JOINTS])
KP = _const(np.where(_LEG, OSU_KP * LEG_GAIN_FACTOR, OSU_KP))  # N m / rad
KD = _const(np.where(_LEG, OSU_KD * np.sqrt(LEG_GAIN_FACTOR), OSU_KD))  # N m s / rad (joint damping comes on top)
# Joint-level torque limits (N m at the joint) that the source simulation clips to: its XML ctrlrange (motor N m) x
# gear. Gear 80 (hip roll, shoulder roll, shoulder pitch, elbow): 1.4125 x 80 = 113.0; the others equal the LLAPI
# output limits. (v0 used the LLAPI's 126.682458 for the gear-80 joints; the source uses that only to normalise a
# torque reward.)
TORQUE_LIMITS = _const(
    [113.0, 79.176536, 216.927898, 231.31695, 41.975942, 41.975942, 113.0, 113.0, 79.176536, 113.0] * 2
)
# The LLAPI joint-level output torque limits (motor limit x gear), for reference.
LLAPI_TORQUE_LIMITS = _const(
    [126.682458, 79.176536, 216.927898, 231.31695, 41.975942, 41.975942, 126.682458, 126.682458, 79.176536, 126.682458]
    * 2
)


# The source's physics (OSU digit-v3.xml): 0.5 ms steps and its equality solimp. digit.xml uses 2 ms and a stiffer
# equality solimp (ours; README.md "Physics at 2 ms"); ``load_model(source_physics=True)`` gives the source's.
SOURCE_TIMESTEP = 0.0005
SOURCE_EQ_SOLIMP = _const([0.9, 0.95, 0.001, 0.1, 2.0])


def set_source_physics(model: mujoco.MjModel) -> mujoco.MjModel:
    """Switch ``model`` (in place) to the source's 0.5 ms timestep and equality solimp; returns it."""
    model.opt.timestep = SOURCE_TIMESTEP
    model.eq_solimp[:] = SOURCE_EQ_SOLIMP
    return model


def load_model(source_physics: bool = False) -> mujoco.MjModel:
    """A fresh ``MjModel`` of Digit V3 on a floor plane (keyframe 0 = ``stand``): timestep 2 ms (``SIM_DT``), or the
    source's 0.5 ms and equality solimp if ``source_physics``."""
    model = mujoco.MjModel.from_xml_path(str(MODEL_PATH))
    return set_source_physics(model) if source_physics else model


_model = load_model()
SIM_DT = float(_model.opt.timestep)
POLICY_DT = 0.02  # s: one control period = one step of l2t/Digit-v3 (50 Hz, Isaac Lab's Digit: 4 x 5 ms)
STAND_QPOS = _const(_model.key("stand").qpos)  # (61,) OSU reset pose, feet ~0.4 mm above the floor
STAND_CTRL = _const(_model.key("stand").ctrl)  # (20,) motor joint angles of that pose = PD targets
del _model

__all__ = [
    "MODEL_PATH",
    "LEG_MOTORS",
    "ARM_MOTORS",
    "MOTOR_JOINTS",
    "ACTION_DIM",
    "PASSIVE_JOINTS",
    "GROUND_CONTACT_GEOMS",
    "KP",
    "KD",
    "OSU_KP",
    "OSU_KD",
    "LEG_GAIN_FACTOR",
    "TORQUE_LIMITS",
    "LLAPI_TORQUE_LIMITS",
    "SIM_DT",
    "POLICY_DT",
    "STAND_QPOS",
    "STAND_CTRL",
    "SOURCE_TIMESTEP",
    "SOURCE_EQ_SOLIMP",
    "set_source_physics",
    "load_model",
]
