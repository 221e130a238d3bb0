"""Small geometry helpers shared by the robot envs (one implementation each)."""

import mujoco
import numpy as np


def quat_to_mat(quat):
    """Rotation matrix (3, 3) of a unit quaternion (w, x, y, z) (MuJoCo's ``mju_quat2Mat``)."""
    R = np.empty(9)
    mujoco.mju_quat2Mat(R, quat)
    return R.reshape(3, 3)
