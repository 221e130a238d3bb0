"""Left-right mirror maps of Digit (envs/digit/symmetry.py): involutions, and consistent with the physics."""

import mujoco
import numpy as np
import torch

from envs.digit import STAND_QPOS
from envs.digit.env import DigitEnv
from envs.digit.symmetry import ACTION_MAP, OBS_MAP, STATE_MAP, mirror
from envs.digit.task import OBS_DIM, OBS_SLICES, STUDENT_DIM


def test_mirroring_twice_is_the_identity_and_maps_are_permutations():
    rng = np.random.default_rng(0)
    for mirror_map, dim in ((STATE_MAP, OBS_DIM), (OBS_MAP, STUDENT_DIM), (ACTION_MAP, 20)):
        index, sign = mirror_map
        assert sorted(index) == list(range(dim)) and set(np.abs(sign)) == {1.0}
        x = rng.normal(size=(5, dim))
        np.testing.assert_array_equal(mirror(mirror(x, mirror_map), mirror_map), x)
        # numpy and torch give the same image
        np.testing.assert_allclose(mirror(torch.as_tensor(x), mirror_map).numpy(), mirror(x, mirror_map))
    # the student's map is the teacher's on its first STUDENT_DIM inputs
    np.testing.assert_array_equal(OBS_MAP[0], STATE_MAP[0][:STUDENT_DIM])


def _stand_still(env):
    d = env.data
    d.qpos[:] = STAND_QPOS
    d.qvel[:] = 0.0
    env._command[:] = 0.0
    mujoco.mj_forward(env.model, d)


def test_a_mirrored_action_sequence_gives_the_mirrored_states():
    """From the (symmetric) standing pose, actions a_t and their mirror images M a_t must give mirror-image
    trajectories: M s_t of the first run equals s_t of the second on every physical input (the clock and the
    command are not physics: they are left out). Fails if a joint's twin or sign, or a vector's sign, is wrong."""
    rng = np.random.default_rng(1)
    actions = rng.normal(0.0, 0.3, size=(8, 20))
    runs = []
    for sequence in (actions, mirror(actions, ACTION_MAP)):
        env = DigitEnv(terrain="flat", randomize=False)
        env.reset(seed=0)
        _stand_still(env)
        states = [env.step(a)[0] for a in sequence]
        runs.append(np.array(states))
    mirrored = mirror(runs[0], STATE_MAP)
    for name, sl in OBS_SLICES.items():
        if name in ("clock", "command"):  # not physics (the env_params are all zero without randomisation)
            continue
        size = np.abs(runs[0][:, sl]).max()
        # measured: at most 7e-4 of the block's largest value (the model's contacts are not bit-symmetric); a wrong
        # sign or twin is off by about the value itself
        assert np.abs(mirrored[:, sl] - runs[1][:, sl]).max() <= 5e-3 * size + 1e-9, name
    # and the motion is not trivially symmetric: the two runs differ
    assert np.abs(runs[0] - runs[1])[:, OBS_SLICES["joint_pos"]].max() > 1e-2
