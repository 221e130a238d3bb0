"""Walking reference motion for Cassie, generated on our own model (no motion data): inverse kinematics along
a linear-inverted-pendulum (LIPM) centre-of-mass path, with spring deflections and the motor torques from
inverse dynamics.

One periodic gait cycle: forward walking at ``SPEED`` m/s (mean) with cycle period ``PERIOD`` s (two steps).
Phase ``p`` in [0, 1) is time within the cycle divided by ``PERIOD``.

Gait (all numbers are module constants):

* Feet: each foot keeps the orientation it has in the ``home`` keyframe (flat, pointing forward) and its home
  lateral position (capsule centre at y = +-``FOOT_Y``, 0.135 m). The left foot is in stance for ``p`` in
  [0, ``STANCE_FRACTION``) and swings for the rest; the right foot does the same half a cycle later. Double
  support: [0, 0.1) and [0.5, 0.6). In stance the foot is fixed in the world (capsule touching z = 0), its centre
  at the x where the CoM passes over it at mid single support. In swing it moves forward by one stride
  (SPEED * PERIOD) on a minimum-jerk profile, lifted by ``SWING_HEIGHT * 64 u^3 (1-u)^3`` (u = swing progress).
* Centre of mass: the periodic LIPM solution (Kajita et al. 2001, the 3D linear inverted pendulum) at constant
  height h (the CoM height when the pelvis is at ``PELVIS_HEIGHT``), omega = sqrt(g / h). The pendulum's support
  point switches feet in the middle of each double support, so one step lasts T = PERIOD / 2 = 0.4 s; with
  tau = time from mid single support and p = the stance foot's centre:
  ``x = p_x + (v_mid / omega) sinh(omega tau)``, v_mid chosen so that one step advances SPEED * T;
  ``y = p_y (1 - cosh(omega tau) / cosh(omega T / 2))``: the sideways sway, +-``sway_amplitude()`` (2.6 cm)
  towards the stance foot, y = 0 at the support switch. For a point mass the centre of pressure (CoP) this
  motion needs is the stance foot's centre. The legs' own momentum and the swing foot's lift move it (by up to
  10 cm along and 3 cm across the foot in the first pass); a periodic correction removes that (next items).
* CoP target (`support_schedule`): single support, the stance foot's centre; double support, the vertical load
  moves from the trailing to the leading foot on a quintic ramp, and the CoP with it.
* Pelvis: upright (identity orientation), constant height ``PELVIS_HEIGHT`` = 1.0 m (published Cassie walking
  gaits stand 1.0-1.05 m high), x and y such that the whole-body CoM follows the LIPM path.
* Inverse kinematics (``_IK.solve``): damped least squares (``mujoco.mj_jac``) on the full model with the pelvis
  pose given. Tasks: the two end points of each foot capsule (6 rows per foot) and the residuals of the four
  closed-chain ``connect`` constraints (achilles and plantar rods, 3 rows each), solved together. Unknowns: all
  leg DoFs except the two springs per leg (shin, heel-spring), which are held at given deflections. Each sample is
  warm-started from the previous one; sample 0 from ``home``. Residual < 1e-7 m.
* Inverse dynamics (`inverse_dynamics`): ``mj_inverse`` with constraints disabled gives the generalised force
  the motion needs (gravity, inertia, the springs' and dampers' passive forces included); least squares then
  splits it into the 10 motor torques, the 4 rod (connect) forces, the contact forces at the two end points of
  each stance foot and an extra torque at each spring joint. The root rows alone give the net ground wrench,
  hence the centre of pressure (CoP) the motion needs.
* Springs: ``N_PASSES`` passes of IK + inverse dynamics over the whole cycle. After each pass (but the last)
  every spring deflection is moved by (extra spring torque) / stiffness (low-passed at 6 Hz over the cycle, so
  that no jump in deflection puts a spike into qacc), the pelvis by the CoM-minus-pelvis offset just measured,
  and the CoM path by the periodic solution d of ``d - (h / g) d'' = -(CoP - CoP target)`` (the LIPM's CoP
  equation ``p = c - (h / g) c''``, solved by FFT). After 5 passes: CoP within 1.3 mm of the stance foot's
  line in single support, CoM within 4 mm of the LIPM path (sway +-2.3 cm), stance shin/heel springs at
  -3.8..-5.5 / -2.4..-3.5 deg, motor torques up to 62 % of the limits (knee 122 N m, hip pitch 92 N m).

``N_SAMPLES`` samples over the cycle are computed once per process (about 0.5 s, deterministic) and
linearly interpolated by `reference` (ball-joint quaternions renormalised). ``qvel`` is the central finite
difference of ``qpos`` along the cycle, ``qacc`` that of ``qvel``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mujoco
import numpy as np

from envs.cassie import HOME_QPOS, load_model
from envs.geometry import quat_to_mat

SPEED = 0.6  # m/s forward, mean over a step
PERIOD = 0.8  # s per gait cycle (one left and one right step)
STANCE_FRACTION = 0.6  # of the cycle, per foot
PELVIS_HEIGHT = 1.0  # m (home: 1.006)
SWING_HEIGHT = 0.08  # m, peak lift of the swing foot
GRAVITY = 9.81  # m/s^2 (the model's)
N_SAMPLES = 200  # samples per cycle (4 ms apart)
N_PASSES = 5  # IK + inverse-dynamics passes (spring deflections and CoM offset refined between passes)

LEGS = ("left", "right")
SPRING_JOINTS = tuple(f"{leg}-{j}" for leg in LEGS for j in ("shin", "heel-spring"))
# foot capsule end points in the foot body frame (cassie.xml, geom "left-foot"/"right-foot" fromto)
_FOOT_POINTS = np.array([[-0.052821, 0.092622, 0.0], [0.069746, -0.010224, 0.0]])
STEP_TIME = PERIOD / 2  # s, one LIPM step (support switch to support switch)
_STEP_CENTRES = (0.3, 0.8)  # phase of mid single support, left and right


@dataclass(frozen=True)
class Reference:
    """The reference at one phase. Pelvis x is the within-cycle advance (0 at phase 0 up to sampling)."""

    phase: float
    qpos: np.ndarray  # (35,) full pose
    qvel: np.ndarray  # (32,)
    motor: np.ndarray  # (10,) motor joint angles (rad), MOTOR_JOINTS order
    motor_vel: np.ndarray  # (10,)
    motor_torque: np.ndarray  # (10,) N m, the motor torques inverse dynamics asks for
    pelvis_pos: np.ndarray  # (3,)
    pelvis_quat: np.ndarray  # (4,) w, x, y, z (always identity here)
    com: np.ndarray  # (3,) whole-body CoM, world frame


def _smoothstep5(u):
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _home_foot_points():
    model = load_model()
    data = mujoco.MjData(model)
    data.qpos[:] = HOME_QPOS
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    points = np.empty((2, 2, 3))
    for i, leg in enumerate(LEGS):
        b = model.body(f"{leg}-foot").id
        world = data.xpos[b] + _FOOT_POINTS @ data.xmat[b].reshape(3, 3).T
        # keep the orientation and y, put the capsule centre at x = 0 and its bottom on the floor (radius 0.02)
        centre = world.mean(axis=0)
        radius = model.geom_size[model.geom(f"{leg}-foot").id, 0]
        points[i] = world - centre + np.array([0.0, centre[1], radius])
    com_height = data.subtree_com[1, 2] - HOME_QPOS[2] + PELVIS_HEIGHT
    return points, float(com_height)


_HOME_FOOT_POINTS, COM_HEIGHT = _home_foot_points()
FOOT_Y = float(_HOME_FOOT_POINTS[0, :, 1].mean())  # m, left foot centre y (right: -FOOT_Y)
OMEGA = float(np.sqrt(GRAVITY / COM_HEIGHT))  # 1/s, LIPM natural frequency
V_MID = SPEED * STEP_TIME * OMEGA / (2.0 * np.sinh(OMEGA * STEP_TIME / 2))  # m/s, CoM speed at mid stance


def sway_amplitude() -> float:
    """Peak sideways CoM excursion of the LIPM gait (m): FOOT_Y (1 - 1 / cosh(omega T / 2))."""
    return FOOT_Y * (1.0 - 1.0 / np.cosh(OMEGA * STEP_TIME / 2))


def _foot_x(step_centre_phase):
    """World x of a stance foot's centre for the step whose mid single support is at this (unwrapped) phase."""
    return SPEED * PERIOD * step_centre_phase


def lipm_com(phase: float) -> np.ndarray:
    """(x, y) of the LIPM centre of mass at `phase` (within-cycle frame; x continues across the wrap)."""
    u = float(phase) % 1.0
    if u < _STEP_CENTRES[0] - 0.25:  # [0, 0.05): the right step of the previous cycle
        u += 1.0
    leg = 0 if u < _STEP_CENTRES[0] + 0.25 else 1
    centre = _STEP_CENTRES[leg]
    tau = (u - centre) * PERIOD
    px = _foot_x(centre) - (SPEED * PERIOD if u >= 1.0 else 0.0)
    py = FOOT_Y if leg == 0 else -FOOT_Y
    x = px + V_MID / OMEGA * np.sinh(OMEGA * tau)
    y = py * (1.0 - np.cosh(OMEGA * tau) / np.cosh(OMEGA * STEP_TIME / 2))
    return np.array([x, y])


def foot_targets(phase: float) -> tuple[np.ndarray, np.ndarray]:
    """World targets (2 legs, 2 end points, xyz) of the foot capsule end points at `phase` (within-cycle x), and
    (2,) bool: which foot is in stance."""
    stride = SPEED * PERIOD
    targets = np.empty((2, 2, 3))
    stance = np.empty(2, dtype=bool)
    for i in range(2):
        local = (phase - 0.5 * i) % 1.0  # time since this foot's touchdown, in cycles
        touchdown_phase = phase - local
        x_td = _foot_x(touchdown_phase + _STEP_CENTRES[0])  # mid single support is 0.3 cycles after touchdown
        if local < STANCE_FRACTION:
            x, lift = x_td, 0.0
            stance[i] = True
        else:
            u = (local - STANCE_FRACTION) / (1.0 - STANCE_FRACTION)
            x = x_td + stride * _smoothstep5(u)
            lift = SWING_HEIGHT * 64.0 * u**3 * (1.0 - u) ** 3
            stance[i] = False
        targets[i] = _HOME_FOOT_POINTS[i] + np.array([x, 0.0, lift])
    return targets, stance


class _IK:
    def __init__(self):
        self.model = load_model()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.foot_bodies = [m.body(f"{leg}-foot").id for leg in LEGS]
        self.spring_q = np.array([m.jnt_qposadr[m.joint(j).id] for j in SPRING_JOINTS])
        spring_dofs = {m.jnt_dofadr[m.joint(j).id] for j in SPRING_JOINTS}
        self.free_dofs = np.array([v for v in range(6, m.nv) if v not in spring_dofs])
        self.jacp = np.zeros((3, m.nv))
        self.jacp2 = np.zeros((3, m.nv))

    def residual(self, targets):
        """Task error e (24,) and Jacobian J (24, nv) at the current data.qpos."""
        m, d = self.model, self.data
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        err, jac = [], []
        for i, b in enumerate(self.foot_bodies):
            R = d.xmat[b].reshape(3, 3)
            for k in range(2):
                p = d.xpos[b] + R @ _FOOT_POINTS[k]
                mujoco.mj_jac(m, d, self.jacp, None, p, b)
                err.append(targets[i, k] - p)
                jac.append(self.jacp.copy())
        for e in range(m.neq):
            b1, b2 = m.eq_obj1id[e], m.eq_obj2id[e]
            p1 = d.xpos[b1] + d.xmat[b1].reshape(3, 3) @ m.eq_data[e, :3]
            p2 = d.xpos[b2] + d.xmat[b2].reshape(3, 3) @ m.eq_data[e, 3:6]
            mujoco.mj_jac(m, d, self.jacp, None, p1, b1)
            mujoco.mj_jac(m, d, self.jacp2, None, p2, b2)
            err.append(p2 - p1)  # drive p1 - p2 to 0
            jac.append(self.jacp - self.jacp2)
        return np.concatenate(err), np.vstack(jac)

    def solve(self, pelvis_xy, targets, springs, tol=1e-8, max_iter=100, damping=1e-3):
        m, d = self.model, self.data
        d.qpos[:3] = [pelvis_xy[0], pelvis_xy[1], PELVIS_HEIGHT]
        d.qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
        d.qpos[self.spring_q] = springs
        dq = np.zeros(m.nv)
        for _ in range(max_iter):
            e, J = self.residual(targets)
            if np.abs(e).max() < tol:
                break
            Jf = J[:, self.free_dofs]
            dq[self.free_dofs] = Jf.T @ np.linalg.solve(Jf @ Jf.T + damping**2 * np.eye(len(e)), e)
            mujoco.mj_integratePos(m, d.qpos, dq, 1.0)
        return np.abs(e).max()


class _InverseDynamics:
    """Least-squares split of the generalised force a motion needs (see the module docstring)."""

    def __init__(self):
        m = self.model = load_model()
        m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
        self.data = mujoco.MjData(m)
        self.motor_dofs = m.jnt_dofadr[m.actuator_trnid[:, 0]]
        self.spring_dofs = np.array([m.jnt_dofadr[m.joint(j).id] for j in SPRING_JOINTS])
        self.foot_bodies = [m.body(f"{leg}-foot").id for leg in LEGS]
        self.radius = m.geom_size[m.geom("left-foot").id, 0]

    def __call__(self, qpos, qvel, qacc, stance, lead_share=None):
        """`lead_share` (double support only): (index of the leading foot, its share of the vertical ground
        force), imposed as a heavily weighted extra row (otherwise the split is the minimum-norm one)."""
        m, d = self.model, self.data
        d.qpos[:], d.qvel[:], d.qacc[:] = qpos, qvel, qacc
        mujoco.mj_inverse(m, d)
        b = d.qfrc_inverse.copy()
        cols = [np.eye(m.nv)[:, self.motor_dofs], np.eye(m.nv)[:, self.spring_dofs]]
        jac1, jac2 = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        for e in range(m.neq):
            b1, b2 = m.eq_obj1id[e], m.eq_obj2id[e]
            p1 = d.xpos[b1] + d.xmat[b1].reshape(3, 3) @ m.eq_data[e, :3]
            p2 = d.xpos[b2] + d.xmat[b2].reshape(3, 3) @ m.eq_data[e, 3:6]
            mujoco.mj_jac(m, d, jac1, None, p1, b1)
            mujoco.mj_jac(m, d, jac2, None, p2, b2)
            cols.append((jac1 - jac2).T)
        contact_points = []
        for i, body in enumerate(self.foot_bodies):
            if not stance[i]:
                continue
            R = d.xmat[body].reshape(3, 3)
            for k in range(2):
                p = d.xpos[body] + R @ _FOOT_POINTS[k] - [0.0, 0.0, self.radius]  # bottom of the capsule
                mujoco.mj_jac(m, d, jac1, None, p, body)
                cols.append(jac1.T.copy())
                contact_points.append(p)
        A = np.hstack(cols)
        n_contact = len(contact_points)
        rhs = b
        if lead_share is not None and n_contact == 4:
            lead, share = lead_share
            row = np.zeros(A.shape[1])
            row[26 + 6 * lead + 2 : 26 + 6 * lead + 6 : 3] = 1.0  # the two vertical forces of the leading foot
            A = np.vstack([A, 10.0 * row])
            rhs = np.append(b, 10.0 * share * b[2])
        x, *_ = np.linalg.lstsq(A, rhs, rcond=1e-6)  # cut near-null directions (internal squeeze forces)
        # the net ground wrench is the root rows of b: world force at the pelvis origin, torque in the pelvis frame
        force, torque = b[:3], quat_to_mat(qpos[3:7]) @ b[3:6]
        o = qpos[:3]
        cop = np.array(
            [o[0] - (torque[1] + o[2] * force[0]) / force[2], o[1] + (torque[0] - o[2] * force[1]) / force[2]]
        )
        return {
            "motor_torque": x[:10],
            "spring_torque": x[10:14],
            "rod_force": x[14:26].reshape(4, 3),
            "contact_force": x[26:].reshape(n_contact, 3),
            "contact_points": np.array(contact_points),
            "residual": float(np.linalg.norm(A[: len(b)] @ x - b)),
            "ground_force": force,
            "cop": cop,
        }


DOUBLE_SUPPORT = STANCE_FRACTION - 0.5  # cycles, each double support


def support_schedule(phase: float):
    """The centre of pressure the gait aims at, (x, y) within-cycle, and in double support (leading foot index,
    its share of the vertical load) else None. Single support: the stance foot's centre. Double support: the
    load moves from the trailing to the leading foot on a smooth (quintic) ramp, and the CoP with it."""
    targets, stance = foot_targets(phase)
    centres = targets[:, :, :2].mean(axis=1)
    if stance.all():
        lead = 0 if (phase % 1.0) < 0.5 else 1  # the left foot lands at 0, the right at 0.5
        share = _smoothstep5(((phase % 0.5) / DOUBLE_SUPPORT))
        return (1.0 - share) * centres[1 - lead] + share * centres[lead], (lead, share)
    return centres[int(np.flatnonzero(stance)[0])], None


def _periodic_zmp_correction(error, dt):
    """Periodic CoM shift d with d - (h/g) d'' = -error (the LIPM's CoP equation p = c - (h/g) c''), by FFT."""
    n = len(error)
    freq = np.fft.fftfreq(n, d=dt)
    gain = -1.0 / (1.0 + (COM_HEIGHT / GRAVITY) * (2.0 * np.pi * freq) ** 2)
    return np.real(np.fft.ifft(np.fft.fft(error, axis=0) * gain[:, None], axis=0))


def _lowpass(x, dt, cutoff=6.0):
    """Periodic low-pass (FFT, harmonics above `cutoff` Hz removed) along axis 0."""
    freq = np.fft.fftfreq(len(x), d=dt)
    spec = np.fft.fft(x, axis=0)
    spec[np.abs(freq) > cutoff] = 0.0
    return np.real(np.fft.ifft(spec, axis=0))


def _finite_difference(model, qpos, dt, stride):
    """Central difference of a periodic qpos sequence (pelvis x advances by `stride` per cycle)."""
    n = len(qpos)
    qvel = np.empty((n, model.nv))
    for k in range(n):
        nxt, prv = qpos[(k + 1) % n].copy(), qpos[k - 1].copy()
        if k == n - 1:
            nxt[0] += stride
        if k == 0:
            prv[0] -= stride
        mujoco.mj_differentiatePos(model, qvel[k], 2.0 * dt, prv, nxt)
    return qvel


def inverse_dynamics(c=None) -> list:
    """Inverse dynamics (see `_InverseDynamics`) at every sample of the cycle `c` (default: `cycle()`)."""
    c = cycle() if c is None else c
    solver = _InverseDynamics()
    return [solver(c["qpos"][k], c["qvel"][k], c["qacc"][k], c["stance"][k]) for k in range(len(c["phase"]))]


@functools.lru_cache(maxsize=1)
def cycle() -> dict:
    """The sampled cycle: arrays over ``N_SAMPLES`` phases (k / N_SAMPLES). Computed once per process.

    Keys: ``phase`` (N,), ``qpos`` (N, 35), ``qvel`` (N, 32), ``qacc`` (N, 32), ``motor`` (N, 10), ``motor_vel``
    (N, 10), ``motor_torque`` (N, 10), ``com`` (N, 3) (world, pelvis x as in ``qpos``), ``lipm_com`` (N, 2),
    ``cop`` (N, 2) (the CoP inverse dynamics needs), ``spring_torque`` (N, 4) (what the springs still lack),
    ``stance`` (N, 2) bool, ``ik_residual`` (N,) max abs task error in m. Arrays are read-only.
    """
    ik = _IK()
    solver = _InverseDynamics()
    m, d = ik.model, ik.data
    phases = np.arange(N_SAMPLES) / N_SAMPLES
    dt = PERIOD / N_SAMPLES
    stride = SPEED * PERIOD
    stiffness = m.jnt_stiffness[[m.joint(j).id for j in SPRING_JOINTS]]
    targets_stance = [foot_targets(p) for p in phases]
    stance = np.array([s for _, s in targets_stance])
    lipm = np.array([lipm_com(p) for p in phases])
    schedule = [support_schedule(p) for p in phases]
    cop_target = np.array([t for t, _ in schedule])
    correction = np.zeros((N_SAMPLES, 2))  # CoM shift that moves the needed CoP onto cop_target
    offset = np.zeros((N_SAMPLES, 2))  # CoM minus pelvis (x, y), measured in the previous pass
    springs = np.zeros((N_SAMPLES, 4))
    qpos = np.empty((N_SAMPLES, m.nq))
    com = np.empty((N_SAMPLES, 3))
    residual = np.empty(N_SAMPLES)
    for _ in range(N_PASSES):
        d.qpos[:] = HOME_QPOS
        for k in range(N_SAMPLES):
            residual[k] = ik.solve(lipm[k] + correction[k] - offset[k], targets_stance[k][0], springs[k])
            qpos[k] = d.qpos
            com[k] = d.subtree_com[1]  # body 1 = pelvis: its subtree is the whole robot
        offset = com[:, :2] - qpos[:, :2]
        qvel = _finite_difference(m, qpos, dt, stride)
        qacc = (np.roll(qvel, -1, axis=0) - np.roll(qvel, 1, axis=0)) / (2.0 * dt)
        ids = [solver(qpos[k], qvel[k], qacc[k], stance[k], schedule[k][1]) for k in range(N_SAMPLES)]
        spring_torque = np.array([r["spring_torque"] for r in ids])
        # the passive torque is -k q: to add t, deflect by -t / k (smoothed: no jumps, so no spikes in qacc)
        springs = _lowpass(qpos[:, ik.spring_q] - spring_torque / stiffness, dt)
        cop = np.array([r["cop"] for r in ids])
        correction = correction + _periodic_zmp_correction(cop - cop_target, dt)
    motor_q = m.jnt_qposadr[m.actuator_trnid[:, 0]]
    motor_v = m.jnt_dofadr[m.actuator_trnid[:, 0]]
    out = dict(
        phase=phases,
        qpos=qpos,
        qvel=qvel,
        qacc=qacc,
        motor=qpos[:, motor_q],
        motor_vel=qvel[:, motor_v],
        motor_torque=np.array([r["motor_torque"] for r in ids]),
        com=com,
        lipm_com=lipm,
        cop=cop,
        cop_target=cop_target,
        spring_torque=spring_torque,
        stance=stance,
        ik_residual=residual,
    )
    for v in out.values():
        v.setflags(write=False)
    return out


_BALL_QPOS = None


def _ball_qpos_slices():
    model = load_model()
    return [
        slice(model.jnt_qposadr[j], model.jnt_qposadr[j] + 4)
        for j in range(model.njnt)
        if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL
    ]


def interpolate(phase: float):
    """(i0, i1, w): the two samples around `phase` (wrapping) and the weight of i1."""
    s = (phase % 1.0) * N_SAMPLES
    i0 = int(s) % N_SAMPLES
    return i0, (i0 + 1) % N_SAMPLES, s - int(s)


def pelvis_xy(phase: float) -> np.ndarray:
    """Reference pelvis (x, y) at an UNWRAPPED phase: x keeps advancing by SPEED * PERIOD per cycle."""
    c = cycle()
    i0, i1, w = interpolate(phase)
    x1 = c["qpos"][i1, 0] + (SPEED * PERIOD if i1 == 0 else 0.0)
    x = (1.0 - w) * c["qpos"][i0, 0] + w * x1 + SPEED * PERIOD * np.floor(phase)
    return np.array([x, (1.0 - w) * c["qpos"][i0, 1] + w * c["qpos"][i1, 1]])


def reference(phase: float) -> Reference:
    """The reference at `phase` (any float; taken modulo 1), linearly interpolated between samples."""
    global _BALL_QPOS
    if _BALL_QPOS is None:
        _BALL_QPOS = _ball_qpos_slices()
    c = cycle()
    phase = float(phase) % 1.0
    i0, i1, w = interpolate(phase)

    def lerp(a):
        return (1.0 - w) * a[i0] + w * a[i1]

    qpos = lerp(c["qpos"])
    qpos[:2] = pelvis_xy(phase)  # x across the wrap (sample N-1 -> 0) continues forward
    for sl in _BALL_QPOS:
        qpos[sl] /= np.linalg.norm(qpos[sl])
    com = lerp(c["com"] - c["qpos"][:, :3] * [1.0, 0.0, 0.0])
    com[0] += qpos[0]
    return Reference(
        phase=phase,
        qpos=qpos,
        qvel=lerp(c["qvel"]),
        motor=lerp(c["motor"]),
        motor_vel=lerp(c["motor_vel"]),
        motor_torque=lerp(c["motor_torque"]),
        pelvis_pos=qpos[:3].copy(),
        pelvis_quat=qpos[3:7].copy(),
        com=com,
    )


__all__ = [
    "SPEED",
    "PERIOD",
    "STANCE_FRACTION",
    "PELVIS_HEIGHT",
    "SWING_HEIGHT",
    "N_SAMPLES",
    "N_PASSES",
    "STEP_TIME",
    "FOOT_Y",
    "COM_HEIGHT",
    "OMEGA",
    "V_MID",
    "Reference",
    "cycle",
    "reference",
    "pelvis_xy",
    "lipm_com",
    "sway_amplitude",
    "foot_targets",
    "interpolate",
    "inverse_dynamics",
]
