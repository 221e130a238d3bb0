"""Evaluation is deterministic: each script's evaluation executes the policy's MEAN action (tanh of the mean for the
tanh-Gaussian actors; the mean clipped to the env's [-1, 1] on Digit), never a sample, so evaluating the same policy
twice on the same seeds sends the same actions and gives the same returns, whatever the global random generators
hold in between. Checked on Reach (tests/toy_env.py) for the Gymnasium evaluations of l2t_ipmd_cassie.py,
tsl_dagger_baseline.py and l2t_sac_mujoco.py, and for the Digit-shaped evaluations of l2t_ppo_digit.py and
tsl_dagger_baseline.py (teacher and LSTM student) on `ReachDigitVec`.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import load_script
from toy_env import ReachDigitVec

SEED = 123


class RecordActions(gym.Wrapper):
    """Records every (observation the action was chosen on, action) of one sub-env into `log`."""

    def __init__(self, env, log):
        super().__init__(env)
        self.log = log

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.log.append(({k: np.array(v) for k, v in self.obs.items()}, np.array(action)))
        self.obs, *rest = self.env.step(action)
        return (self.obs, *rest)


def returns_of(result):
    return result["return"] if isinstance(result, dict) else result[0]


def scramble_global_rngs(k):
    """Different global generator states before each evaluation: a sampling evaluation would then differ."""
    torch.manual_seed(1000 + k)
    np.random.seed(2000 + k)


@pytest.mark.parametrize("script", ["l2t_ipmd_cassie", "tsl_dagger_baseline", "l2t_sac_mujoco"])
@pytest.mark.parametrize("key", ["state", "observation"])
def test_gym_evaluation_executes_tanh_of_the_mean_and_repeats_exactly(script, key):
    module = load_script(script)
    torch.manual_seed(0)
    actor = module.Actor(2, 1, 16)
    with torch.no_grad():
        actor.fc_logstd.bias.fill_(1.0)  # a wide Gaussian: a sample would be far from tanh(mean)
    runs = []
    for k in range(2):
        logs = [[] for _ in range(3)]
        fns = [
            lambda i=i: RecordActions(module.make_env("l2t-test/Reach-v0", 0.3, "uniform", SEED + i)(), logs[i])
            for i in range(3)
        ]
        scramble_global_rngs(k)
        runs.append((returns_of(module.evaluate(actor, key, fns, SEED, "cpu")), logs))
    (ret0, logs0), (ret1, logs1) = runs
    assert np.array_equal(ret0, ret1)
    for log0, log1 in zip(logs0, logs1):
        assert len(log0) == len(log1) == 5  # one Reach episode per sub-env
        for (obs0, a0), (obs1, a1) in zip(log0, log1):
            assert np.array_equal(a0, a1) and np.array_equal(obs0[key], obs1[key])
            with torch.no_grad():
                mean = actor(torch.as_tensor(obs0[key], dtype=torch.float32)[None])[0][0]
            assert np.allclose(a0, torch.tanh(mean).numpy(), atol=1e-6, rtol=0)
    if key == "observation":  # the noisy observation is what the student read, not the state
        assert any(not np.array_equal(o["observation"], o["state"]) for o, _ in logs0[0])


def record_vec(num_envs, alpha):
    """A ReachDigitVec that logs (state, observation, action) of every step."""
    env = ReachDigitVec(num_envs, alpha=alpha)
    env.log = []
    reset, step = env.reset, env.step

    def logged_reset(**kwargs):
        env.last, info = reset(**kwargs)
        return env.last, info

    def logged_step(actions):
        env.log.append((env.last["state"].copy(), env.last["observation"].copy(), np.array(actions)))
        out = step(actions)
        env.last = out[0]
        return out

    env.reset, env.step = logged_reset, logged_step
    return env


def digit_eval_twice(evaluate, *args):
    """Two evaluations on fresh recording envs with scrambled global generators between: (results, logs)."""
    results, logs = [], []
    for k in range(2):
        envs = record_vec(4, 0.3)
        scramble_global_rngs(k)
        results.append(evaluate(envs, *args))
        logs.append(envs.log)
    assert all(np.array_equal(results[0][key], results[1][key]) for key in results[0])
    assert len(logs[0]) == len(logs[1]) == 5
    for step0, step1 in zip(*logs):
        assert all(np.array_equal(a, b) for a, b in zip(step0, step1))
    return logs[0]


def trained_normaliser(norm, dim):
    norm.update(torch.randn(64, dim) * 0.5 + 0.2)  # non-trivial statistics, so normalising matters


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_ppo_evaluation_executes_the_mean_and_repeats_exactly(who):
    ppo = load_script("l2t_ppo_digit")
    from envs.digit.env import OBS_DIM, STUDENT_DIM

    torch.manual_seed(0)
    nets = ppo.L2TNets(16, 2.0, True, 1.0, "flat")  # std 2: a sample would be far from the mean
    trained_normaliser(nets.state_norm, OBS_DIM)
    trained_normaliser(nets.obs_norm, STUDENT_DIM)
    log = digit_eval_twice(lambda envs: ppo.evaluate(envs, nets, who, SEED, "cpu"))
    hidden = nets.student.initial_hidden(4)
    with torch.no_grad():
        for state, obs, action in log:
            if who == "teacher":
                mean = nets.teacher(nets.state_norm(torch.as_tensor(state)))[0]
            else:  # the LSTM from a zero state at the episode's start, on o alone
                mean, hidden = nets.student.step(nets.obs_norm(torch.as_tensor(obs[:, :STUDENT_DIM])), hidden)
            assert np.allclose(action, mean.clamp(-1, 1).numpy(), atol=1e-6, rtol=0)
            assert (np.abs(mean.numpy()) < 1).mean() > 0.3  # the clip does not hide what was sent


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_tsl_digit_evaluation_executes_the_mean_and_repeats_exactly(who):
    tsl = load_script("tsl_dagger_baseline")
    from envs.digit.env import OBS_DIM, STUDENT_DIM

    torch.manual_seed(0)
    teacher, student = tsl.DigitTeacher(OBS_DIM, True), tsl.LSTMStudent(STUDENT_DIM, 16, True)
    trained_normaliser(teacher.state_norm, OBS_DIM)
    trained_normaliser(student.obs_norm, STUDENT_DIM)
    with torch.no_grad():
        teacher.teacher.log_std.fill_(1.0)
        student.student.log_std.fill_(1.0)
    log = digit_eval_twice(lambda envs: tsl.evaluate_digit(envs, teacher, student, who, SEED, "cpu"))
    hidden = student.student.initial_hidden(4)
    with torch.no_grad():
        for state, obs, action in log:
            if who == "teacher":
                mean = teacher.teacher(teacher.state_norm(torch.as_tensor(state)))[0]
            else:
                mean, hidden = student.student.step(student.obs_norm(torch.as_tensor(obs[:, :STUDENT_DIM])), hidden)
            assert np.allclose(action, mean.clamp(-1, 1).numpy(), atol=1e-6, rtol=0)
