"""Fast checks of our Cassie MJCF (envs/cassie) against the published numbers.

Reference values come from the MuJoCo Menagerie agility_cassie model (MIT, Agility Robotics). Each tolerance is justified where it is used.
"""

import mujoco
import numpy as np
import pytest

from envs.cassie import HOME_CTRL, HOME_QPOS, KD, KP, MODEL_PATH, MOTOR_JOINTS, TORQUE_LIMITS, load_model
from conftest import assert_position_actuators

LEGS = ("left", "right")


def qadr(model, joint):
    return model.joint(joint).qposadr[0]


def fixed_base_model(lift=0.5):
    """Same robot with the freejoint removed (pelvis welded to the world), raised by `lift` m so
    the feet cannot reach the floor. qpos is then HOME_QPOS[7:] layout (28 values)."""
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    spec.delete(spec.joint("root"))
    spec.delete(spec.key("home"))  # its 35 qpos no longer fit
    pelvis = spec.body("cassie-pelvis")
    pelvis.pos = [pelvis.pos[0], pelvis.pos[1], pelvis.pos[2] + lift]
    return spec.compile()


def steps(model, seconds):
    """Physics steps in `seconds` of simulated time."""
    return int(round(seconds / model.opt.timestep))


def home_data(model):
    data = mujoco.MjData(model)
    if model.nq == 35:
        mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    else:
        data.qpos[:] = HOME_QPOS[7:]
        data.ctrl[:] = HOME_CTRL
    mujoco.mj_forward(model, data)
    return data


def capsule_bottom_z(model, data, geom):
    """Lowest world z of a capsule: the lower segment end minus the radius."""
    g = model.geom(geom).id
    half_axis = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1]
    return data.geom_xpos[g, 2] - abs(half_axis[2]) - model.geom_size[g, 0]


# ----------------------------------------------------------------------------- structure


def test_dimensions_and_mass():
    model = load_model()
    assert (model.nq, model.nv, model.nu) == (35, 32, 10)
    assert model.neq == 4 and np.all(model.eq_type == mujoco.mjtEq.mjEQ_CONNECT)
    # 33.312 kg in the source (section 1.8); 0.05 kg is below the lightest body (plantar rod,
    # 0.1186 kg), so a missing or duplicated body is caught.
    assert abs(mujoco.mj_getTotalmass(model) - 33.312) < 0.05
    # every body (world excluded) carries its own explicit, non-trivial inertial
    assert model.nbody == 26 and np.all(model.body_mass[1:] > 0.1)
    assert np.all(model.body_inertia[1:] > 0)
    assert model.opt.timestep == pytest.approx(0.002)
    assert model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # visual geoms must not collide
    for g in range(model.ngeom):
        if model.geom_group[g] == 2:
            assert model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0


def test_actuators_match_constants():
    model = load_model()
    assert_position_actuators(model, MOTOR_JOINTS, KP, KD, TORQUE_LIMITS)
    assert HOME_QPOS.shape == (35,) and HOME_CTRL.shape == (10,)
    # the PD targets at home are the motor joint angles of the home pose
    motor_q = HOME_QPOS[model.jnt_qposadr[model.actuator_trnid[:, 0]]]
    assert np.allclose(HOME_CTRL, motor_q, atol=1e-6)


def test_home_closed_chains_and_feet():
    model = load_model()
    data = home_data(model)
    # Per-row residuals of the 4 connects (efc_pos, 3 rows each). The source keyframe is given to
    # ~6 digits and its own residual is <= 1.5 mm per component; 2 mm is the bound.
    eq_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    assert eq_rows.sum() == 12
    assert np.abs(data.efc_pos[eq_rows]).max() < 2e-3
    # Same check from geometry: distance between the two anchor points of each connect.
    for i in range(model.neq):
        b1, b2 = model.eq_obj1id[i], model.eq_obj2id[i]
        p1 = data.xpos[b1] + data.xmat[b1].reshape(3, 3) @ model.eq_data[i, :3]
        p2 = data.xpos[b2] + data.xmat[b2].reshape(3, 3) @ model.eq_data[i, 3:6]
        assert np.linalg.norm(p1 - p2) < 2e-3, model.eq(i).name
    # Feet touch the floor (z=0) within 5 mm: a wrong body frame or joint sign anywhere in the
    # 8-link chain from pelvis to foot moves the foot by centimetres.
    for leg in LEGS:
        assert abs(capsule_bottom_z(model, data, f"{leg}-foot")) < 5e-3, leg


# ----------------------------------------------------------------------------- closed chain


def test_achilles_four_bar_tarsus_follows_knee():
    """Sweep the knee with the pelvis fixed in the air and no gravity (springs unloaded); the
    passive tarsus must follow tarsus ~= -0.9898 knee + 0.2346 rad (section 1.4, fitted on the
    source model with max residual 0.08 deg). Tolerance 1 deg: >10x the fit residual, while
    a broken loop (tarsus free, or rod anchored wrongly) is off by many degrees."""
    model = fixed_base_model()
    model.opt.gravity[:] = 0.0
    data = home_data(model)
    knee_act = [MOTOR_JOINTS.index(f"{leg}-knee") for leg in LEGS]
    # stay away from the ends of the range: near knee -155 deg the tarsus reaches its 170 deg limit
    for knee_target in np.deg2rad(np.linspace(-145.0, -45.0, 6)):
        data.ctrl[knee_act] = knee_target
        mujoco.mj_step(model, data, nstep=steps(model, 1.0))  # 1 s: the PD and the loop settle
        for leg in LEGS:
            knee, tarsus = data.qpos[qadr(model, f"{leg}-knee")], data.qpos[qadr(model, f"{leg}-tarsus")]
            # the knee really moved (PD tracks within 1 deg in zero gravity)
            assert abs(knee - knee_target) < np.deg2rad(1.0)
            assert abs(tarsus - (-0.9898 * knee + 0.2346)) < np.deg2rad(1.0), (leg, np.rad2deg(knee))
            # springs stay unloaded: no external load, so any deflection means the loop is fighting
            assert abs(data.qpos[qadr(model, f"{leg}-shin")]) < np.deg2rad(0.5)
            assert abs(data.qpos[qadr(model, f"{leg}-heel-spring")]) < np.deg2rad(0.5)
        # the loop stays closed while moving
        eq_rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
        assert np.abs(data.efc_pos[eq_rows]).max() < 2e-3


# ----------------------------------------------------------------------------- springs


def test_springs_deflect_under_load_and_return():
    model = load_model()
    data = home_data(model)
    shin = [qadr(model, f"{leg}-shin") for leg in LEGS]
    heel = [qadr(model, f"{leg}-heel-spring") for leg in LEGS]
    # Stand on the floor with the PD holding home. Expected static shin deflection: ~163 N per foot
    # at ~0.24 m from the tarsus joint gives ~39 N m on the tarsus, i.e. ~1.34*39 = 52 N m on the
    # shin spring (1500 N m/rad) = ~2 deg and ~0.63*39 = 25 N m on the heel spring (1250) = ~1.1 deg
    # (sensitivities from section 1.4). Require at least half of that within 0.3 s (the robot sags
    # and eventually falls with a fixed-target PD, section 1.10, so do not wait longer).
    min_shin = np.zeros(2)
    min_heel = np.zeros(2)
    for _ in range(30):  # 0.3 s
        mujoco.mj_step(model, data, nstep=steps(model, 0.01))
        min_shin = np.minimum(min_shin, data.qpos[shin])
        min_heel = np.minimum(min_heel, data.qpos[heel])
        assert np.all(np.abs(data.actuator_force) <= TORQUE_LIMITS + 1e-9)
    assert data.ncon > 0  # feet on the floor
    assert np.all(min_shin < -np.deg2rad(1.0)), np.rad2deg(min_shin)
    assert np.all(min_heel < -np.deg2rad(0.5)), np.rad2deg(min_heel)

    # Lift: same joint state on a fixed, raised pelvis (gravity on, legs hanging). The springs now
    # carry only the distal links (~1.2 kg at ~0.2 m -> ~2.4 N m, ~0.1 deg), so they must return to
    # well under 0.5 deg, and to a small fraction of the loaded deflection.
    hanging = fixed_base_model()
    hdata = mujoco.MjData(hanging)
    hdata.qpos[:] = data.qpos[7:]
    hdata.ctrl[:] = HOME_CTRL
    mujoco.mj_step(hanging, hdata, nstep=steps(hanging, 1.0))  # 1 s
    for leg in LEGS:
        s = hdata.qpos[qadr(hanging, f"{leg}-shin")]
        h = hdata.qpos[qadr(hanging, f"{leg}-heel-spring")]
        assert abs(s) < np.deg2rad(0.5) and abs(s) < 0.25 * abs(min_shin).min()
        assert abs(h) < np.deg2rad(0.5) and abs(h) < 0.25 * abs(min_heel).min()


# ----------------------------------------------------------------------------- PD


def test_pd_tracks_step_and_respects_torque_limits():
    model = fixed_base_model()  # gravity on, legs hanging
    data = home_data(model)
    mujoco.mj_step(model, data, nstep=steps(model, 0.2))  # let the hanging pose settle
    yaw = MOTOR_JOINTS.index("left-hip-yaw")
    foot = MOTOR_JOINTS.index("right-foot")
    # Hip-yaw axis is ~vertical, so gravity gives ~no steady-state torque: a 0.2 rad step must be
    # tracked to 0.01 rad within 1 s (kp 100, kd 11 incl. joint damping: well damped, ~0.2 s).
    # Foot: a 1.0 rad step asks kp*1.0 = 50 N m > 45 N m, so the limit must clamp the force.
    data.ctrl[yaw] += 0.2
    data.ctrl[foot] = -0.6  # from -1.597; range is -2.44..-0.52
    peak = np.zeros(model.nu)
    for _ in range(steps(model, 1.0)):  # 1 s, one substep at a time to see every force
        mujoco.mj_step(model, data)
        peak = np.maximum(peak, np.abs(data.actuator_force))
        # gear 1: the joint receives exactly the actuator force
        dofs = model.jnt_dofadr[model.actuator_trnid[:, 0]]
        assert np.allclose(data.qfrc_actuator[dofs], data.actuator_force)
    assert np.all(peak <= TORQUE_LIMITS + 1e-9)
    assert peak[foot] == pytest.approx(TORQUE_LIMITS[foot])  # saturated, so the clamp was exercised
    yaw_q = data.qpos[qadr(model, "left-hip-yaw")]
    assert abs(yaw_q - data.ctrl[yaw]) < 0.01
    # Foot: gravity on the foot + foot-crank + plantar rod (~0.4 kg at a few cm) over kp 50 leaves
    # a few mrad at most; 0.03 rad also allows for the slower foot/foot-crank loop.
    foot_q = data.qpos[qadr(model, "right-foot")]
    assert abs(foot_q - data.ctrl[foot]) < 0.03


def test_2ms_physics_stays_within_1cm_of_0p5ms_over_10_control_periods():
    """The env runs 2 ms implicitfast steps (15 per 30 ms period). From the same reset state and with the same
    controls (zero action: reference + feed-forward), a 0.5 ms Euler copy of the model (60 substeps, the v0 physics)
    must keep pelvis position and whole-body CoM within 1 cm over the first 10 periods (measured: 0.53 mm; a
    4 ms step drifts ~4 cm). Three seeds (different initial phases)."""
    from envs.cassie.env import CassieEnv

    env = CassieEnv()
    fine = mujoco.MjModel.from_xml_path(str(MODEL_PATH))
    fine.opt.timestep, fine.opt.integrator = 0.0005, mujoco.mjtIntegrator.mjINT_EULER
    fine.actuator_ctrlrange[:] = env.model.actuator_ctrlrange  # the env's wider PD target range
    fdata = mujoco.MjData(fine)
    mass = fine.body_mass / fine.body_mass.sum()
    assert env.frame_skip * env.model.opt.timestep == pytest.approx(60 * fine.opt.timestep)
    worst = 0.0
    for seed in range(3):
        env.reset(seed=seed)
        fdata.qpos[:], fdata.qvel[:], fdata.ctrl[:] = env.data.qpos, env.data.qvel, env.data.ctrl
        for _ in range(10):
            env.step(np.zeros(10))
            fdata.ctrl[:] = env.data.ctrl
            mujoco.mj_step(fine, fdata, nstep=60)
            mujoco.mj_kinematics(fine, fdata)
            com, fcom = mass @ env.data.xipos, mass @ fdata.xipos
            worst = max(worst, np.abs(env.data.qpos[:3] - fdata.qpos[:3]).max(), np.abs(com - fcom).max())
        assert fdata.qpos[2] > 0.6  # still upright after 0.3 s, so the comparison was on a standing robot
    print(f"worst 2 ms vs 0.5 ms deviation over 10 periods: {worst * 1e3:.2f} mm")
    assert worst < 0.01, worst
