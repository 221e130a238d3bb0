"""Every Table II term of envs/digit/rewards.py against a value computed by hand from a constructed state.

Each expected number is written out and derived in a comment from the term's formula (Table II, Eqs. 6-7, and the
Isaac Lab term it names); the tracking kernels are checked off their peak, so their widths are tested too.
Motor order (MOTOR_JOINTS): left hip-roll 0, hip-yaw 1, hip-pitch 2, knee 3, toe-a 4, toe-b 5, shoulder-roll 6,
shoulder-pitch 7, shoulder-yaw 8, elbow 9; the right side 10-19 in the same order.
"""

import math

import numpy as np
import pytest

from envs.digit import rewards as R
from envs.digit.rewards import FOOT_STANCE_REL_COM, GAIT_PERIOD, RewardInputs

E1 = math.exp(-1.0)


def state(**fields):
    return RewardInputs(**fields)


def test_penalties_on_actions_joints_and_body_motion():
    # action_rate = sum (a - a_prev)^2 = 20 x (0.3 - 0.1)^2 = 0.8
    assert R.action_rate(state(action=np.full(20, 0.3), last_action=np.full(20, 0.1))) == pytest.approx(0.8)
    # dof_vel = sum qdot^2 = 20 x 0.5^2 = 5.0
    assert R.dof_vel(state(motor_vel=np.full(20, 0.5))) == pytest.approx(5.0)
    # dof_acc = 100^2 on one joint
    acc = np.zeros(20)
    acc[3] = 100.0
    assert R.dof_acc(state(motor_acc=acc)) == pytest.approx(1e4)
    # dof_torques = 3^2 + 4^2 = 25
    assert R.dof_torques(state(motor_torque=np.array([3.0, 4.0] + [0.0] * 18))) == pytest.approx(25.0)
    # undesired_contacts counts the geoms: 2
    assert R.undesired_contacts(state(undesired_contacts=2)) == pytest.approx(2.0)
    # flat_orientation = g_x^2 + g_y^2 = 0.3^2 + 0.4^2 = 0.25 (g_z is not counted)
    assert R.flat_orientation(state(projected_gravity=np.array([0.3, 0.4, -0.866]))) == pytest.approx(0.25)
    # lin_vel_z = v_z^2 = 0.5^2 (x, y not counted)
    assert R.lin_vel_z(state(lin_vel_b=np.array([1.0, 2.0, 0.5]))) == pytest.approx(0.25)
    # ang_vel_xy = w_x^2 + w_y^2 = 0.09 + 0.16 (w_z not counted)
    assert R.ang_vel_xy(state(ang_vel_b=np.array([0.3, -0.4, 2.0]))) == pytest.approx(0.25)
    # dof_pos_limits = sum of the excesses = 0.1 + 0.05 + 0.02
    assert R.dof_pos_limits(state(limit_excess=np.array([0.1, 0.0, 0.05, 0.0, 0.0, 0.02]))) == pytest.approx(0.17)


def test_joint_deviations_pick_their_joints():
    q = np.array([(-1) ** i * 0.01 * (i + 1) for i in range(20)])  # |q_i| = 0.01 (i + 1)
    s = state(motor_pos_rel=q)
    # hips: roll and yaw of both legs, motors 0, 1, 10, 11: 0.01 + 0.02 + 0.11 + 0.12
    assert R.joint_deviation_hip(s) == pytest.approx(0.26)
    # toes: 4, 5, 14, 15: 0.05 + 0.06 + 0.15 + 0.16
    assert R.joint_deviation_toes(s) == pytest.approx(0.42)
    # arms: 6-9 and 16-19: 0.07 + 0.08 + 0.09 + 0.10 + 0.17 + 0.18 + 0.19 + 0.20
    assert R.joint_deviation_arms(s) == pytest.approx(1.08)


def test_feet_terms():
    moving = np.array([0.5, 0.0, 0.0])
    # feet_sliding: only the foot in contact (> 1 N) counts: left |(0.3, 0.4)| = 0.5; right (0.5 N) does not
    s = state(foot_force=np.array([50.0, 0.5]), foot_vel_xy=np.array([[0.3, 0.4], [1.0, 0.0]]))
    assert R.feet_sliding(s) == pytest.approx(0.5)
    # feet_air_time: single stance (left on the ground 0.3 s, right in the air 0.5 s): min(0.3, 0.5) = 0.3
    s = state(command=moving, contact_time=np.array([0.3, 0.0]), air_time=np.array([0.0, 0.5]))
    assert R.feet_air_time(s) == pytest.approx(0.3)
    # ... capped at 0.8 s: min(0.9, 1.2) = 0.9 -> 0.8
    s = state(command=moving, contact_time=np.array([0.9, 0.0]), air_time=np.array([0.0, 1.2]))
    assert R.feet_air_time(s) == pytest.approx(0.8)
    # ... 0 for a standing command (|cmd_xy| = 0.07 < 0.1) and in double stance
    s = state(command=np.array([0.05, 0.05, 0.0]), contact_time=np.array([0.3, 0.0]), air_time=np.array([0.0, 0.5]))
    assert R.feet_air_time(s) == 0.0
    assert R.feet_air_time(state(command=moving, contact_time=np.array([0.3, 0.2]))) == 0.0
    # foot_clearance = exp(-sum (h - 0.1)^2 tanh(2 |v_xy|) / 0.05); left at the apex (0 error), right on the
    # ground (0.1 m short) moving at 1 m/s: exp(-0.01 tanh(2) / 0.05) = exp(-0.19281)
    s = state(foot_above_ground=np.array([0.1, 0.0]), foot_vel_xy=np.array([[0.5, 0.0], [0.0, 1.0]]))
    assert R.foot_clearance(s) == pytest.approx(math.exp(-0.01 * math.tanh(2.0) / 0.05))
    assert R.foot_clearance(s) == pytest.approx(0.82464, abs=1e-5)


def test_eq7_foot_contact_follows_the_gait_clock():
    t = GAIT_PERIOD / 4  # phi = sin(pi / 2) = 1: left in stance, right in swing
    # both match: +C1 + C1 = 1.0; both wrong: -C2 - C2 = -1.0; one each: 0
    assert R.foot_contact(state(time=t, foot_force=np.array([50.0, 0.0]))) == pytest.approx(1.0)
    assert R.foot_contact(state(time=t, foot_force=np.array([0.0, 50.0]))) == pytest.approx(-1.0)
    assert R.foot_contact(state(time=t, foot_force=np.array([50.0, 50.0]))) == pytest.approx(0.0)
    # half a period later the roles swap
    assert R.foot_contact(state(time=3 * t, foot_force=np.array([0.0, 50.0]))) == pytest.approx(1.0)


def test_eq6_foot_height_kernel_on_and_off_its_target():
    # t = 0: both feet in stance, target = FOOT_STANCE_REL_COM each; errors 0.03 and 0.04: exp(-0.05)
    s = state(time=0.0, foot_rel_com=np.array([FOOT_STANCE_REL_COM + 0.03, FOOT_STANCE_REL_COM + 0.04]))
    assert R.track_foot_height(s) == pytest.approx(math.exp(-0.05))
    # a quarter period: the right foot at the apex of its swing (target + 0.10 m), the left in stance
    t = GAIT_PERIOD / 4
    on = state(time=t, foot_rel_com=np.array([FOOT_STANCE_REL_COM, FOOT_STANCE_REL_COM + 0.10]))
    assert R.track_foot_height(on) == pytest.approx(1.0)
    off = state(time=t, foot_rel_com=np.full(2, FOOT_STANCE_REL_COM))  # the right foot 0.10 m low: exp(-0.1)
    assert R.track_foot_height(off) == pytest.approx(math.exp(-0.1))


def test_velocity_tracking_kernels_off_their_peak():
    # exp(-|cmd_xy - v_xy|^2 / 0.25): error (0.3, -0.4), squared norm 0.25 -> e^-1
    s = state(
        command=np.array([0.5, 0.2, 1.0]), lin_vel_yaw=np.array([0.2, 0.6, 0.0]), ang_vel_w=np.array([0.0, 0.0, 0.5])
    )
    assert R.track_lin_vel_xy(s) == pytest.approx(E1)
    # exp(-(cmd_wz - w_z)^2 / 0.25): error 0.5 -> e^-1
    assert R.track_ang_vel_z(s) == pytest.approx(E1)
    # on the peak: 1
    assert R.track_lin_vel_xy(state(command=np.array([0.5, 0.2, 0.0]), lin_vel_yaw=np.array([0.5, 0.2, 9.0]))) == 1.0


def test_termination_alive_and_the_weighted_sum():
    fell, stood = state(terminated=True), state()
    assert (R.termination(fell), R.alive(fell), R.termination(stood), R.alive(stood)) == (1.0, 0.0, 0.0, 1.0)
    # reward_terms = weight x value x dt: v2's tracking weight 2.0 x e^-1 x 0.02
    s = state(command=np.array([0.5, 0.2, 0.0]), lin_vel_yaw=np.array([0.2, 0.6, 0.0]))
    terms = R.reward_terms(s, R.V2_REWARD_WEIGHTS)
    assert terms["track_lin_vel_xy"] == pytest.approx(2.0 * E1 * 0.02)
    assert terms["alive"] == pytest.approx(0.01 * 0.02) and terms["termination"] == 0.0
    # the fall's term: -200 x 1 x 0.02
    assert R.reward_terms(fell, R.V2_REWARD_WEIGHTS)["termination"] == pytest.approx(-4.0)


def test_batched_inputs_give_each_rows_value():
    """The terms read the last axis only: a batch of two states gives the two single-state values."""
    a = state(
        command=np.array([0.5, 0.2, 1.0]),
        lin_vel_yaw=np.array([0.2, 0.6, 0.0]),
        foot_force=np.array([50.0, 0.0]),
        time=GAIT_PERIOD / 4,
    )
    b = state(
        command=np.array([0.0, 0.0, 0.0]),
        lin_vel_yaw=np.array([0.0, 0.0, 0.0]),
        foot_force=np.array([0.0, 50.0]),
        time=GAIT_PERIOD / 4,
    )
    both = RewardInputs(
        **{
            k: np.stack([np.asarray(getattr(a, k)), np.asarray(getattr(b, k))])
            for k in RewardInputs.__dataclass_fields__
        }
    )
    for term in (R.track_lin_vel_xy, R.foot_contact, R.track_foot_height, R.feet_air_time):
        np.testing.assert_allclose(term(both), [term(a), term(b)], err_msg=term.__name__)
