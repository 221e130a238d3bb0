"""l2t_sac_mujoco.py learns: on Reach (tests/toy_env.py, `l2t-test/Reach-v0`) its SAC teacher nearly reaches the
optimum and its student, with each --student-loss, nearly reaches the teacher.

Reach: a point x must be driven to a target g (state [x, g]), optimal action clip(2 (g - x), -1, 1), 5-step
episodes. The script runs end to end (`main` with an Args object, 600 env steps); the returns are read from its
TensorBoard events. Its evaluation plays the episodes of seeds seed + 10000 + i, i < 20, which `reach_reference`
replays with the optimal and a uniformly random policy, so the thresholds are fractions of gaps on the very same
episodes:

* teacher: closes >= 75 % of the gap from the random policy's return to the optimal policy's;
* student (on the noisy observation, alpha 0.1): closes >= 80 % of the gap from the random policy to the teacher.

A policy that ignores its input does not pass: the zero action closes ~11 % of the first gap.
"""

import pytest

from conftest import load_script, scalars
from toy_env import gap_closed, reach_reference

EVAL_EPISODES = 20
TEACHER_GAP = 0.75
STUDENT_GAP = 0.80


@pytest.fixture
def sac():
    return load_script("l2t_sac_mujoco")


def reach_args(sac, tmp_path, **overrides):
    """600 steps, learning from step 100; small networks, a larger learning rate than CleanRL's, gamma 0.5 (the
    greedy policy is optimal on Reach, and a short horizon makes the critic's targets settle quickly)."""
    kwargs = dict(
        env_id="l2t-test/Reach-v0",
        total_timesteps=600,
        learning_starts=100,
        batch_size=64,
        num_envs=1,
        hidden_dim=64,
        gamma=0.5,
        policy_lr=3e-3,
        q_lr=3e-3,
        student_lr=3e-3,
        alpha=0.1,
        eval_frequency=0,
        eval_episodes=EVAL_EPISODES,
        checkpoint_frequency=0,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return sac.Args(**kwargs)


# Margins (seeds 1, 2, 3 of each loss, measured on the 2-core machine): teacher gap closed 0.876-0.908 (threshold
# 0.75; the teacher is the same for every loss of a seed); student/teacher gap closed 0.912-1.007 (threshold 0.80),
# lowest for l1 with seed 3. Without any student update the student acts ~tanh of a random init: far below.
@pytest.mark.parametrize("kind", ["l1", "l2", "kl", "asym", "l1+asym", "l2+asym"])
def test_sac_teacher_and_student_learn_reach(sac, tmp_path, kind):
    seed = 1
    logged = scalars(sac.main(reach_args(sac, tmp_path, student_loss=kind, seed=seed)))
    teacher = logged["eval/teacher_return"][-1][1]
    student = logged["eval/student_return"][-1][1]
    optimal, random_ = reach_reference(range(seed + 10_000, seed + 10_000 + EVAL_EPISODES))
    assert optimal > random_ + 3.0  # the task leaves a wide gap to close (about -0.4 against -3.7)
    assert gap_closed(teacher, random_, optimal) >= TEACHER_GAP, (teacher, random_, optimal)
    assert gap_closed(student, random_, teacher) >= STUDENT_GAP, (student, random_, teacher)
