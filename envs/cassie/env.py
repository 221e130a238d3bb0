"""``l2t/Cassie-v1``: Cassie imitating our walking reference (`envs.cassie.reference`), reward of paper 1 Eq. (9).

The layout follows Gymnasium's MuJoCo env docstrings (e.g. ``half_cheetah_v5.py``).

## Description
Cassie (our MJCF, ``envs/cassie/cassie.xml``) walks forward at 0.6 m/s by tracking a periodic reference gait: a
LIPM centre-of-mass path with sideways sway, the motor angles by inverse kinematics and the motor torques by
inverse dynamics (`envs.cassie.reference`).

One env step = one policy step = ``frame_skip`` (default 15) physics steps of 2 ms (implicitfast) = 30 ms (33.3 Hz,
as the authors' ``CassieMirror-v5``), run by one ``mujoco.mj_step(model, data, nstep=frame_skip)`` call. Episodes
are truncated at 600 steps (18 s, ``max_episode_steps`` at registration, as the authors).

Time and phase. ``t`` counts env steps since reset; the gait phase after step ``t`` is
``phi_t = (phi_0 + t * dt / PERIOD) mod 1`` (dt = 0.03 s). The action chosen at ``t`` aims at the reference of
``phi_{t+1}`` (the end of the control period it acts over), and the reward of that step compares the state at
``t+1`` with the reference at ``phi_{t+1}``. The observation at ``t`` therefore carries ``phi_{t+1}``.

## Action Space
``Box(-1, 1, (10,), float32)``, one residual per motor on the reference plus an inverse-dynamics feed-forward:

| index | joint (``MOTOR_JOINTS``) | range | unit of the action (``ACTION_SCALE``) |
|---|---|---|---|
| 0, 5 | left / right hip roll | [-1, 1] | 0.5 rad |
| 1, 6 | left / right hip yaw | [-1, 1] | 0.5 rad |
| 2, 7 | left / right hip pitch | [-1, 1] | 1 rad |
| 3, 8 | left / right knee | [-1, 1] | 1 rad |
| 4, 9 | left / right foot | [-1, 1] | 1 rad |

At phi_{t+1}, ``data.ctrl = clip(q_ref + LEAD * qdot_ref + tau_ref / kp + ACTION_SCALE * a, target range)``.
``ACTION_SCALE`` = 0.5 rad on hip roll and yaw, 1 rad on hip pitch, knee and foot (the authors added the raw
action in rad, a scale of 1 rad everywhere; we keep hip roll/yaw smaller, a choice not measured against 1 rad).
ctrl is the target of MuJoCo's position actuators, force ``kp (ctrl - q) - (kv + b) qdot`` (b = joint damping),
clamped to the motor's torque limit; ``LEAD = (kv + b) / kp`` (0.10-0.12 s) turns that into
``kp (q_ref - q) + (kv + b) (qdot_ref - qdot) + tau_ref``: the PD tracks the reference velocity too, and
``tau_ref`` (`envs.cassie.reference`: the motor torques inverse dynamics computes along the reference, up to
122 N m at the knee) is the torque the reference needs when tracked exactly (``feedforward=False`` drops it).
The target range is the joint range widened by ``TARGET_MARGIN`` = 2 rad on each side (MuJoCo's joint limits
still hold the joint): the knee's feed-forward target lies up to 0.83 rad beyond the knee's range, and clipping
the target to the joint range (v0) capped the knee at ~70 N m whatever the action.

## Observation Space
Teacher state (57 float64). Velocities and positions are SI (m, rad, m/s, rad/s):

| index | content | noisy |
|---|---|---|
| 0 | pelvis height z (floor at 0) | yes |
| 1-4 | pelvis orientation quaternion w, x, y, z (sign chosen with w >= 0) | yes |
| 5-7 | pelvis linear velocity, pelvis frame | yes |
| 8-10 | pelvis angular velocity, pelvis frame | yes |
| 11-20 | motor joint positions (MOTOR_JOINTS order: left hip-roll, hip-yaw, hip-pitch, knee, foot, right ...) | yes |
| 21-30 | motor joint velocities | yes |
| 31-36 | passive joint positions: left shin, tarsus, heel-spring, right shin, tarsus, heel-spring | yes |
| 37-42 | passive joint velocities, same order | yes |
| 43-44 | pelvis x, y minus the reference pelvis x, y (x_ref: 0 at reset, advancing SPEED on average; y_ref: the reference's sway about y = 0) | yes |
| 45-46 | sin(2 pi phi_{t+1}), cos(2 pi phi_{t+1}) | no (clock) |
| 47-56 | reference motor positions at phi_{t+1} | no (clock) |

``CASSIE_NOISY_MASK`` is that last column: ``NoisyObservation(env, alpha, noisy_mask=CASSIE_NOISY_MASK)`` noises
the robot measurements only (the authors did the same: noisy robot part, clean reference part). Entries 43-44
are not in the authors' state; without them the CoM reward term depends on something the state does not show.

## Rewards
Reward (paper 1 Eq. 9), in [0, C_JOINT + C_COM + C_ORI] = [0, 1]:
``r = C_JOINT exp(-E_joint) + C_COM exp(-K_COM ||p_CoM - p_CoM^r||) + C_ORI exp(-K_ORI angle(q_pelvis, q_pelvis^r))``

* ``E_joint^2 = sum_i W_JOINT_i (q_i - q^r_i)^2`` over the 10 motor joints. ``W_JOINT`` = 30 x the authors'
  per-leg weights [0.15, 0.15, 0.1, 0.05, 0.05] = [4.5, 4.5, 3, 1.5, 1.5] per leg. (The authors used
  ``exp(-E_joint^2)``; Eq. 9 says ``exp(-E_joint)``, which we follow.)
* ``p_CoM``: whole-body centre of mass (world). ``p_CoM^r``: the reference pose's CoM at phi_{t+1}, moved so
  that the reference pelvis is at (x_ref, y_ref) above: the reference walks forward from where the episode
  started, swaying about y = 0. ``K_COM`` = 5 /m (10 cm off: factor 0.61).
* orientation: the rotation angle between the pelvis quaternion and the reference's (identity), ``K_ORI`` = 3 /rad.
  (The authors used ``||quat - quat_ref||^2``, which is wrong for the sign-flipped quaternion ``-q``.)
* ``C_JOINT, C_COM, C_ORI = 0.5, 0.3, 0.2``. The authors' weights were 0.3/0.3/0.2 plus 0.1 whole-qpos, 0.1
  motor-velocity terms, a forward-velocity bonus and an action penalty (not part of Eq. 9, left out here).
* ``info`` holds ``reward_joint``, ``reward_com``, ``reward_ori`` (the three weighted terms), ``joint_error``
  (E_joint), ``com_error`` (m), ``ori_error`` (rad), ``phase`` (phi_{t+1}).

## Starting State
Reset (seeded by ``reset(seed=...)`` through ``self.np_random``): initial phase phi_0 ~ U[0, 1)
(``random_phase=True``, default; else 0); the reference pose and velocity at phi_0, pelvis at x = 0 and the
reference's y; then
hip roll, yaw and pitch angles + U[-0.02, 0.02] rad (these are outside the closed chains, so the chains stay
closed), every velocity + U[-0.05, 0.05] (rad/s or m/s), and the pelvis height is shifted so that the lower foot
touches the floor. ctrl starts at the reference motor angles at phi_0.

## Episode End
Termination: pelvis height < ``MIN_HEIGHT`` = 0.6 m (reference: 1.0 m), or pelvis tilt (angle between the pelvis
z axis and the world z axis) > ``MAX_TILT`` = 0.6 rad, or a non-finite state, or (``min_reward`` > 0) a step
reward below ``min_reward``. The authors ended episodes when the reward fell below 0.3; the default here is
``MIN_REWARD`` = 0 (off): see the Version History for the measurement.
Truncation at 600 steps (``MAX_EPISODE_STEPS``, at registration).

## Arguments
``gym.make("l2t/Cassie-v1", **kwargs)``:

| argument | default | meaning |
|---|---|---|
| ``render_mode`` | None | None or ``"rgb_array"`` |
| ``frame_skip`` | 15 | physics steps of 2 ms per env step |
| ``random_phase`` | True | initial phase ~ U[0, 1) (else 0) |
| ``feedforward`` | True | add the inverse-dynamics torque ``tau_ref / kp`` to the PD target |
| ``min_reward`` | 0 | end the episode when a step's reward falls below it (0: off) |
| ``hold_pelvis`` | False | diagnostic, see below |
| ``width``, ``height`` | 640, 480 | render size |

``hold_pelvis=True`` (diagnostic, used by the tests): the pelvis is welded to a mocap body that is moved to the
reference pelvis pose at the end of every control period, so the legs can be checked against the reference
without balancing. Not for training.

``render_mode="rgb_array"``: ``mujoco.Renderer`` (set ``MUJOCO_GL=egl`` headless), camera tracking the pelvis.

## Version History
* v1: what changed, and the measurement that forced it (commands in envs/cassie/README.md):

  - Physics 2 ms implicitfast, 15 substeps (v0: 0.5 ms Euler, 60). An env step costs 0.40 ms instead of 1.46 ms
    (``benchmarks/cassie_step_cost.py``); over 10 control periods from the same state pelvis and CoM stay within
    1 mm of the 0.5 ms model (``tests/test_cassie_model.py``).
  - Reference (`envs.cassie.reference`): v0 had constant pelvis height 0.95 m, no sideways sway and springs at
    rest; in single support it needed the centre of pressure 13.4 cm (mean) off the stance foot's line, which a
    line foot cannot give. v1: LIPM centre-of-mass path (sway +-2.3 cm, CoP within 1.3 mm of the foot line),
    pelvis at 1.0 m, springs deflected by the load (stance shin -3.8..-5.5 deg).
  - Action: v0 added 0.3 rad x a and clipped the target to the joint range: +-29 N m of authority at the knee
    against the 71-130 N m inverse dynamics asked for; with zero action v0 fell within 13-15 steps. v1: inverse-
    dynamics feed-forward, 1 rad (0.5 rad hip roll/yaw), target range joint range +-2 rad; with zero action the
    robot now stays up 27-39 steps (10 seeds) and 18-25 without the feed-forward.
  - Option ``min_reward`` (episode end on low reward, default off).
  - State entry 44 is now pelvis y minus the reference's sway (v0: pelvis y).
* v0: first version (0.5 ms physics, reference without sway, action 0.3 rad clipped to the joint range).
"""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np

from envs.cassie import KP, MODEL_PATH, MOTOR_JOINTS, load_model
from envs.cassie.reference import PERIOD, pelvis_xy, reference
from envs.geometry import quat_to_mat
from envs.render import TrackingRenderer

ENV_ID = "l2t/Cassie-v1"
FRAME_SKIP = 15  # physics steps per env step (2 ms each: 30 ms, 33.3 Hz)
MAX_EPISODE_STEPS = 600  # 18 s
ACTION_SCALE = np.array([0.5, 0.5, 1.0, 1.0, 1.0] * 2)  # rad per unit action: hip roll, yaw, pitch, knee, foot
ACTION_SCALE.setflags(write=False)
TARGET_MARGIN = 2.0  # rad: the PD target may go this far beyond each joint's range (the joint limit still holds)
MIN_REWARD = 0.0  # default of `min_reward` (0: off; the authors ended episodes below 0.3)
C_JOINT, C_COM, C_ORI = 0.5, 0.3, 0.2
W_JOINT = np.array([4.5, 4.5, 3.0, 1.5, 1.5] * 2)  # hip roll, hip yaw, hip pitch, knee, foot; per leg
K_COM = 5.0  # 1/m
K_ORI = 3.0  # 1/rad
MIN_HEIGHT = 0.6  # m
MAX_TILT = 0.6  # rad
INIT_HIP_NOISE = 0.02  # rad, uniform half-width, hip roll/yaw/pitch
INIT_VEL_NOISE = 0.05  # uniform half-width, all velocities

PASSIVE_JOINTS = tuple(f"{leg}-{j}" for leg in ("left", "right") for j in ("shin", "tarsus", "heel-spring"))
STATE_DIM = 57
STATE_SLICES = {  # name -> slice of the state, as in the Observation Space table
    "height": slice(0, 1),
    "quat": slice(1, 5),
    "lin_vel": slice(5, 8),
    "ang_vel": slice(8, 11),
    "motor_pos": slice(11, 21),
    "motor_vel": slice(21, 31),
    "passive_pos": slice(31, 37),
    "passive_vel": slice(37, 43),
    "xy_offset": slice(43, 45),
    "phase": slice(45, 47),
    "ref_motor": slice(47, 57),
}
CASSIE_NOISY_MASK = np.zeros(STATE_DIM, dtype=bool)
CASSIE_NOISY_MASK[: STATE_SLICES["phase"].start] = True  # the robot's measurements; the clock entries stay clean
CASSIE_NOISY_MASK.setflags(write=False)


def held_pelvis_model() -> mujoco.MjModel:
    """The Cassie model plus a mocap body "pelvis-holder" welded to the pelvis (the ``home`` key is removed)."""
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    spec.delete(spec.key("home"))
    pelvis = spec.body("cassie-pelvis")
    spec.worldbody.add_body(name="pelvis-holder", mocap=True, pos=list(pelvis.pos))
    weld = spec.add_equality(
        type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY, name1="pelvis-holder", name2="cassie-pelvis"
    )
    weld.solref = [0.005, 1.0]
    return spec.compile()


class CassieEnv(gym.Env):
    """Cassie walking by imitation of `envs.cassie.reference` (see the module docstring for every detail)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 33}

    def __init__(
        self,
        render_mode: str | None = None,
        frame_skip: int = FRAME_SKIP,
        random_phase: bool = True,
        hold_pelvis: bool = False,
        width: int = 640,
        height: int = 480,
        feedforward: bool = True,
        min_reward: float = MIN_REWARD,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        if not (np.isfinite(min_reward) and 0.0 <= min_reward < 1.0):
            raise ValueError(f"min_reward must be in [0, 1), got {min_reward}")
        self.feedforward = bool(feedforward)
        self.min_reward = float(min_reward)
        self.render_mode = render_mode
        self.frame_skip = int(frame_skip)
        self.random_phase = bool(random_phase)
        self.hold_pelvis = bool(hold_pelvis)
        self.model = held_pelvis_model() if hold_pelvis else load_model()
        self.data = mujoco.MjData(self.model)
        self.dt = float(self.model.opt.timestep) * self.frame_skip
        m = self.model
        motor_joints = m.actuator_trnid[:, 0]
        self._motor_q = m.jnt_qposadr[motor_joints].copy()
        self._motor_v = m.jnt_dofadr[motor_joints].copy()
        passive = [m.joint(j).id for j in PASSIVE_JOINTS]
        self._passive_q = m.jnt_qposadr[passive].copy()
        self._passive_v = m.jnt_dofadr[passive].copy()
        self._hip_q = np.array(
            [m.jnt_qposadr[m.joint(f"{leg}-hip-{j}").id] for leg in ("left", "right") for j in ("roll", "yaw", "pitch")]
        )
        # PD target range: the joint range widened by TARGET_MARGIN (MuJoCo clamps ctrl to ctrlrange, so widen it)
        m.actuator_ctrlrange[:, 0] -= TARGET_MARGIN
        m.actuator_ctrlrange[:, 1] += TARGET_MARGIN
        self._ctrl_lo, self._ctrl_hi = m.actuator_ctrlrange[:, 0].copy(), m.actuator_ctrlrange[:, 1].copy()
        self._ff_gain = (1.0 / np.asarray(KP)) if self.feedforward else np.zeros(m.nu)
        # velocity feed-forward: a position actuator with target c gives kp (c - q) - kv qdot - b qdot, so
        # c = q_ref + (kv + b) / kp * qdot_ref gives kp (q_ref - q) + (kv + b) (qdot_ref - qdot)
        self._lead = (-m.actuator_biasprm[:, 2] + m.dof_damping[self._motor_v]) / m.actuator_gainprm[:, 0]
        self._body_mass = m.body_mass.copy()
        self._total_mass = float(self._body_mass.sum())
        self._foot_geoms = [m.geom(f"{leg}-foot").id for leg in ("left", "right")]
        assert tuple(m.actuator(i).name for i in range(m.nu)) == MOTOR_JOINTS

        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(m.nu,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(STATE_DIM,), dtype=np.float64)
        self._width, self._height = width, height
        self._renderer = None
        self._t = 0
        self._phase0 = 0.0
        self._ref = None  # the reference at phi_{t+1}

    # ------------------------------------------------------------------ time and reference

    def _phase(self, t: int) -> float:
        return (self._phase0 + t * self.dt / PERIOD) % 1.0

    def _ref_pelvis_xy(self, t: int) -> np.ndarray:
        """Reference pelvis (x, y) after t steps: x from 0 at reset, y the reference's own sway about y = 0."""
        xy = pelvis_xy(self._phase0 + t * self.dt / PERIOD)
        xy[0] -= pelvis_xy(self._phase0)[0]
        return xy

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        self._t = 0
        self._phase0 = float(rng.uniform(0.0, 1.0)) if self.random_phase else 0.0
        ref = reference(self._phase0)
        d.qpos[:] = ref.qpos
        d.qpos[0] = 0.0
        d.qvel[:] = ref.qvel
        d.qpos[self._hip_q] += rng.uniform(-INIT_HIP_NOISE, INIT_HIP_NOISE, size=len(self._hip_q))
        d.qvel[:] += rng.uniform(-INIT_VEL_NOISE, INIT_VEL_NOISE, size=m.nv)
        mujoco.mj_kinematics(m, d)
        d.qpos[2] -= self._lowest_foot_z()
        d.ctrl[:] = ref.motor
        if self.hold_pelvis:
            d.mocap_pos[0] = d.qpos[:3]
            d.mocap_quat[0] = d.qpos[3:7]
        mujoco.mj_forward(m, d)
        self._ref = reference(self._phase(1))
        return self._state(), {"phase": self._phase0}

    def step(self, action):
        m, d = self.model, self.data
        ref = self._ref  # reference at phi_{t+1}
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        if not np.isfinite(a).all():  # np.clip lets NaN through to the controls
            raise ValueError(f"action must be finite, got {action!r}")
        np.clip(
            ref.motor + self._lead * ref.motor_vel + self._ff_gain * ref.motor_torque + ACTION_SCALE * a,
            self._ctrl_lo,
            self._ctrl_hi,
            out=d.ctrl,
        )
        self._t += 1
        ref_x, ref_y = self._ref_pelvis_xy(self._t)
        if self.hold_pelvis:
            d.mocap_pos[0] = (ref_x, ref_y, ref.pelvis_pos[2])
            d.mocap_quat[0] = ref.pelvis_quat
        mujoco.mj_step(m, d, nstep=self.frame_skip)
        mujoco.mj_kinematics(m, d)  # body positions of the new qpos (mj_step leaves those of the last substep)

        # reward, Eq. (9)
        dq = d.qpos[self._motor_q] - ref.motor
        joint_error = float(np.sqrt(W_JOINT @ (dq * dq)))
        com = self._body_mass @ d.xipos / self._total_mass
        ref_com = ref.com + np.array([ref_x - ref.pelvis_pos[0], 0.0, 0.0])
        com_error = float(np.linalg.norm(com - ref_com))
        quat = d.qpos[3:7]
        # angle between unit quaternions q and q_ref: 2 acos(|<q, q_ref>|)
        ori_error = float(2.0 * np.arccos(min(1.0, abs(quat @ ref.pelvis_quat) / np.linalg.norm(quat))))
        r_joint = C_JOINT * np.exp(-joint_error)
        r_com = C_COM * np.exp(-K_COM * com_error)
        r_ori = C_ORI * np.exp(-K_ORI * ori_error)
        reward = float(r_joint + r_com + r_ori)

        finite = bool(np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all())
        terminated = not finite or d.qpos[2] < MIN_HEIGHT or self._tilt() > MAX_TILT or reward < self.min_reward
        if not finite:
            reward = 0.0
        info = {
            "phase": ref.phase,
            "reward_joint": float(r_joint),
            "reward_com": float(r_com),
            "reward_ori": float(r_ori),
            "joint_error": joint_error,
            "com_error": com_error,
            "ori_error": ori_error,
        }
        self._ref = reference(self._phase(self._t + 1))
        state = self._state() if finite else np.zeros(STATE_DIM)
        return state, reward, bool(terminated), False, info

    # ------------------------------------------------------------------ helpers

    def _tilt(self) -> float:
        w, x, y, z = self.data.qpos[3:7] / np.linalg.norm(self.data.qpos[3:7])
        # world z component of the pelvis z axis: 1 - 2 (x^2 + y^2)
        return float(np.arccos(np.clip(1.0 - 2.0 * (x * x + y * y), -1.0, 1.0)))

    def _lowest_foot_z(self) -> float:
        d, m = self.data, self.model
        lowest = np.inf
        for g in self._foot_geoms:
            half_axis_z = d.geom_xmat[g, 8] * m.geom_size[g, 1]  # z of the capsule axis (column 2, row 2)
            lowest = min(lowest, d.geom_xpos[g, 2] - abs(half_axis_z) - m.geom_size[g, 0])
        return lowest

    def _state(self) -> np.ndarray:
        d, ref = self.data, self._ref
        s = np.empty(STATE_DIM)
        quat = d.qpos[3:7] / np.linalg.norm(d.qpos[3:7])
        if quat[0] < 0:
            quat = -quat
        R = quat_to_mat(quat)
        S = STATE_SLICES
        s[S["height"]] = d.qpos[2]
        s[S["quat"]] = quat
        s[S["lin_vel"]] = R.T @ d.qvel[:3]  # free joint: linear velocity in world frame
        s[S["ang_vel"]] = d.qvel[3:6]  # angular velocity, already in the pelvis frame
        s[S["motor_pos"]] = d.qpos[self._motor_q]
        s[S["motor_vel"]] = d.qvel[self._motor_v]
        s[S["passive_pos"]] = d.qpos[self._passive_q]
        s[S["passive_vel"]] = d.qvel[self._passive_v]
        s[S["xy_offset"]] = d.qpos[:2] - self._ref_pelvis_xy(self._t)
        s[S["phase"]] = np.sin(2.0 * np.pi * ref.phase), np.cos(2.0 * np.pi * ref.phase)
        s[S["ref_motor"]] = ref.motor
        return s

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            pelvis = self.model.body("cassie-pelvis").id
            self._renderer = TrackingRenderer(self.model, pelvis, self._width, self._height, distance=3.0)
        return self._renderer.render(self.data)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


__all__ = [
    "ENV_ID",
    "CassieEnv",
    "CASSIE_NOISY_MASK",
    "STATE_DIM",
    "STATE_SLICES",
    "FRAME_SKIP",
    "MAX_EPISODE_STEPS",
    "ACTION_SCALE",
    "C_JOINT",
    "C_COM",
    "C_ORI",
    "W_JOINT",
    "K_COM",
    "K_ORI",
    "MIN_HEIGHT",
    "MAX_TILT",
    "MIN_REWARD",
    "TARGET_MARGIN",
    "held_pelvis_model",
]
