"""``l2t/Digit-v3``: Digit V3 velocity tracking over rough terrain (paper 2, section IV; Isaac Lab's Digit task).

``DigitEnv``'s docstring is the reference, laid out as Gymnasium's MuJoCo envs (Description, Action Space, Observation
Space, Rewards, Starting State, Episode End, Arguments, Version History). The reward terms are in
``envs/digit/rewards.py``, the terrain grid, height scan and curriculum in ``envs/terrain.py``, the model in
``envs/digit/__init__.py`` and the vectorised env in ``envs/digit/vector.py``.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import mujoco
import numpy as np

from envs import terrain as terrain_mod
from envs.draws import NumpyDraws
from envs.geometry import quat_to_mat
from envs.digit import (
    ACTION_DIM,
    GROUND_CONTACT_GEOMS,
    MODEL_PATH,
    POLICY_DT,
    SOURCE_TIMESTEP,
    STAND_CTRL,
    STAND_QPOS,
    set_source_physics,
)
from envs.digit.rewards import (
    C1,
    C2,
    FOOT_APEX,
    FOOT_STANCE_REL_COM,  # noqa: F401 (re-exported for the tests)
    PAPER_REWARD_WEIGHTS,
    foot_height_target,
)
from envs.digit.rewards import (
    CONTACT_FORCE,
    GAIT_PERIOD,
    REWARD_WEIGHT_SETS,
    REWARD_WEIGHTS,  # noqa: F401
    RewardInputs,
    reward_terms,
    sole_z,
)

# the task's constants live in envs/digit/task.py (re-exported here: this module's names are the env's public API)
from envs.digit.task import (
    ACTION_SCALE,
    ADDED_MASS_RANGE,
    BASE_XY_RANGE,
    COMMAND_RANGES,  # noqa: F401
    COMMAND_RESAMPLE_S,
    CURRICULUM_RULES,
    DIGIT_NOISY_MASK,
    ENV_PARAM_NAMES,
    EPISODE_LENGTH_S,
    EXT_FORCE,
    EXT_TORQUE,
    FRICTION_RANGE,
    GRAVITY_DELTA,
    HEIGHT_SCAN_CENTRE,
    JOINT_POS_NOISE,
    JOINT_VEL_NOISE,
    MAX_EPISODE_STEPS,
    MAX_TILT,
    MIN_HEIGHT,
    OBS_DIM,
    OBS_SLICES,
    PUSH_INTERVAL_S,
    PUSH_VELOCITY,
    RECOMMENDED_INIT_STD,
    RESET_NOISE_IDX,
    SPAWN_PLATFORM_MARGIN,
    SPAWN_TRIES,
    STANDING_SHARE,
    STUDENT_DIM,
    STUDENT_SLICE,
    SUBSTEPS,
    TORSO_GEOMS,
)
from envs.digit import task
from envs.render import TrackingRenderer

ENV_ID = "l2t/Digit-v3"
SOURCE_SUBSTEPS = int(round(POLICY_DT / SOURCE_TIMESTEP))  # 40 of 0.5 ms with source_physics=True


def heading(R):
    """Yaw (rad) of a rotation matrix: the angle of its x axis in the world xy plane."""
    return float(np.arctan2(R[1, 0], R[0, 0]))


def yaw_from_quat(quat):
    """Yaw (rad) of quaternions (w, x, y, z): (4,) -> float, (N, 4) -> (N,)."""
    q = np.asarray(quat, dtype=np.float64)
    return heading(quat_to_mat(q)) if q.ndim == 1 else np.array([heading(quat_to_mat(x)) for x in q])


# ----------------------------------------------------------------------------- env

# Compiled models (and their terrain) per terrain setting, built once per process: generating and compiling the rough
# grid takes ~0.5 s, copying the model ~10 ms, so a process that holds many envs builds them quickly. Each env gets
# its own deep copy of the model; the Terrain object (read-only) is shared.
_COMPILED: dict = {}


def _compile(terrain, terrain_rows, terrain_cols, terrain_seed, terrain_preset):
    """(Terrain or None, compiled MjModel, names of the ground geoms) of one terrain setting."""
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    if terrain == "rough":
        grid = terrain_mod.generate(terrain_rows, terrain_cols, seed=terrain_seed, preset=terrain_preset)
        ground_names = frozenset(terrain_mod.add_to_spec(spec, grid, contact_geoms=GROUND_CONTACT_GEOMS + TORSO_GEOMS))
    else:
        grid = None
        for g in TORSO_GEOMS:
            spec.add_pair(
                name=f"floor-{g}",
                geomname1="floor",
                geomname2=g,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in terrain_mod.PAIR_PARAMS.items()},
            )
        ground_names = frozenset({"floor"})
    # MuJoCo's sleep flag: with it on, the poses of static geoms (the world body's: floor, terrain) are computed
    # once instead of every physics step (its cost: docs/environments.md). The robot itself never sleeps: its tree is
    # actuated, so MuJoCo gives it the policy "auto never" (checked below and in tests/test_digit_env.py); the
    # trajectory is unchanged.
    spec.option.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    model = spec.compile()
    never = (int(mujoco.mjtSleepPolicy.mjSLEEP_NEVER), int(mujoco.mjtSleepPolicy.mjSLEEP_AUTO_NEVER))
    assert all(int(p) in never for p in model.tree_sleep_policy), model.tree_sleep_policy
    return grid, model, ground_names


def compiled_model(
    terrain="rough",
    terrain_rows=terrain_mod.NUM_ROWS,
    terrain_cols=terrain_mod.NUM_COLS,
    terrain_seed=0,
    terrain_preset="gentle",
):
    """(Terrain or None, nominal compiled MjModel, names of the ground geoms) of one terrain setting, compiled once
    per process (``_COMPILED``); every backend builds its worlds from this one model. Do not edit the model: copy it."""
    key = (
        (terrain, int(terrain_rows), int(terrain_cols), int(terrain_seed), terrain_preset)
        if terrain == "rough"
        else (terrain,)
    )
    if key not in _COMPILED:
        _COMPILED[key] = _compile(terrain, terrain_rows, terrain_cols, terrain_seed, terrain_preset)
    return _COMPILED[key]


class DigitEnv(gym.Env):
    """Digit V3 velocity tracking over rough terrain: ``l2t/Digit-v3``.

    ## Description

    The Agility Robotics Digit V3 humanoid (``envs/digit/digit.xml``, our MJCF from the OSU DRL ``osudrl/roadrunner``
    model; envs/digit/README.md) tracks a commanded planar velocity and yaw rate over the terrain grid of
    ``envs/terrain.py``. Numbers are paper 2's (L2T-PPO on Digit, section IV, Tables I-III, Eqs. 6-7), else Isaac Lab's
    (``isaac-sim/IsaacLab``: ``DigitRoughEnvCfg`` and its base ``LocomotionVelocityRoughEnvCfg``), else ours, marked
    "(ours)". ``terrain="flat"``: the model's floor plane instead. Only the feet, toe rods and torso touch the ground.

    One env step = one 20 ms policy step (50 Hz) = ``SUBSTEPS`` = 10 physics steps of 2 ms (ours; the source: 0.5 ms)
    in one ``mj_step(..., nstep=10)``, then ``mj_forward`` so that contacts, velocities, CoM and actuator forces belong
    to the final state, which a step's observation and reward use. The PD runs inside MuJoCo at 500 Hz. ``t`` = time
    since reset (s). MuJoCo's sleep flag is on (static geoms' poses computed once; the robot never sleeps).
    ``source_physics=True`` restores the source's 0.5 ms step and equality solimp (40 substeps).

    Commands (Isaac Lab's Digit task): vx ~ U(-0.8, 0.8) m/s, vy ~ U(-0.5, 0.5) m/s, yaw rate ~ U(-1, 1) rad/s
    (``COMMAND_RANGES``), drawn at reset and every U(3, 8) s (``COMMAND_RESAMPLE_S``); with probability 0.1 a draw is
    all zero (``STANDING_SHARE``). No heading controller (ours).

    ## Action Space

    ``Box(-1, 1, (20,), float32)``: one PD position target per motor (``MOTOR_JOINTS`` order), ``data.ctrl =
    STAND_CTRL + action_scale * clip(a, -1, 1)`` rad, ``action_scale`` = 0.5 (Isaac Lab's Digit
    ``JointPositionAction``); MuJoCo clamps it to the joint range. The clip is ours (Isaac Lab does not clip); a
    non-finite action raises ``ValueError``. Standing targets: the OSU reset pose.

    | index | joint (motor)        | range   | unit         | standing target (rad) | joint range (rad) |
    |-------|----------------------|---------|--------------|-----------------------|-------------------|
    | 0     | left-hip-roll        | [-1, 1] | action_scale | +0.333                | [-1.047, +1.047]  |
    | 1     | left-hip-yaw         | [-1, 1] | action_scale | -0.027                | [-0.698, +0.698]  |
    | 2     | left-hip-pitch       | [-1, 1] | action_scale | +0.192                | [-1.047, +1.571]  |
    | 3     | left-knee            | [-1, 1] | action_scale | +0.229                | [-1.396, +1.019]  |
    | 4     | left-toe-a           | [-1, 1] | action_scale | -0.013                | [-0.808, +0.785]  |
    | 5     | left-toe-b           | [-1, 1] | action_scale | -0.020                | [-0.801, +0.795]  |
    | 6     | left-shoulder-roll   | [-1, 1] | action_scale | -0.106                | [-1.309, +1.309]  |
    | 7     | left-shoulder-pitch  | [-1, 1] | action_scale | +0.895                | [-2.531, +2.531]  |
    | 8     | left-shoulder-yaw    | [-1, 1] | action_scale | -0.009                | [-1.745, +1.745]  |
    | 9     | left-elbow           | [-1, 1] | action_scale | +0.345                | [-1.353, +1.353]  |
    | 10    | right-hip-roll       | [-1, 1] | action_scale | -0.333                | [-1.047, +1.047]  |
    | 11    | right-hip-yaw        | [-1, 1] | action_scale | +0.027                | [-0.698, +0.698]  |
    | 12    | right-hip-pitch      | [-1, 1] | action_scale | -0.192                | [-1.571, +1.047]  |
    | 13    | right-knee           | [-1, 1] | action_scale | -0.229                | [-1.019, +1.396]  |
    | 14    | right-toe-a          | [-1, 1] | action_scale | +0.013                | [-0.785, +0.808]  |
    | 15    | right-toe-b          | [-1, 1] | action_scale | +0.020                | [-0.795, +0.801]  |
    | 16    | right-shoulder-roll  | [-1, 1] | action_scale | +0.106                | [-1.309, +1.309]  |
    | 17    | right-shoulder-pitch | [-1, 1] | action_scale | -0.895                | [-2.531, +2.531]  |
    | 18    | right-shoulder-yaw   | [-1, 1] | action_scale | +0.009                | [-1.745, +1.745]  |
    | 19    | right-elbow          | [-1, 1] | action_scale | -0.345                | [-1.353, +1.353]  |

    PD gains (ours; Isaac Lab's are not public): the OSU gains with the leg kp x 10, kd x sqrt(10). A learner should
    start its Gaussian policy at std ``RECOMMENDED_INIT_STD`` = 0.05 action units with a near-zero mean (ours).

    ## Observation Space

    ``Box(-inf, inf, (307,), float64)``: the student's 94 terms (Table I, upper half; ``STUDENT_DIM``), then the
    privileged ones. ``NoisyObservation(env, alpha, noisy_mask=DIGIT_NOISY_MASK)`` noises the "noisy" terms only. The
    joint terms hold the 30 joints j below (the paper's "30 degrees of freedom, 20 actuated"):

    | j  | joint                | kind    | j  | joint                | kind    | j  | joint                | kind    |
    |----|----------------------|---------|----|----------------------|---------|----|----------------------|---------|
    | 0  | left-hip-roll        | motor   | 10 | right-hip-roll       | motor   | 20 | left-shin            | spring  |
    | 1  | left-hip-yaw         | motor   | 11 | right-hip-yaw        | motor   | 21 | left-tarsus          | passive |
    | 2  | left-hip-pitch       | motor   | 12 | right-hip-pitch      | motor   | 22 | left-heel-spring     | spring  |
    | 3  | left-knee            | motor   | 13 | right-knee           | motor   | 23 | left-toe-pitch       | passive |
    | 4  | left-toe-a           | motor   | 14 | right-toe-a          | motor   | 24 | left-toe-roll        | passive |
    | 5  | left-toe-b           | motor   | 15 | right-toe-b          | motor   | 25 | right-shin           | spring  |
    | 6  | left-shoulder-roll   | motor   | 16 | right-shoulder-roll  | motor   | 26 | right-tarsus         | passive |
    | 7  | left-shoulder-pitch  | motor   | 17 | right-shoulder-pitch | motor   | 27 | right-heel-spring    | spring  |
    | 8  | left-shoulder-yaw    | motor   | 18 | right-shoulder-yaw   | motor   | 28 | right-toe-pitch      | passive |
    | 9  | left-elbow           | motor   | 19 | right-elbow          | motor   | 29 | right-toe-roll       | passive |

    | index   | term (Table I)              | content                                                         | noisy |
    |---------|-----------------------------|-----------------------------------------------------------------|-------|
    | 0-1     | clock input (2)             | sin(2 pi t / 0.68), cos(2 pi t / 0.68)                          | no    |
    | 2-4     | base lin. vel. (3)          | torso linear velocity, torso frame (m/s)                        | yes   |
    | 5-7     | base ang. vel. (3)          | torso angular velocity, torso frame (rad/s)                     | yes   |
    | 8-10    | projected gravity (3)       | R^T (0, 0, -1), unit (nominal direction, not the randomised g)  | yes   |
    | 11-13   | velocity command (3)        | vx, vy (m/s, heading frame), yaw rate (rad/s)                   | no    |
    | 14-43   | joint pos. (30)             | 14 + j: joint j minus the standing pose (Isaac Lab              | yes   |
    |         |                             | ``joint_pos_rel``), rad                                         |       |
    | 44-73   | joint vel. (30)             | 44 + j: joint j's velocity, rad/s                               | yes   |
    | 74-93   | last action (20)            | 74 + j: the clipped action of motor j in the previous step (0   | no    |
    |         |                             | after reset)                                                    |       |
    | 94-96   | base lin. vel. (w) (3)      | torso linear velocity, world frame                              | no    |
    | 97-99   | base ang. vel. (w) (3)      | torso angular velocity, world frame                             | no    |
    | 100-102 | base pos. (w) (3)           | torso position minus the episode's spawn origin, world axes (m) | no    |
    | 103-106 | base quat. (w) (4)          | torso quaternion w, x, y, z (w >= 0)                            | no    |
    | 107-119 | env params (13; paper: 316) | friction, added base mass, gravity (3), external force (3),     | no    |
    |         |                             | external torque (3), last push delta-v x, y (2); see below      |       |
    | 120-306 | height scan (187)           | ``envs.terrain.scan_values``: base_z - ground_z - 0.5, clip     | no    |
    |         |                             | +-1, yaw-aligned 17 x 11 grid, x fastest                        |       |

    Table I's "root state (w)" (7) is left out: it repeats base pos. (w) and base quat. (w). The env params are the 13
    randomised values (``ENV_PARAM_NAMES``; the paper's 316 are not itemised). ``HEIGHT_SCAN_CENTRE``: the index of
    the scan's centre point.

    ## Rewards

    Table II, one function a term in ``envs/digit/rewards.py``; reward = ``sum_k w_k * value_k * dt``, dt = 0.02 s
    (Isaac Lab's convention); ``info["reward_terms"]`` holds the summands. ``reward_weights``: "v2" (default: v1's with
    track lin vel XY 2.0), "v1" (column v1; empty: Table II's), "paper" (Table II) or ``{term: w}`` over v1's.

    | term (Table II)           | paper   | v1    | value (Isaac Lab name / ours)                                      |
    |---------------------------|---------|-------|--------------------------------------------------------------------|
    | termination penalty       | -200.0  |       | 1 if terminated (a fall), 0 otherwise, 0 on time-out               |
    | being alive               | 0.01    |       | 1 if not terminated (``is_alive``)                                 |
    | action rate               | -0.015  |       | norm(a_t - a_{t-1})^2                                              |
    | DOF velocity              | -5e-4   |       | sum of squared motor joint velocities (20 motors)                  |
    | undesired contacts        | -1.0    |       | number of robot geoms (not feet) in contact > 1 N: toe rods on the |
    |                           |         |       | ground and self-contacts (foot-foot, foot-rod, heels, arm-torso)   |
    | flat orientation          | -10.0   | -2.5  | norm(projected gravity xy)^2                                       |
    | feet air time             | 0.25    |       | ``feet_air_time_positive_biped``, threshold 0.8 s (Digit), 0 if    |
    |                           |         |       | norm(cmd_xy) < 0.1                                                 |
    | feet sliding              | -1.0    | -0.25 | sum over feet in contact of norm(foot body velocity xy)            |
    |                           |         |       | (``feet_slide``)                                                   |
    | DOF pos limits            | -0.5    |       | sum over tarsus, toe-pitch, toe-roll of the excess over the soft   |
    |                           |         |       | limits (90 % of the range about its middle; Isaac Lab's Digit)     |
    | joint deviation hip       | -5.0    | -0.2  | sum abs(q - q_stand) over hip roll and hip yaw (4) (Isaac Lab:     |
    |                           |         |       | roll -0.1, yaw -0.2)                                               |
    | joint deviation arms      | -0.3    |       | sum abs(q - q_stand) over the 8 arm motors                         |
    | joint deviation toes      | -0.1    |       | sum abs(q - q_stand) over toe-A and toe-B (4)                      |
    | foot contact (Eq. 7)      | 2.0     |       | per foot +c1 if (phi > 0) == (F_GRF > 1 N) else -c2, c1 = c2 =     |
    |                           |         |       | 0.5, summed: [-1, 1]; phi_left = sin(2 pi t / 0.68), phi_right =   |
    |                           |         |       | -phi_left (half a cycle apart)                                     |
    | track foot height (Eq. 6) | 0.5     |       | exp(-norm(h - h_target)_2) over both feet; h = sole z - CoM z      |
    |                           |         |       | (whole robot), h_target = stance value + 0.10 m x quintic bump     |
    |                           |         |       | over the swing (see below)                                         |
    | foot clearance            | 0.5     |       | exp(-sum_feet (h_ground - 0.10)^2 tanh(2 norm(v_xy)) / 0.05),      |
    |                           |         |       | h_ground = sole height above the terrain under it (Isaac Lab's     |
    |                           |         |       | Spot term uses world z)                                            |
    | track lin vel XY          | 0.5     |       | exp(-norm(cmd_xy - v_xy)^2 / 0.25), v in the yaw (heading) frame   |
    | track ang vel Z           | 1.0     |       | exp(-(cmd_wz - w_z)^2 / 0.25), world z                             |
    | "lin vel XY" -> lin vel Z | -2.0    |       | v_z^2, torso frame (``lin_vel_z_l2``)                              |
    | "ang vel Z" -> ang vel XY | -0.1    |       | w_x^2 + w_y^2, torso frame (``ang_vel_xy_l2``)                     |
    | DOF torques               | -1e-5   | -1e-6 | sum of squared motor torques (actuator forces)                     |
    | DOF acc                   | -2.5e-7 |       | sum of squared motor joint accelerations (qacc at the step's end)  |

    Table II's "Lin vel XY" and "Ang vel Z" penalties are read as Isaac Lab's ``lin_vel_z_l2`` and ``ang_vel_xy_l2``
    (ours). Gait (Eqs. 6, 7): h = 0.68 s; a foot is in stance while its phi > 0; over its swing (progress s in [0, 1))
    the target rises by ``FOOT_APEX`` * p(min(2s, 2 - 2s)), p(u) = 10u^3 - 15u^4 + 6u^5; stance value: sole z - CoM z
    at the standing pose (``FOOT_STANCE_REL_COM``), sole = the foot box's lowest corner. The clock runs for standing
    commands too. Table II's weights, and why ours differ: docs/environments.md.

    ## Starting State

    The standing pose (``STAND_QPOS``) at the tile's origin, feet 1 mm above the highest ground under them; the model
    re-sampled from its nominal values; a new command. Tile row = terrain level, updated at reset
    (``envs.terrain.update_levels``) by ``curriculum``: "tracking" (ours): down after a fall or after getting less than
    half as far from the origin as the commands led (|sum_t R(yaw_t) cmd_xy,t dt|), else up beyond
    ``PROMOTE_DISTANCE`` = 2 m; "isaac" (Isaac Lab's ``terrain_levels_vel``): up beyond 4 m, else down below half of
    ``|cmd_xy| * 20 s`` of the last command. A seeded reset starts a fresh curriculum on level
    U{0..max_init_level}, ``reset(options={"terrain_level": L})`` continues one from level L. Column (terrain type):
    ``terrain_col``, else drawn uniformly at each reset (ours). On the flat floor: level 0, origin 0. Every draw uses
    ``self.np_random``: the same ``reset(seed=...)`` and actions give the same rollout.

    Domain randomisation (Table III), every range scaled by s = ``randomization_scale`` in [0, 1]
    (``set_randomization_scale(s)``: from the next reset; a learner ramps s up from 0). ``randomize=False``: none
    (nominal model, spawn at the origin, yaw 0); ``randomization_scale=0``: the same but for the random yaw.

    | event (Table III)    | what                                                     | range at s = 1 (scaled by s)   |
    |----------------------|----------------------------------------------------------|--------------------------------|
    | rand. friction coeff | sliding friction of every ground contact (terrain/floor  | 0.7 + s U(-0.3, 0.3): U(0.4,   |
    |                      | pairs, terrain boxes: ``model.pair_friction``,           | 1.0) at s = 1 (nominal 0.7)    |
    |                      | ``model.geom_friction``)                                 |                                |
    | add base mass        | ``model.body_mass[torso]`` += dm (then ``mj_setConst``)  | U(-5, 5) kg (Isaac Lab)        |
    | rand. gravity        | ``model.opt.gravity[2]`` += dg (Isaac Lab: z only);      | U(-0.5, 0.5) m/s^2             |
    |                      | ``gravity_axes="xyz"``: every axis (v0's reading)        |                                |
    | add external force   | ``data.xfrc_applied[torso]``: constant force and torque  | U(-10, 10) N, U(-2, 2) N m per |
    |                      | for the episode                                          | axis                           |
    | rand. base location  | spawn xy = origin + U(-0.5, 0.5) m, yaw U(-pi, pi) (not  | Isaac Lab                      |
    |                      | scaled: heading is no disturbance); z so that the feet   |                                |
    |                      | are 1 mm above the highest ground under them. On a       |                                |
    |                      | stepping-stones tile the offset is redrawn (up to 50     |                                |
    |                      | times, else 0) until both feet are on the 1 m platform   |                                |
    |                      | (2 cm margin) (ours)                                     |                                |
    | push robot           | every U(10, 15) s: torso world velocity x, y += U(-0.5,  | Isaac Lab; none at s = 0       |
    |                      | 0.5) m/s (during the episode, after the step's reward)   |                                |
    | rand. robot joints   | hip roll/yaw/pitch and arm motors (open chains: the      | +-0.1 rad, +-0.1 rad/s         |
    |                      | closed chains stay closed) + U offsets, velocities U     |                                |

    ## Episode End

    ### Termination
    When a torso geom touches the ground (> 1 N; Isaac Lab), the tilt (torso z to world z) exceeds ``MAX_TILT`` = 0.7
    rad (Isaac Lab's Digit ``bad_orientation``), the torso is less than ``MIN_HEIGHT`` = 0.5 m above the ground at the
    scan's centre point (ours; standing: 1.0 m), or the state is not finite.

    ### Truncation
    At ``max_episode_steps`` = ``MAX_EPISODE_STEPS`` = 1000 steps = 20 s, by the env itself (the registration's
    TimeLimit agrees; a shorter ``gym.make(..., max_episode_steps=N)`` does not reach the env: pass the kwarg too).

    ``info``: ``reward_terms``, ``command``, ``foot_contact`` (2 bools, > 1 N); at an episode's end also
    ``terrain_level``, ``terrain_col`` (type ``self.terrain.types[col]``), ``distance_walked`` (m from the spawn
    origin) and ``success`` (reached the time-out). ``reset``'s ``info``: ``terrain_level``, ``terrain_col``,
    ``command``.

    ## Arguments

    | parameter             | type        | default     | description                                                  |
    |-----------------------|-------------|-------------|--------------------------------------------------------------|
    | `render_mode`         | str or None | None        | None or "rgb_array" (a camera tracking the torso)            |
    | `terrain`             | str         | "rough"     | "rough": the tile grid of ``envs/terrain.py``; "flat": floor |
    | `terrain_rows`        | int         | 10          | grid rows = curriculum levels (``terrain.NUM_ROWS``)         |
    | `terrain_cols`        | int         | 20          | grid columns = terrain types (``terrain.NUM_COLS``)          |
    | `terrain_seed`        | int         | 0           | seed of the grid's random content (rough tiles, stone tops)  |
    | `terrain_col`         | int or None | None        | fix the column (terrain type); None: drawn at each reset     |
    | `randomize`           | bool        | True        | False: no Table III randomisation (nominal robot, yaw 0)     |
    | `max_episode_steps`   | int         | 1000        | the env's own time-out (steps)                               |
    | `width`, `height`     | int         | 640, 480    | rendered frame size                                          |
    | `source_physics`      | bool        | False       | True: the source's 0.5 ms step and equality solimp           |
    | `action_scale`        | float       | 0.5         | rad of PD target per unit action (> 0)                       |
    | `reward_weights`      | str or dict | "v2"        | "v2", "v1", "paper" (Table II) or {term: w} overriding v1's  |
    | `randomization_scale` | float       | 1.0         | strength s in [0, 1] of every Table III range                |
    | `gravity_axes`        | str         | "z"         | "z" (Isaac Lab) or "xyz": the axes of the gravity offset     |
    | `curriculum`          | str         | "tracking"  | the terrain level rule: "tracking" or "isaac" (below)        |
    | `terrain_preset`      | str         | "gentle"    | tile ranges, ``terrain.PRESETS``: "gentle" (stairs and stone |
    |                       |             |             | gaps from 0 m; rough keeps 2 cm at row 0), "isaac", or v2's  |
    |                       |             |             | "gentle_v2"                                                  |
    | `max_init_level`      | int         | 0           | a fresh curriculum starts on a level drawn from U{0..this}   |
    |                       |             |             | (Isaac Lab's 5; 0: every env starts on the easiest row)      |

    ## Version History

    * v3: stepping stones: the tile's border reaches in to one gap from the outermost stones (terrain preset
      "gentle"), so row 0 of every type but random rough is flat ground; v2's border left a 15 cm trench down to
      the pit round row 0's stones. ``l2t/Digit-v2`` passes ``terrain_preset="gentle_v2"``.
    * v2: defaults that train from scratch: reward weights "v2", curriculum "tracking", terrain preset "gentle",
      ``max_init_level`` 0. ``l2t/Digit-v1`` passes v1's ("v1", "isaac", "isaac", 5).
    * v1: 2 ms physics, gear-80 torque limit 113.0 N m, ``RECOMMENDED_INIT_STD``, weights "v1", randomisation
      strength, gravity on z only, stepping-stone spawns on the platform, observation 314 -> 307.
    * v0: first version. Each change in detail, with the measurements behind it: docs/environments.md.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        render_mode: str | None = None,
        terrain: str = "rough",
        terrain_rows: int = terrain_mod.NUM_ROWS,
        terrain_cols: int = terrain_mod.NUM_COLS,
        terrain_seed: int = 0,
        terrain_col: int | None = None,
        randomize: bool = True,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        width: int = 640,
        height: int = 480,
        source_physics: bool = False,
        action_scale: float = ACTION_SCALE,
        reward_weights="v2",
        randomization_scale: float = 1.0,
        gravity_axes: str = "z",
        curriculum: str = "tracking",
        terrain_preset: str = "gentle",
        max_init_level: int = 0,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if terrain not in ("rough", "flat"):
            raise ValueError(f"terrain must be 'rough' or 'flat', got {terrain!r}")
        self.render_mode = render_mode
        self.terrain_kind = terrain
        self.randomize = bool(randomize)
        self.max_episode_steps = int(max_episode_steps)
        self.terrain_col = terrain_col
        if terrain_preset not in terrain_mod.PRESETS:
            raise ValueError(f"terrain_preset must be one of {', '.join(terrain_mod.PRESETS)}, got {terrain_preset!r}")
        self.terrain, nominal_model, ground_names = compiled_model(
            terrain, terrain_rows, terrain_cols, terrain_seed, terrain_preset
        )
        if terrain_col is not None and terrain == "rough" and not 0 <= terrain_col < self.terrain.num_cols:
            raise ValueError(f"terrain_col must be in [0, {self.terrain.num_cols}), got {terrain_col}")
        self.model = m = copy.deepcopy(nominal_model)  # ours alone: the randomisation edits it
        self.source_physics = bool(source_physics)
        if self.source_physics:  # the source's 0.5 ms / solimp, for comparisons (v0's physics)
            set_source_physics(m)
        self.substeps = SOURCE_SUBSTEPS if self.source_physics else SUBSTEPS
        if not (np.isfinite(action_scale) and action_scale > 0):
            raise ValueError(f"action_scale must be a positive number, got {action_scale!r}")
        self.action_scale = float(action_scale)
        if isinstance(reward_weights, str):
            if reward_weights not in REWARD_WEIGHT_SETS:
                raise ValueError(
                    f"reward_weights must be one of {sorted(REWARD_WEIGHT_SETS)} or a dict, got {reward_weights!r}"
                )
            weights = REWARD_WEIGHT_SETS[reward_weights]
        else:  # a dict of overrides on the v1 weights
            unknown = set(reward_weights) - set(REWARD_WEIGHTS)
            if unknown:
                raise ValueError(f"reward_weights has unknown terms {sorted(unknown)}")
            weights = dict(REWARD_WEIGHTS, **{k: float(v) for k, v in reward_weights.items()})
        self.reward_weights = dict(weights)
        if gravity_axes not in ("z", "xyz"):
            raise ValueError(f"gravity_axes must be 'z' or 'xyz', got {gravity_axes!r}")
        self.gravity_axes = gravity_axes
        if curriculum not in CURRICULUM_RULES:
            raise ValueError(f"curriculum must be one of {CURRICULUM_RULES}, got {curriculum!r}")
        self.curriculum = curriculum
        if not (isinstance(max_init_level, (int, np.integer)) and max_init_level >= 0):
            raise ValueError(f"max_init_level must be an integer >= 0, got {max_init_level!r}")
        self.max_init_level = int(max_init_level)
        self.randomization_scale = 1.0
        self.set_randomization_scale(randomization_scale)
        self.data = mujoco.MjData(m)
        self.dt = POLICY_DT
        self._idx = task.ModelIndex(m)  # the addresses the task reads (envs/digit/task.py)

        idx = self._idx  # (short names for the reset code)
        self._mq, self._mv, self._torso, self._feet = idx.mq, idx.mv, idx.torso, idx.feet
        # geom classes for the contact scan
        self._ground = np.zeros(m.ngeom, bool)
        self._ground[[m.geom(n).id for n in ground_names]] = True
        self._foot_of = np.full(m.ngeom, -1)
        self._foot_of[self._feet] = [0, 1]
        self._is_torso = np.zeros(m.ngeom, bool)
        self._is_torso[[m.geom(g).id for g in TORSO_GEOMS]] = True
        # friction targets: pairs with a ground geom, and ground geoms (boxes win by priority)
        self._ground_pairs = np.flatnonzero(self._ground[m.pair_geom1] | self._ground[m.pair_geom2])
        self._ground_geoms = np.flatnonzero(self._ground)
        # nominal values: every reset re-samples from these
        self._nominal = dict(
            pair_friction=m.pair_friction.copy(),
            geom_friction=m.geom_friction.copy(),
            body_mass=m.body_mass.copy(),
            gravity=m.opt.gravity.copy(),
        )

        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float64)
        self._width, self._height = width, height
        self._renderer = None
        self._forward_at = None  # the state at which the last step's final mj_forward ran (see _physics_step)
        self.terrain_level = None if self.terrain is not None else 0  # the curriculum's row; drawn at the first reset
        self._init_episode_state()

    def _init_episode_state(self):
        self._t = 0
        self._command = np.zeros(3)
        self._last_action = np.zeros(ACTION_DIM)
        self._air_time = np.zeros(2)
        self._contact_time = np.zeros(2)
        self._env_params = np.zeros(len(ENV_PARAM_NAMES))
        self._origin = np.zeros(3)
        self._commanded_xy = np.zeros(2)  # the commanded path: sum of R(yaw) cmd_xy dt over the episode
        self._fell = False
        self._next_command_t = np.inf
        self._next_push_t = np.inf

    # ------------------------------------------------------------------ randomisation and commands

    def set_randomization_scale(self, scale: float) -> None:
        """Strength s in [0, 1] of the Table III randomisation, applied from the next reset: every range is scaled by
        s (friction spread about the nominal 0.7, added mass, gravity, external force and torque, spawn offset, joint
        offsets and velocities, push velocity). 0 = nominal robot and spawn (yaw stays random), 1 = Table III. Reach
        it in a vector env with ``envs.call("set_randomization_scale", s)``."""
        scale = float(scale)
        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"randomization_scale must be in [0, 1], got {scale!r}")
        self.randomization_scale = scale

    def _sample_command(self):
        cmd, delay = task.draw_commands(NumpyDraws(self.np_random), 1)  # envs/digit/task.py, shared with Warp
        self._command = cmd[0]
        self._next_command_t = self._t * self.dt + float(delay[0])

    def _randomize_model(self):
        m, rng, nom = self.model, self.np_random, self._nominal
        m.pair_friction[:] = nom["pair_friction"]
        m.geom_friction[:] = nom["geom_friction"]
        m.body_mass[:] = nom["body_mass"]
        m.opt.gravity[:] = nom["gravity"]
        p = np.zeros(len(ENV_PARAM_NAMES))
        p[0] = float(
            nom["geom_friction"][self._ground_geoms[0], 0]
            if self.terrain is not None
            else nom["pair_friction"][self._ground_pairs[0], 0]
        )  # the nominal ground friction
        if self.randomize:
            p = task.draw_env_params(NumpyDraws(rng), 1, self.randomization_scale, self.gravity_axes)[0]
            m.pair_friction[self._ground_pairs, :2] = p[0]
            m.geom_friction[self._ground_geoms, 0] = p[0]
            m.body_mass[self._torso] += p[1]
            m.opt.gravity[:] += p[2:5]
        mujoco.mj_setConst(m, self.data)  # body_subtreemass, invweight0 etc. of the new mass
        self._env_params = p

    def _ground_height(self, xy):
        """Ground z at points xy (n, 2): ``Terrain.ground_height``, 0 on the flat floor."""
        return np.zeros(len(xy)) if self.terrain is None else self.terrain.ground_height(xy)

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random
        m, d = self.model, self.data
        col, origin = 0, np.zeros(3)
        if self.terrain is not None:  # the terrain curriculum (Isaac Lab's terrain_levels_vel)
            rows = self.terrain.num_rows
            level = None if options is None else options.get("terrain_level")
            if level is not None:  # a curriculum continued (a resumed run): this episode starts on that level
                if not (float(level) == int(level) and 0 <= int(level) < rows):
                    raise ValueError(f"options['terrain_level'] must be an integer in [0, {rows - 1}], got {level!r}")
                self.terrain_level = int(level)
            elif seed is not None or self.terrain_level is None:  # a fresh curriculum
                self.terrain_level = int(terrain_mod.initial_levels(1, rows, rng, self.max_init_level)[0])
            else:  # on reset, from the previous episode's end state
                walked = float(np.linalg.norm(d.qpos[:2] - self._origin[:2]))
                if self.curriculum == "isaac":  # Isaac Lab: the last command's speed over the whole episode
                    commanded = np.linalg.norm(self._command[:2]) * EPISODE_LENGTH_S
                else:  # "tracking": where the commands led, and a fall is a failure
                    commanded = float(np.linalg.norm(self._commanded_xy))
                self.terrain_level = int(
                    terrain_mod.update_levels(
                        [self.terrain_level], [walked], [commanded], rows, rng, fell=[self._fell], rule=self.curriculum
                    )[0]
                )
            col = self.terrain_col if self.terrain_col is not None else int(rng.integers(self.terrain.num_cols))
            origin = self.terrain.origins[self.terrain_level, col].copy()
        self._init_episode_state()
        self._col = col
        self._origin = origin

        mujoco.mj_resetData(m, d)
        self._randomize_model()
        d.qpos[:] = STAND_QPOS
        d.qpos[:2] = origin[:2]
        yaw = 0.0
        k = self.randomization_scale
        draws = NumpyDraws(rng)
        if self.randomize:
            yaw, dq, dv = (x[0] for x in task.draw_reset_pose(draws, 1, k))
            d.qpos[self._mq[RESET_NOISE_IDX]] += dq
            d.qvel[self._mv[RESET_NOISE_IDX]] = dv
        d.qpos[3:7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        mujoco.mj_kinematics(m, d)
        feet = self._foot_points()  # at the tile origin; a spawn offset moves them rigidly
        offset = np.zeros(2)
        if self.randomize:  # on stepping stones, both feet on the platform
            on_stones = np.array([self._stone_platform(col) is not None])
            offset = task.draw_spawn_offset(draws, (feet - origin[:2])[None], on_stones, k)[0]
        d.qpos[:2] += offset
        # rest the feet on the highest ground under them (3 x 3 points over each foot box)
        ground = float(np.max(self._ground_height(feet + offset)))
        d.qpos[2] += ground + 0.001 - float(np.min(sole_z(m, d, self._feet)))
        d.ctrl[:] = STAND_CTRL
        d.xfrc_applied[self._torso, :3] = self._env_params[5:8]
        d.xfrc_applied[self._torso, 3:] = self._env_params[8:11]
        mujoco.mj_forward(m, d)
        self._sample_command()
        self._next_push_t = float(task.draw_push(draws, 1, k)[1][0]) if self.randomize and k > 0 else np.inf
        obs, _ = self._observe()
        return obs, {"terrain_level": self.terrain_level, "terrain_col": col, "command": self._command.copy()}

    def step(self, action):
        self._physics_step(action)
        return step_task([self])[0]

    def _physics_step(self, action):
        """The physics half of a step: clip the action, set the PD targets, run one control period and a final
        ``mj_forward``. ``step_task`` does the task half (batched over many envs in ``DigitVectorEnv``)."""
        m, d = self.model, self.data
        a = np.minimum(np.maximum(np.asarray(action, dtype=np.float64).reshape(ACTION_DIM), -1.0), 1.0)  # clip
        if not np.isfinite(a).all():  # clipping lets NaN through to the controls
            raise ValueError(f"action must be finite, got {action!r}")
        d.ctrl[:] = STAND_CTRL + self.action_scale * a
        if self._forward_at is not None and np.array_equal(self._forward_at, self._state_key()):
            # the last step's final mj_forward already did the position and velocity stages (mj_step1) at this very
            # state: run only the control-dependent rest of the first physics step (mj_step2), then the others.
            # The same computation as mj_step (bit for bit; tests/test_digit_env.py), one mj_step1 cheaper.
            mujoco.mj_step2(m, d)
            mujoco.mj_step(m, d, nstep=self.substeps - 1)
        else:
            mujoco.mj_step(m, d, nstep=self.substeps)
        mujoco.mj_forward(m, d)  # everything below belongs to the final state
        self._forward_at = self._state_key()
        self._t += 1
        self._action = a

    def _state_key(self):
        """What mj_step1 reads of the data: time, positions and velocities (a copy)."""
        d = self.data
        return np.concatenate([[d.time], d.qpos, d.qvel])

    def _end_step(self, obs, terms, terminated, in_contact, yaw):
        """The per-env bookkeeping after the task's batched half: episode end, then commands and pushes."""
        d = self.data
        finite = yaw is not None
        t = self._t * self.dt
        truncated = bool(not terminated and self._t >= self.max_episode_steps)
        reward = float(sum(terms.values()))
        self._last_action = self._action
        info = {"reward_terms": terms, "command": self._command.copy(), "foot_contact": in_contact.copy()}
        if finite:  # the commanded path, along the robot's own heading (the frame track_lin_vel_xy reads)
            self._commanded_xy = task.commanded_path_step(
                self._commanded_xy[None], self._command[None], np.array([yaw])
            )[0]
        if terminated or truncated:
            self._fell = terminated
            info["terrain_level"], info["terrain_col"] = self.terrain_level, self._col
            info["distance_walked"] = float(np.linalg.norm(d.qpos[:2] - self._origin[:2])) if finite else 0.0
            info["success"] = bool(truncated)
        elif finite:  # events after the physics and the reward, as Isaac Lab: commands, then pushes
            changed = False
            if t >= self._next_command_t - 1e-9:
                self._sample_command()
                changed = True
            if t >= self._next_push_t - 1e-9:
                dv, interval = task.draw_push(NumpyDraws(self.np_random), 1, self.randomization_scale)
                d.qvel[:2] += dv[0]
                self._env_params[11:13] = dv[0]
                self._next_push_t = t + float(interval[0])
                changed = True
            if changed:
                obs, _ = self._observe()
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------------ helpers

    def _foot_points(self):
        """World xy (18, 2) of 3 x 3 points over each foot box (corners, edge midpoints, centre), current kinematics."""
        m, d = self.model, self.data
        R = d.geom_xmat[self._feet].reshape(-1, 3, 3)
        local = np.array([(u, v, 0.0) for u in (-1, 0, 1) for v in (-1, 0, 1)])  # (9, 3) in half-sizes
        pts = d.geom_xpos[self._feet, None, :] + np.einsum(
            "gij,gkj->gki", R, local[None] * m.geom_size[self._feet, None]
        )
        return pts[..., :2].reshape(-1, 2)

    def _stone_platform(self, col):
        """Half-width (m, minus a margin) of the spawn platform if column ``col`` holds stepping stones, else
        None: there both feet must spawn on the platform (with a random offset, 134 of 200 spawns at level 0 put a
        foot over the pit)."""
        if self.terrain is None or self.terrain.types[col] != "stepping_stones":
            return None
        return terrain_mod.STONES["platform"] / 2 - SPAWN_PLATFORM_MARGIN

    def _physics_state(self):
        """The task's ``PhysicsState`` of this env (a batch of one, numpy float64): ``task.mujoco_state``."""
        return task.mujoco_state(self.model, self.data, self._idx, self._ground, self._foot_of, self._is_torso)

    def _contacts(self):
        """Normal ground force on each foot (N), torso-ground contact, number of undesired contact geoms."""
        s = self._physics_state()
        return s.foot_force[0], bool(s.torso_contact[0]), int(s.undesired[0])

    def _observe(self):
        """Table I's observation (307,) of the current state and the task's ``extra`` (batch of one):
        ``task.observe``."""
        obs, extra = task.observe(
            self._physics_state_kinematic(),
            self._idx,
            np.array([self._t]),
            self._command[None],
            self._last_action[None],
            self._origin[None],
            self._env_params[None],
            self._ground_batch,
        )
        return obs[0], extra

    def _physics_state_kinematic(self):
        """The parts of the physics state the observation reads (no contact scan: ``observe`` does not need it)."""
        d, idx = self.data, self._idx
        return task.PhysicsState(
            qpos=d.qpos[None],
            qvel=d.qvel[None],
            qacc=None,
            actuator_force=None,
            foot_pos=d.geom_xpos[idx.feet][None],
            foot_mat=None,
            com_z=None,
            foot_vel_xy=None,
            foot_force=None,
            torso_contact=None,
            undesired=None,
        )

    def _ground_batch(self, xy):
        """Ground z (N, K) at world points xy (N, K, 2)."""
        return self._ground_height(xy.reshape(-1, 2)).reshape(xy.shape[:-1])

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = TrackingRenderer(self.model, self._torso, self._width, self._height, distance=3.5)
        return self._renderer.render(self.data)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def task_defaults() -> dict:
    """DigitEnv's keyword defaults: the task every backend and builder uses unless told otherwise."""
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(DigitEnv.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


# What an l2t_ppo_digit.py run's saved flags were before each task flag existed (older checkpoints lack the key)
_OLDER_RUN_FLAGS = {"curriculum": "isaac", "terrain_columns": "random", "terrain_preset": "isaac", "max_init_level": 5}


def task_from_run_args(run_args: dict) -> tuple[dict, str]:
    """(env kwargs, terrain_columns) of the task an ``l2t_ppo_digit.py`` run trained on, from its saved flags
    (a checkpoint's ``"args"``), so that another learner (the TSL baseline) builds exactly that task. Raises
    ``ValueError`` for settings this env no longer has."""
    weights = run_args.get("reward_weights", "v1")
    if run_args.get("reward_overrides"):
        weights = {**REWARD_WEIGHT_SETS[weights], **run_args["reward_overrides"]}
    kwargs = {
        "terrain": run_args.get("terrain", "rough"),
        "reward_weights": weights,
        "max_episode_steps": run_args.get("max_episode_steps", MAX_EPISODE_STEPS),
        "gravity_axes": run_args.get("gravity_axes", "z"),
    }
    columns = "random"
    if kwargs["terrain"] == "rough":
        flag = {k: run_args[k] if run_args.get(k) is not None else v for k, v in _OLDER_RUN_FLAGS.items()}
        if flag["curriculum"] not in CURRICULUM_RULES:
            raise ValueError(f"the run's curriculum {flag['curriculum']!r} is not one of {CURRICULUM_RULES}")
        if flag["terrain_preset"] == "gentle" and run_args.get("env_id") is None:
            flag["terrain_preset"] = "gentle_v2"  # saved before l2t/Digit-v3 (whose runs save their env_id)
        kwargs.update(
            curriculum=flag["curriculum"], terrain_preset=flag["terrain_preset"], max_init_level=flag["max_init_level"]
        )
        columns = flag["terrain_columns"]
    return kwargs, columns


def step_task(envs):
    """The task's half of a step (``envs/digit/task.py``) for DigitEnvs whose ``_physics_step`` has just run: the
    observation, termination and Table II terms of all of them in ONE batched call, then each env's bookkeeping.
    ``DigitEnv.step`` calls it with one env, ``DigitVectorEnv`` with a worker's whole block (the envs share one
    terrain setting). Returns one ``(obs, reward, terminated, truncated, info)`` per env."""
    finite = [bool(np.isfinite(e.data.qpos).all() and np.isfinite(e.data.qvel).all()) for e in envs]
    live = [e for e, f in zip(envs, finite) if f]
    rows = {}
    if live:
        state = task.stack_states([e._physics_state() for e in live])
        air, contact = task.update_foot_timers(
            state.foot_force, np.stack([e._air_time for e in live]), np.stack([e._contact_time for e in live])
        )
        obs, extra = task.observe(
            state,
            live[0]._idx,
            np.array([e._t for e in live], dtype=np.float64),
            np.stack([e._command for e in live]),
            np.stack([e._last_action for e in live]),
            np.stack([e._origin for e in live]),
            np.stack([e._env_params for e in live]),
            _ground_of(live),
        )
        done = task.terminated(state, obs, extra)
        inputs = task.reward_inputs(
            state,
            live[0]._idx,
            obs,
            extra,
            np.stack([e._action for e in live]),
            np.stack([e._last_action for e in live]),
            np.stack([e._command for e in live]),
            air,
            contact,
            done,
            np.array([e._t * e.dt for e in live]),
        )
        weights = live[0].reward_weights
        same = all(e.reward_weights == weights for e in live)  # else: raw values, each env's weights below
        values = reward_terms(inputs, weights if same else dict.fromkeys(weights, 1.0))
        in_contact = state.foot_force > CONTACT_FORCE
        yaw = extra["yaw"]
        for k, e in enumerate(live):
            e._air_time, e._contact_time = air[k], contact[k]
            terms = {name: float(v[k]) * (1.0 if same else e.reward_weights[name]) for name, v in values.items()}
            rows[id(e)] = (obs[k], terms, bool(done[k]), in_contact[k], float(yaw[k]))
    out = []
    for e in envs:
        if id(e) not in rows:  # a non-finite state ends the episode as a fall
            e._air_time, e._contact_time = e._air_time + e.dt, np.zeros(2)
            terms = {name: 0.0 for name in REWARD_WEIGHTS}
            terms["termination"] = e.reward_weights["termination"] * e.dt
            rows[id(e)] = (np.zeros(OBS_DIM), terms, True, np.zeros(2, dtype=bool), None)
        out.append(e._end_step(*rows[id(e)]))
    return out


def _ground_of(envs):
    """The ground lookup (N, K, 2) -> (N, K) of a batch of envs: one call when they share a terrain."""
    terrains = {id(e.terrain) for e in envs}
    if len(terrains) == 1:
        return envs[0]._ground_batch

    def ground(xy):
        return np.stack([e._ground_batch(xy[k : k + 1])[0] for k, e in enumerate(envs)])

    return ground


__all__ = [
    "ENV_ID",
    "DigitEnv",
    "task_defaults",
    "task_from_run_args",
    "step_task",
    "compiled_model",
    "CURRICULUM_RULES",
    "OBS_DIM",
    "OBS_SLICES",
    "STUDENT_DIM",
    "STUDENT_SLICE",
    "ACTION_DIM",
    "DIGIT_NOISY_MASK",
    "ENV_PARAM_NAMES",
    "SUBSTEPS",
    "POLICY_DT",
    "EPISODE_LENGTH_S",
    "MAX_EPISODE_STEPS",
    "ACTION_SCALE",
    "COMMAND_RANGES",
    "COMMAND_RESAMPLE_S",
    "STANDING_SHARE",
    "GAIT_PERIOD",
    "FOOT_APEX",
    "FOOT_STANCE_REL_COM",
    "C1",
    "C2",
    "CONTACT_FORCE",
    "MAX_TILT",
    "MIN_HEIGHT",
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
    "REWARD_WEIGHTS",
    "RewardInputs",
    "reward_terms",
    "foot_height_target",
    "RECOMMENDED_INIT_STD",
    "PAPER_REWARD_WEIGHTS",
    "REWARD_WEIGHT_SETS",
    "HEIGHT_SCAN_CENTRE",
    "SOURCE_SUBSTEPS",
    "SPAWN_TRIES",
    "SPAWN_PLATFORM_MARGIN",
    "quat_to_mat",
    "heading",
    "yaw_from_quat",
]
