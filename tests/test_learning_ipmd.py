"""l2t_ipmd_cassie.py learns: on Reach (tests/toy_env.py, `l2t-test/Reach-v0`) its IPMD teacher, which never sees
the env's reward, learns a reward from a scripted expert's demonstrations and nearly reaches the optimum; its student,
with each --student-loss, nearly reaches the teacher.

The expert is the optimal policy clip(2 (g - x), -1, 1), 200 demonstration episodes (1000 transitions) written in
envs/demos.py's format. The script runs end to end (`main` with an Args object: `--reward-mode irl`, 600 env steps);
the returns are read from its TensorBoard events: they are the env's own reward, which the learner never saw. Its
evaluation plays the episodes of seeds seed + 10000 + i, i < 20, which `reach_reference` replays with the optimal and
a uniformly random policy, so the thresholds are fractions of gaps on the very same episodes:

* teacher: closes >= 70 % of the gap from the random policy's return to the optimal policy's;
* student (on the noisy observation, alpha 0.1): closes >= 80 % of the gap from the random policy to the teacher.
"""

import gymnasium as gym
import numpy as np
import pytest

from conftest import load_script, scalars
from envs.demos import Episode, save_demos
from toy_env import gap_closed, reach_optimal_action, reach_reference

EVAL_EPISODES = 20
TEACHER_GAP = 0.70
STUDENT_GAP = 0.80


@pytest.fixture
def ipmd():
    return load_script("l2t_ipmd_cassie")


def write_reach_expert(path):
    """200 episodes of the optimal policy on Reach (seeds 50000...), far from the evaluation's seeds."""
    env = gym.make("l2t-test/Reach-v0")
    episodes = []
    for i in range(200):
        state, _ = env.reset(seed=50_000 + i)
        states, actions, rewards, done = [state], [], [], False
        while not done:
            action = np.array([reach_optimal_action(state[0], state[1])])
            state, reward, terminated, truncated, _ = env.step(action)
            states.append(state), actions.append(action), rewards.append(reward)
            done = terminated or truncated
        episodes.append(Episode(np.array(states), np.array(actions), np.array(rewards), False))
    save_demos(path, "l2t-test/Reach-v0", episodes)
    return path


@pytest.fixture(scope="module")
def reach_expert(tmp_path_factory):
    return write_reach_expert(str(tmp_path_factory.mktemp("expert") / "reach_expert.npz"))


def reach_args(ipmd, tmp_path, expert, **overrides):
    """600 steps, learning from step 100; small networks, larger learning rates than the defaults, no noise
    curriculum (evaluation is at alpha anyway), no gradient penalty on the reward (it slowed the teacher 2x here),
    IPMD's own average-reward criterion (gamma 1)."""
    kwargs = dict(
        env_id="l2t-test/Reach-v0",
        expert_path=expert,
        reward_mode="irl",
        total_timesteps=600,
        learning_starts=100,
        batch_size=64,
        num_envs=1,
        hidden_dim=64,
        policy_lr=3e-3,
        q_lr=3e-3,
        student_lr=3e-3,
        reward_lr=3e-3,
        reward_grad_penalty=0.0,
        curriculum=False,
        alpha=0.1,
        eval_frequency=0,
        eval_episodes=EVAL_EPISODES,
        checkpoint_frequency=0,
        log_frequency=100,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return ipmd.Args(**kwargs)


# Margins (measured on the 2-core machine): teacher gap closed at 600 steps 0.886 / 0.92 / 0.85 with seeds 1 / 2 / 3
# (threshold 0.70; the teacher is the same for every loss of a seed); student/teacher gap closed 0.944-1.008 over
# the six losses with seed 1, and 0.99-1.02 for l1+asym with seeds 1-3 at 800 steps (threshold 0.80). With the
# reward loss's sign flipped (the expert's pairs scored low) the teacher ends at -5.9, below the random's -3.7.
@pytest.mark.parametrize("kind", ["l1", "l2", "kl", "asym", "l1+asym", "l2+asym"])
def test_ipmd_teacher_and_student_learn_reach_from_a_scripted_expert(ipmd, tmp_path, reach_expert, kind):
    seed = 1
    logged = scalars(ipmd.main(reach_args(ipmd, tmp_path, reach_expert, student_loss=kind, seed=seed)))
    teacher = logged["eval/teacher_return"][-1][1]
    student = logged["eval/student_return"][-1][1]
    optimal, random_ = reach_reference(range(seed + 10_000, seed + 10_000 + EVAL_EPISODES))
    assert gap_closed(teacher, random_, optimal) >= TEACHER_GAP, (teacher, random_, optimal)
    assert gap_closed(student, random_, teacher) >= STUDENT_GAP, (student, random_, teacher)
