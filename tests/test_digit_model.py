"""Fast checks of our Digit V3 MJCF (envs/digit) against the published numbers.

Reference values come from the OSU DRL roadrunner model (public repository osudrl/roadrunner,
sim/digit_sim/digit-v3.xml, digit-v3-fast.xml, mj_digitsim.py; MIT; numbers originally Agility Robotics') and from
that model measured in MuJoCo, as listed in envs/digit/README.md "Reference numbers". Each tolerance is justified where
it is used.
"""

import mujoco
import numpy as np
import pytest

from envs.digit import (
    GROUND_CONTACT_GEOMS,
    KD,
    KP,
    MODEL_PATH,
    MOTOR_JOINTS,
    PASSIVE_JOINTS,
    SIM_DT,
    SOURCE_EQ_SOLIMP,
    SOURCE_TIMESTEP,
    STAND_CTRL,
    STAND_QPOS,
    TORQUE_LIMITS,
    LLAPI_TORQUE_LIMITS,
    load_model,
)
from conftest import assert_position_actuators

SIDES = ("left", "right")
MIRROR = {"left": 1.0, "right": -1.0}  # right joint values are the sign mirror of the left ones (OSU digit-v3.xml)


def qadr(model, joint):
    return model.joint(joint).qposadr[0]


def fixed_base_model(lift=0.5, gravity=True):
    """Same robot with the freejoint removed (torso welded to the world), raised by `lift` m so the feet
    cannot reach the floor. qpos is then STAND_QPOS[7:] (54 values)."""
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    spec.delete(spec.joint("root"))
    spec.delete(spec.key("stand"))  # its 61 qpos no longer fit
    torso = spec.body("torso")
    torso.pos = [torso.pos[0], torso.pos[1], torso.pos[2] + lift]
    model = spec.compile()
    if not gravity:
        model.opt.gravity[:] = 0.0
    return model


def stand_data(model):
    data = mujoco.MjData(model)
    if model.nq == 61:
        mujoco.mj_resetDataKeyframe(model, data, model.key("stand").id)
    else:
        data.qpos[:] = STAND_QPOS[7:]
        data.ctrl[:] = STAND_CTRL
    mujoco.mj_forward(model, data)
    return data


def equality_residual(data):
    rows = data.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY
    return rows.sum(), np.abs(data.efc_pos[rows]).max()


def box_bottom_z(model, data, geom):
    """Lowest world z of the 8 corners of a box geom."""
    g = model.geom(geom).id
    signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=float)
    corners = data.geom_xpos[g] + (signs * model.geom_size[g]) @ data.geom_xmat[g].reshape(3, 3).T
    return corners[:, 2].min()


def nsteps(model, seconds):
    return int(round(seconds / model.opt.timestep))


def settle(model, data, seconds):
    mujoco.mj_step(model, data, nstep=nsteps(model, seconds))


def chain_gap(model, data):
    """Largest distance (m) between the two points of any connect (the closed chains' violation)."""
    gap = 0.0
    for e in range(model.neq):
        b1, b2 = model.eq_obj1id[e], model.eq_obj2id[e]
        p1 = data.xpos[b1] + data.xmat[b1].reshape(3, 3) @ model.eq_data[e, 0:3]
        p2 = data.xpos[b2] + data.xmat[b2].reshape(3, 3) @ model.eq_data[e, 3:6]
        gap = max(gap, float(np.linalg.norm(p1 - p2)))
    return gap


# ----------------------------------------------------------------------------- structure


def test_dimensions_mass_and_inertia():
    model = load_model()
    # OSU digit-v3.xml: 37 bodies (+ world), nq 61, nv 54, nu 20, 6 connects (3 per leg)
    assert (model.nq, model.nv, model.nu) == (61, 54, 20)
    assert model.nbody == 38
    assert model.neq == 6 and np.all(model.eq_type == mujoco.mjtEq.mjEQ_CONNECT)
    # ours: 2 ms (README.md "Physics at 2 ms"); the source's 0.5 ms and solimp one argument away
    assert model.opt.timestep == pytest.approx(SIM_DT) == 0.002
    source = load_model(source_physics=True)
    assert source.opt.timestep == SOURCE_TIMESTEP == 0.0005 and np.allclose(source.eq_solimp, SOURCE_EQ_SOLIMP)
    assert np.allclose(model.eq_solimp, [0.99, 0.999, 0.001, 0.5, 2.0])
    # 47.925414 kg in the source (OSU digit-v3.xml's inertials). 0.02 kg is below half the lightest body (toe-pitch,
    # 0.043881 kg), so a missing, duplicated or mistyped body is caught; the sum of the table is exact.
    assert mujoco.mj_getTotalmass(model) == pytest.approx(47.925414, abs=0.02)
    for side in SIDES:  # leg 12.856789 kg, arm 3.591722 kg per side (the same inertials)
        assert model.body_subtreemass[model.body(f"{side}-hip-roll").id] == pytest.approx(12.856789, abs=0.02)
        assert model.body_subtreemass[model.body(f"{side}-shoulder-roll").id] == pytest.approx(3.591722, abs=0.02)
    # every body (world excluded) has its own positive mass and principal inertia; geoms add nothing
    assert np.all(model.body_mass[1:] > 0.04) and np.all(model.body_inertia[1:] > 0)
    # visual geoms (group 2) are inert decoration
    assert np.any(model.geom_group == 2)


def test_only_listed_contact_pairs_exist_and_fire():
    model = load_model()
    # No geom takes part in contype/conaffinity collision; all contacts come from the explicit pairs.
    assert np.all(model.geom_contype == 0) and np.all(model.geom_conaffinity == 0)
    # The OSU digit-v3-fast.xml list: 2 feet-floor, 4 rods-floor, feet-feet, 2 foot vs other toe-B rod,
    # toe-B rods L-R, heels L-R, and 5 arm geoms per arm vs the torso box = 21.
    assert model.npair == 21
    pairs = {
        frozenset((model.geom(model.pair_geom1[i]).name, model.geom(model.pair_geom2[i]).name))
        for i in range(model.npair)
    }
    for geom in GROUND_CONTACT_GEOMS:
        assert frozenset(("floor", geom)) in pairs
    assert frozenset(("left-foot", "right-foot")) in pairs
    assert np.all(model.pair_dim == 3) and np.allclose(model.pair_friction[:, 0], 0.7)
    # Let the robot fall (the OSU gains with constant targets do not hold it, README.md "Gains") with a shove so
    # that many bodies move; every contact seen must be one of the listed pairs.
    data = stand_data(model)
    data.qvel[0:2] = [0.8, 0.4]
    seen = set()
    for _ in range(40):  # 0.5 s
        mujoco.mj_step(model, data, nstep=nsteps(model, 0.0125))
        for c in data.contact[: data.ncon]:
            seen.add(frozenset((model.geom(c.geom1).name, model.geom(c.geom2).name)))
    assert seen and seen <= pairs
    assert any("floor" in p for p in seen)


def test_actuators_match_constants():
    model = load_model()
    assert_position_actuators(model, MOTOR_JOINTS, KP, KD, TORQUE_LIMITS)
    for joint in PASSIVE_JOINTS:  # springs and passive joints are not actuated
        assert model.joint(joint).id not in model.actuator_trnid[:, 0]
    assert STAND_QPOS.shape == (61,) and STAND_CTRL.shape == (20,)
    motor_q = STAND_QPOS[model.jnt_qposadr[model.actuator_trnid[:, 0]]]
    assert np.allclose(STAND_CTRL, motor_q, atol=1e-9)


# ----------------------------------------------------------------------------- standing keyframe


def test_stand_keyframe_closes_chains_and_touches_floor():
    model = load_model()
    data = stand_data(model)
    # 6 connects x 3 rows. The keyframe angles are given to 6 decimals and the rod quaternions to 5,
    # i.e. <= 5e-6 rad per component on rods up to 0.5 m long: a few 1e-6 m each; the source's own
    # residual at this pose is ~1e-5 m (README.md "Reference numbers"). 1e-4 m is 10x that, while one wrong frame or
    # anchor sign leaves millimetres to centimetres.
    nrows, residual = equality_residual(data)
    assert nrows == 18 and residual < 1e-4
    # Feet: the source's foot-box bottoms are 0.4-0.5 mm above the floor at this pose (README.md "Reference numbers").
    # Allow within 2 mm of z=0: a wrong frame anywhere in the 9-link chain torso -> foot moves the
    # foot by centimetres.
    for side in SIDES:
        assert abs(box_bottom_z(model, data, f"{side}-foot")) < 2e-3, side
    # Whole-robot CoM (-0.037, 0, 0.956) and body heights (README.md "Reference numbers", given to 1 mm).
    assert data.subtree_com[model.body("torso").id] == pytest.approx([-0.037, 0.0, 0.956], abs=2e-3)
    for body, z in (("hip-pitch", 0.882), ("knee", 0.782), ("tarsus", 0.373), ("toe-roll", 0.066)):
        for side in SIDES:
            assert data.xpos[model.body(f"{side}-{body}").id, 2] == pytest.approx(z, abs=1.5e-3), (side, body)
    assert data.xpos[model.body("left-shoulder-roll").id, 2] == pytest.approx(1.40, abs=5e-3)


def test_connect_points_are_the_rod_ends():
    """MuJoCo places each connect's body2 point where the anchor sits at qpos0. In the source frames
    every loop is closed at qpos0 with the rod's far end at the anchor, so that point must lie on
    the rod axis at the end of the rod's collision capsule (0.5, 0.34, 0.288 m; OSU digit-v3.xml's capsules). 3 mm
    covers the capsules' rounding (radius 7 mm)."""
    model = load_model()
    ends = {"achilles": 0.50, "toe-a": 0.34, "toe-b": 0.288}
    for side in SIDES:
        for name, length in ends.items():
            point = model.eq_data[model.eq(f"{side}-{name}").id, 3:6]
            assert point == pytest.approx([length, 0.0, 0.0], abs=3e-3), (side, name)


# ----------------------------------------------------------------------------- closed chains


def test_achilles_rod_makes_tarsus_follow_knee():
    """Torso fixed in the air, gravity off (springs unloaded): sweep the knee with its PD. The achilles
    four-bar is a parallelogram: tarsus = -0.9999 knee - 0.0002 rad within 0.04 deg (README.md "Reference numbers").
    Tolerance 0.3 deg: several times that, while a missing or misplaced rod is off by degrees."""
    model = fixed_base_model(gravity=False)
    data = stand_data(model)
    knee_act = {side: MOTOR_JOINTS.index(f"{side}-knee") for side in SIDES}
    for knee_deg in (-60.0, -25.0, 10.0, 45.0):  # inside the left range -80..58.4 (right mirrored)
        for side in SIDES:
            data.ctrl[knee_act[side]] = MIRROR[side] * np.deg2rad(knee_deg)
        settle(model, data, 1.0)  # steps of up to 70 deg: the PD and the loop settle
        for side in SIDES:
            knee = data.qpos[qadr(model, f"{side}-knee")]
            tarsus = data.qpos[qadr(model, f"{side}-tarsus")]
            # the knee really got there (within 1.5 deg: after a 35-70 deg step the knee and hip-pitch PDs
            # still ring a little at 1 s; the tarsus relation below uses the measured knee anyway)
            assert abs(knee - data.ctrl[knee_act[side]]) < np.deg2rad(1.5)
            assert abs(tarsus - (-0.9999 * knee - MIRROR[side] * 0.0002)) < np.deg2rad(0.3), (side, knee_deg)
            # nothing loads the springs, so the loop must not fight them
            for spring in ("shin", "heel-spring"):
                assert abs(data.qpos[qadr(model, f"{side}-{spring}")]) < np.deg2rad(0.05)
        assert equality_residual(data)[1] < 1e-4  # loops stay closed along the sweep


def test_toe_motors_drive_toe_pitch_and_roll():
    """Torso fixed in the air, gravity off: offset the toe A/B targets from the standing pose. The
    passive toe-pitch/roll follow the linearised differential of README.md "Reference numbers" (deg/deg, at stance):
    pitch = -0.49 A + 0.55 B, roll = 1.73 A + 1.62 B. The map is applied to the *measured* A and B
    changes (frictionloss 1 N m / kp 400 lets each motor stop up to 0.14 deg short, and the two motors
    push on each other through the foot). Tolerance 0.4 deg + 10%: the map is a linearisation (A=B=10
    deg gives 33 deg roll, not 33.5) quoted to 2 digits; wrong anchors or rod frames give the wrong
    sign or ratio (7 deg for a 4 deg step). The right leg must give the sign mirror."""
    model = fixed_base_model(gravity=False)
    data = stand_data(model)
    settle(model, data, 0.3)
    act = {(side, m): MOTOR_JOINTS.index(f"{side}-toe-{m}") for side in SIDES for m in "ab"}
    start = data.qpos.copy()
    for d_a, d_b in ((4.0, -4.0), (-4.0, 4.0), (3.0, 3.0), (-3.0, -3.0), (0.0, 3.0)):
        for side in SIDES:
            data.ctrl[act[side, "a"]] = STAND_CTRL[act[side, "a"]] + MIRROR[side] * np.deg2rad(d_a)
            data.ctrl[act[side, "b"]] = STAND_CTRL[act[side, "b"]] + MIRROR[side] * np.deg2rad(d_b)
        settle(model, data, 0.5)
        moved = {}
        for side in SIDES:
            delta = {
                j: MIRROR[side] * np.rad2deg(data.qpos[qadr(model, f"{side}-{j}")] - start[qadr(model, f"{side}-{j}")])
                for j in ("toe-a", "toe-b", "toe-pitch", "toe-roll")
            }
            a, b = delta["toe-a"], delta["toe-b"]
            for commanded, measured in ((d_a, a), (d_b, b)):
                if commanded:  # the commanded motors went the right way (an unchanged one may creep)
                    assert np.sign(measured) == np.sign(commanded), (side, d_a, d_b, delta)
            for joint, predicted in (("toe-pitch", -0.49 * a + 0.55 * b), ("toe-roll", 1.73 * a + 1.62 * b)):
                # + 0.06 deg per deg of motor motion: the 2-digit coefficients disagree with the README's own
                # exact point "A = -B gives roll 0" by 1.73 - 1.62 = 0.11 deg/deg (half of it each way); with our
                # stiffer toe PD the motors reach their targets, so A = -B exactly and that shows
                tol = 0.4 + 0.1 * abs(predicted) + 0.06 * (abs(a) + abs(b))
                assert abs(delta[joint] - predicted) < tol, (side, d_a, d_b, joint, delta)
            moved[side] = delta
        # the passive joints really moved: A=-B drives pitch, A=B drives roll (>= 2 deg here)
        if d_a == -d_b:
            assert abs(moved["left"]["toe-pitch"]) > 2.0
        if d_a == d_b:
            assert abs(moved["left"]["toe-roll"]) > 2.0
        assert equality_residual(data)[1] < 1e-4


# ----------------------------------------------------------------------------- springs


def test_springs_deflect_under_standing_load():
    model = load_model()
    data = stand_data(model)
    # Standing on the floor with the PD holding the pose. Static estimate (README.md "Reference numbers"): about
    # 235 N per foot, acting ~0.27 m in front of the tarsus joint (toe x 0.005 vs tarsus x -0.265), gives
    # ~63 N m on the tarsus, i.e. ~1.32*63 = 83 N m on the shin spring (6000 N m/rad) = 0.8 deg and
    # ~0.47*63 = 30 N m on the heel spring (4375) = 0.4 deg. Require half of that within 0.3 s.
    shin = [qadr(model, f"{side}-shin") for side in SIDES]
    heel = [qadr(model, f"{side}-heel-spring") for side in SIDES]
    peak_shin, peak_heel = np.zeros(2), np.zeros(2)
    for _ in range(30):  # 0.3 s
        mujoco.mj_step(model, data, nstep=nsteps(model, 0.01))
        peak_shin = np.maximum(peak_shin, np.abs(data.qpos[shin]))
        peak_heel = np.maximum(peak_heel, np.abs(data.qpos[heel]))
        assert np.all(np.abs(data.actuator_force) <= TORQUE_LIMITS + 1e-9)
    assert data.ncon > 0
    assert np.all(peak_shin > np.deg2rad(0.4)), np.rad2deg(peak_shin)
    assert np.all(peak_heel > np.deg2rad(0.2)), np.rad2deg(peak_heel)
    # The model and pose are mirror-symmetric, so the right spring is the sign mirror of the left.
    assert data.qpos[shin[1]] == pytest.approx(-data.qpos[shin[0]], rel=0.05)
    assert data.qpos[heel[1]] == pytest.approx(-data.qpos[heel[0]], rel=0.05)

    # Lift the same joint state on a fixed, raised torso (gravity on, legs hanging): the springs now
    # carry only the links below the tarsus (~2.4 kg at ~0.15 m: ~3.5 N m, ~0.05 deg on the shin),
    # so they must return to a small fraction of the loaded deflection.
    hanging = fixed_base_model()
    hdata = mujoco.MjData(hanging)
    hdata.qpos[:] = data.qpos[7:]
    hdata.ctrl[:] = STAND_CTRL
    settle(hanging, hdata, 0.5)
    for side in SIDES:
        assert abs(hdata.qpos[qadr(hanging, f"{side}-shin")]) < 0.25 * peak_shin.min()
        assert abs(hdata.qpos[qadr(hanging, f"{side}-heel-spring")]) < 0.25 * peak_heel.min()


# ----------------------------------------------------------------------------- standing


def test_stands_on_flat_ground_with_the_pd_holding_the_pose():
    """Issue #6: from the standing keyframe, ctrl = the standing pose held (zero action), the robot stands on the
    flat floor: torso above 0.9 m for 3 s, and on to 10 s (margin; with the public OSU gains it squats to ~0.7 m
    and falls after ~1.5 s, which is why our leg gains are 10x theirs, envs/digit/README.md "Gains").

    Achilles chain: tarsus = -knee holds for UNLOADED springs (README.md "Reference numbers"; test above). Standing
    loads them (shin ~0.75 deg, heel ~0.6 deg, as test_springs_deflect_under_standing_load predicts), and the loop then
    gives tarsus + knee = -(1.32 shin + 0.47 heel) (the README's sensitivities), ~1.6 deg. So the chain check is
    |tarsus + knee + 1.32 shin + 0.47 heel| < 1 deg throughout (a broken or misplaced rod is off by degrees at
    once, a loop that opens under load drifts), and the raw |tarsus + knee| stays < 3 deg (2.6 at the landing
    transient, 1.6 after)."""
    model = load_model()
    data = stand_data(model)
    q = {j: np.array([qadr(model, f"{side}-{j}") for side in SIDES]) for j in ("knee", "tarsus", "shin", "heel-spring")}
    raw_peak = chain_peak = 0.0
    for k in range(500):  # 10 s in 20 ms control periods
        mujoco.mj_step(model, data, nstep=nsteps(model, 0.02))
        raw = data.qpos[q["tarsus"]] + data.qpos[q["knee"]]
        chain = raw + 1.32 * data.qpos[q["shin"]] + 0.47 * data.qpos[q["heel-spring"]]
        raw_peak, chain_peak = max(raw_peak, np.abs(raw).max()), max(chain_peak, np.abs(chain).max())
        assert data.qpos[2] > 0.9, (k, data.qpos[2])
        assert np.all(np.abs(data.actuator_force) <= TORQUE_LIMITS + 1e-9)
        if k == 149:  # 3 s: the requirement
            assert np.rad2deg(chain_peak) < 1.0 and np.rad2deg(raw_peak) < 3.0, (chain_peak, raw_peak)
    assert np.rad2deg(chain_peak) < 1.0 and np.rad2deg(raw_peak) < 3.0, (chain_peak, raw_peak)
    assert np.rad2deg(raw_peak) > 0.5  # the springs really were loaded (else the check above is vacuous)
    # upright, both feet on the floor, nearly still
    assert abs(data.xmat[model.body("torso").id][8]) > np.cos(0.1)
    assert np.abs(data.qvel[:3]).max() < 0.05
    assert {model.geom(f"{side}-foot").id for side in SIDES} <= set(data.contact.geom[: data.ncon].ravel())


def _stand_20_s(model):
    """Zero action (ctrl = standing pose) for 20 s from the keyframe: (seconds standing, largest chain gap in m)."""
    data = stand_data(model)
    gap = 0.0
    for k in range(1000):  # 20 ms control periods
        mujoco.mj_step(model, data, nstep=nsteps(model, 0.02))
        gap = max(gap, chain_gap(model, data))
        if data.qpos[2] < 0.8:
            return (k + 1) * 0.02, gap
    return 20.0, gap


def test_2_ms_physics_stands_20_s_with_the_chains_closed():
    """Issue 11 item 1: at 2 ms (10 substeps a control period) zero action stands the whole 20 s episode on the
    floor and the six connects stay closed to < 1 mm (measured 0.38 mm; the source's 0.5 ms model: 0.27 mm). With
    the source's equality solimp at 2 ms MuJoCo clamps the solref time constant to 2 x 2 ms, the chains sag and
    the robot falls (measured at 10.7 s): that is what the stiffer solimp of digit.xml fixes."""
    seconds, gap = _stand_20_s(load_model())
    assert seconds == 20.0 and gap < 1e-3, (seconds, gap)
    soft = load_model()
    soft.eq_solimp[:] = SOURCE_EQ_SOLIMP
    seconds, _ = _stand_20_s(soft)
    assert seconds < 20.0  # the check above can fail: the old solimp at 2 ms does


# ----------------------------------------------------------------------------- PD


def test_pd_tracks_step_and_respects_torque_limits():
    model = fixed_base_model()  # gravity on, limbs hanging
    data = stand_data(model)
    settle(model, data, 0.2)
    yaw = MOTOR_JOINTS.index("left-hip-yaw")
    shoulder = MOTOR_JOINTS.index("right-shoulder-pitch")
    # Hip-yaw axis is ~vertical (OSU digit-v3.xml), so gravity gives ~no steady torque: a 0.2 rad step must be
    # tracked to within frictionloss/kp = 1/800 rad (+ margin: 0.02) within 1 s (kp 800, kd 25 + 1 joint
    # damping on ~0.2 kg m^2 incl. armature: damping ratio ~1, settles in ~0.1 s).
    # Shoulder pitch: a 2.2 rad step asks kp*2.2 = 176 N m > 113 N m, so the limit must clamp.
    data.ctrl[yaw] += 0.2
    data.ctrl[shoulder] = 1.3  # from -0.895; range is +-2.53 rad
    dofs = model.jnt_dofadr[model.actuator_trnid[:, 0]]
    peak = np.zeros(model.nu)
    for _ in range(nsteps(model, 1.0)):  # 1 s, one substep at a time to see every force
        mujoco.mj_step(model, data)
        peak = np.maximum(peak, np.abs(data.actuator_force))
        # gear 1: the joint receives exactly the actuator force
        assert np.allclose(data.qfrc_actuator[dofs], data.actuator_force)
    assert np.all(peak <= TORQUE_LIMITS + 1e-9)
    assert peak[shoulder] == pytest.approx(TORQUE_LIMITS[shoulder])  # saturated: the clamp was exercised
    assert abs(data.qpos[qadr(model, "left-hip-yaw")] - data.ctrl[yaw]) < 0.02
    # the shoulder got there too: gravity on the arm (~3 kg at <0.2 m, < 6 N m) / kp 80 + friction 2/80
    assert abs(data.qpos[qadr(model, "right-shoulder-pitch")] - 1.3) < 0.12


def test_gear_80_joints_clip_at_the_source_simulations_113_nm():
    """Issue 11 item 2: hip roll, shoulder roll, shoulder pitch and elbow (gear 80) clip at the source XML's ctrlrange
    x gear = 1.4125 x 80 = 113.0 N m (not the LLAPI's 126.68, the source's reward normaliser); the other motors'
    source limits equal the LLAPI ones (OSU mj_digitsim.py; README.md "Reference numbers")."""
    model = load_model()
    gear80 = np.array(
        [name.split("-", 1)[1] in ("hip-roll", "shoulder-roll", "shoulder-pitch", "elbow") for name in MOTOR_JOINTS]
    )
    assert gear80.sum() == 8
    assert np.allclose(model.actuator_forcerange[gear80], [-113.0, 113.0])
    assert np.allclose(TORQUE_LIMITS[gear80], 80 * 1.4125)
    assert np.allclose(TORQUE_LIMITS[~gear80], LLAPI_TORQUE_LIMITS[~gear80])
    assert np.allclose(LLAPI_TORQUE_LIMITS[gear80], 126.682458)
