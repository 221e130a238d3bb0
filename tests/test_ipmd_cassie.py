"""l2t_ipmd_cassie.py: reward learning, the average-reward target, the noise curriculum, smoke runs, bad input,
resume, non-finite losses, and the committed Cassie expert."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, load_script, scalars
from envs.demos import Episode, load_demos, save_demos

SCRIPT = os.path.join(ROOT, "l2t_ipmd_cassie.py")
CASSIE = "l2t/Cassie-v1"


@pytest.fixture
def ipmd():
    return load_script("l2t_ipmd_cassie")


def make_demo(path, env_id=CASSIE, steps=40, seed=0, state_dim=None, action_dim=None):
    """A tiny demonstration: a short rollout of small random actions (or random arrays of the given dims)."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers l2t/Cassie-v1)

    rng = np.random.default_rng(seed)
    if state_dim is not None:
        ep = Episode(
            rng.normal(size=(steps + 1, state_dim)), rng.uniform(-1, 1, (steps, action_dim)), np.ones(steps), False
        )
    else:
        env = gym.make(env_id)
        s, _ = env.reset(seed=seed)
        states, actions, rewards = [s], [], []
        for _ in range(steps):
            a = rng.uniform(-0.1, 0.1, env.action_space.shape)
            s, r, term, trunc, _ = env.step(a)
            states.append(s), actions.append(a), rewards.append(r)
            if term or trunc:
                break
        ep = Episode(np.array(states), np.array(actions), np.array(rewards), bool(term))
    save_demos(path, env_id, [ep])
    return path


def tiny(tmp_path, *extra):
    return [
        sys.executable,
        SCRIPT,
        "--total-timesteps",
        "320",
        "--learning-starts",
        "160",
        "--batch-size",
        "32",
        "--num-envs",
        "2",
        "--hidden-dim",
        "32",
        "--eval-frequency",
        "160",
        "--eval-episodes",
        "1",
        "--log-frequency",
        "40",
        "--curriculum-interval",
        "40",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
        *extra,
    ]


def run(cmd, timeout=120):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc


# ---------------------------------------------------------------- units


def test_reward_loss_separates_expert_from_agent_and_stays_bounded(ipmd):
    torch.manual_seed(0)
    net = ipmd.RewardNet(4, 2, 32)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    agent_s, agent_a = torch.randn(64, 4) - 1.0, torch.randn(64, 2)
    expert_s, expert_a = torch.randn(64, 4) + 1.0, torch.randn(64, 2)

    def gap():
        with torch.no_grad():
            return (net(expert_s, expert_a).mean() - net(agent_s, agent_a).mean()).item()

    before = gap()
    for _ in range(5):  # a few steps already raise r on the expert's samples relative to the agent's
        gap_before_step = gap()
        loss, reward_gap, r_agent = ipmd.reward_loss(net, agent_s, agent_a, expert_s, expert_a, reg=0.5)
        opt.zero_grad(), loss.backward(), opt.step()
    assert gap() > before + 0.1
    # the returned gap and agent reward are those of the batch before the step
    assert reward_gap.item() == pytest.approx(gap_before_step, abs=1e-5)
    with torch.no_grad():
        assert r_agent.item() != pytest.approx(net(agent_s, agent_a).mean().item(), abs=1e-6)  # (the step moved it)
    for _ in range(500):  # trained to convergence: separable data, yet psi bounds r near +-1/(2 c) = +-1
        loss, _, _ = ipmd.reward_loss(net, agent_s, agent_a, expert_s, expert_a, reg=0.5)
        opt.zero_grad(), loss.backward(), opt.step()
    with torch.no_grad():
        r_e, r_a = net(expert_s, expert_a), net(agent_s, agent_a)
    assert r_e.mean().item() == pytest.approx(1.0, abs=0.1) and r_a.mean().item() == pytest.approx(-1.0, abs=0.1)
    assert r_e.abs().max().item() < 1.5 and r_a.abs().max().item() < 1.5
    # without the regulariser the same training lets the reward run away
    net2 = ipmd.RewardNet(4, 2, 32)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-2)
    for _ in range(500):
        loss, _, _ = ipmd.reward_loss(net2, agent_s, agent_a, expert_s, expert_a, reg=0.0)
        opt2.zero_grad(), loss.backward(), opt2.step()
    with torch.no_grad():
        assert (net2(expert_s, expert_a).mean() - net2(agent_s, agent_a).mean()).item() > 10


def test_gradient_penalty_keeps_a_signal_on_agent_samples(ipmd):
    """Trained to convergence on separable data, the reward without the gradient term is a flat -1 on the agent's
    samples (no signal for the teacher); with it, the agent's reward rises with closeness to the expert's data."""
    results = {}
    for gp in (0.0, 1.0):
        torch.manual_seed(0)
        net = ipmd.RewardNet(4, 2, 32)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        agent_s, agent_a = torch.randn(64, 4) - 1.0, torch.randn(64, 2)
        expert_s, expert_a = torch.randn(64, 4) + 1.0, torch.randn(64, 2)
        for _ in range(500):
            loss, _, _ = ipmd.reward_loss(net, agent_s, agent_a, expert_s, expert_a, 0.5, gp)
            opt.zero_grad(), loss.backward(), opt.step()
        with torch.no_grad():
            r = net(agent_s, agent_a)
        closeness = -(agent_s - 1.0).norm(dim=1)
        results[gp] = (r.std().item(), torch.corrcoef(torch.stack([r, closeness]))[0, 1].item())
    assert results[0.0][0] < 0.05
    assert results[1.0][0] > 0.1 and results[1.0][1] > 0.7


def test_average_reward_target_matches_hand_computation(ipmd):
    r = torch.tensor([1.0, 0.0, 2.0])
    next_q = torch.tensor([10.0, 20.0, 30.0])
    next_logp = torch.tensor([-1.0, -2.0, 0.0])
    term = torch.tensor([0.0, 1.0, 0.0])
    c = 0.5
    # rho = mean(r - c log pi') = mean(1.5, 1.0, 2.0) = 1.5
    # V' = Q' - c log pi' = (10.5, 21, 30); target = r - rho + (1 - d) V'
    target, rho = ipmd.td_target(r, next_q, next_logp, term, c, 1.0)
    assert rho.item() == pytest.approx(1.5)
    assert target.tolist() == pytest.approx([1 - 1.5 + 10.5, 0 - 1.5, 2 - 1.5 + 30])
    # discounted: r + gamma (1 - d) V', no rho
    target, rho = ipmd.td_target(r, next_q, next_logp, term, c, 0.9)
    assert rho.item() == 0.0
    assert target.tolist() == pytest.approx([1 + 0.9 * 10.5, 0.0, 2 + 0.9 * 30])


def test_mirror_descent_kl_pulls_towards_the_previous_policy(ipmd):
    """--policy-update md adds md_coef * KL(pi_old || pi): zero at pi = pi_old, the Gaussians' KL as pi moves away,
    and its gradient pulls pi back towards pi_old."""
    from torch.distributions import Normal, kl_divergence

    torch.manual_seed(0)
    teacher, old = ipmd.Actor(5, 2, 16), ipmd.Actor(5, 2, 16)
    old.load_state_dict(teacher.state_dict())
    state = torch.randn(8, 5)
    assert ipmd.mirror_descent_kl(old, state, *teacher(state)).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        teacher.fc_mean.bias += 0.5
    mean, log_std = teacher(state)
    kl = ipmd.mirror_descent_kl(old, state, mean, log_std)
    mean_old, log_std_old = old(state)
    reference = kl_divergence(Normal(mean_old, log_std_old.exp()), Normal(mean, log_std.exp())).sum(-1).mean()
    assert kl.item() > 0.01 and kl.item() == pytest.approx(reference.item(), rel=1e-5)
    kl.backward()
    assert (teacher.fc_mean.bias.grad > 0).all()  # descending it lowers the mean back towards pi_old's
    assert all(p.grad is None for p in old.parameters())


def test_curriculum_schedule(ipmd):
    f = ipmd.curriculum_alpha
    assert [f(s, 1000, 0.1, 0.5, True) for s in (0, 250, 500, 900)] == pytest.approx([0.0, 0.05, 0.1, 0.1])
    assert f(0, 1000, 0.1, 0.5, False) == 0.1 and f(0, 1000, 0.1, 0.0, True) == 0.1


# ---------------------------------------------------------------- end to end


def test_curriculum_reaches_every_sub_env_and_the_stored_noise_follows_it(ipmd, tmp_path):
    """The noise scale the sub-envs report follows the schedule, and the observations they produced (in the
    checkpointed buffer) carry noise of exactly that scale: never above alpha(t)|s|, and close to it."""
    args = ipmd.Args(
        total_timesteps=400,
        learning_starts=100,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        curriculum_interval=20,
        curriculum_fraction=0.5,
        alpha=0.2,
        reward_mode="imitation",
        expert_path=None,
        runs_dir=str(tmp_path),
        torch_threads=1,
        log_frequency=100,
    )
    run_dir = ipmd.main(args)
    logged = scalars(run_dir)
    lo, hi = dict(logged["charts/noise_alpha"]), dict(logged["charts/noise_alpha_max"])
    assert sorted(lo) == list(range(0, 401, 20))
    for step, value in lo.items():
        assert value == pytest.approx(ipmd.curriculum_alpha(step, 400, 0.2, 0.5, True), abs=1e-6)
        assert hi[step] == pytest.approx(value, abs=1e-6)  # every sub-env reports the same value
    rows = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)["buffer"]["storage"].numpy()
    s, o = rows[:, :57], rows[:, 57:114]
    mask = np.zeros(57, bool)
    mask[:45] = True
    ratio = np.abs(o - s)[:, mask].max(1) / np.abs(s)[:, mask].max(1)  # per transition, <= alpha in force
    steps = np.arange(len(rows)) // 2 * 2  # global step before the transition (2 envs)
    in_force = np.array([ipmd.curriculum_alpha(t - t % 20, 400, 0.2, 0.5, True) for t in steps])
    assert np.all(ratio <= in_force + 1e-6)
    late = steps >= 200
    assert ratio[late].max() > 0.15 and ratio[steps < 20].max() == 0.0
    assert np.array_equal(o[:, ~mask], s[:, ~mask])  # the clock and the reference stay clean


def test_smoke_irl(tmp_path):
    demo = make_demo(str(tmp_path / "demo.npz"))
    proc = run(tiny(tmp_path, "--expert-path", demo, "--checkpoint-frequency", "160"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = glob.glob(str(tmp_path / "l2t_Cassie-v1__*"))
    logged = scalars(run_dir)
    for tag in (
        "eval/teacher_return",
        "eval/student_return",
        "eval/teacher_length",
        "eval/student_length",
        "eval/expert_return",
    ):
        assert [s for s, _ in logged[tag]] == [160, 320], tag
    expert_return = float(load_demos(demo).episodes[0].rewards.sum())
    assert logged["eval/expert_return"][0][1] == pytest.approx(expert_return, rel=1e-5)
    for tag in (
        "losses/reward_loss",
        "losses/reward_gap",
        "losses/student_reward_loss",
        "losses/rho",
        "losses/qf_loss",
        "losses/student_bc_loss",
    ):
        assert tag in logged and all(np.isfinite(v) for _, v in logged[tag]), tag
    # resume continues the same run: step counter, then events after the checkpoint's step
    proc = run(
        tiny(
            tmp_path,
            "--expert-path",
            demo,
            "--total-timesteps",
            "480",
            "--resume",
            os.path.join(run_dir, "checkpoint.pt"),
        )
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resumed from" in proc.stdout and "global_step=320" in proc.stdout
    logged = scalars(run_dir)
    assert [s for s, _ in logged["eval/teacher_return"]] == [160, 320, 480]


def test_smoke_imitation_and_save_expert(tmp_path, ipmd):
    out = str(tmp_path / "expert.npz")
    proc = run(
        tiny(
            tmp_path,
            "--reward-mode",
            "imitation",
            "--expert-path",
            str(tmp_path / "none.npz"),
            "--student-loss",
            "l2",
            "--save-expert",
            out,
            "--expert-episodes",
            "2",
        )
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = glob.glob(str(tmp_path / "l2t_Cassie-v1__*"))
    logged = scalars(run_dir)
    assert "losses/reward_loss" not in logged and "eval/expert_return" not in logged  # no reward net, no expert
    assert [s for s, _ in logged["eval/student_return"]] == [160, 320]
    demos = load_demos(out, env_id=CASSIE, state_dim=57, action_dim=10)
    assert len(demos.episodes) == 2
    # the file holds the deterministic rollouts of the best teacher: replaying them gives the same returns
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    teacher = ipmd.Actor(57, 10, 32)
    teacher.load_state_dict(ckpt["best_teacher"])
    again = ipmd.rollout_expert(teacher, CASSIE, 2, 1 + 20_000, "cpu")
    for a, b in zip(again, demos.episodes):
        assert np.allclose(a.actions, b.actions) and a.rewards.sum() == pytest.approx(b.rewards.sum())
    # --expert-checkpoint writes the same file without training
    out2 = str(tmp_path / "expert2.npz")
    proc = run(
        [
            sys.executable,
            SCRIPT,
            "--hidden-dim",
            "32",
            "--save-expert",
            out2,
            "--expert-episodes",
            "2",
            "--expert-checkpoint",
            os.path.join(run_dir, "checkpoint.pt"),
            "--torch-threads",
            "1",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.array_equal(load_demos(out2).episodes[1].actions, demos.episodes[1].actions)


def test_updates_per_step_unused_student_reward_and_resume_counters(tmp_path, ipmd):
    """--updates-per-step: floor(vector steps since learning started x ratio) gradient steps, also across
    --resume; in `imitation` mode the student's reward network is never trained (nothing uses it), even with a
    student and an expert file; --min-reward reaches the training envs."""
    demo = make_demo(str(tmp_path / "demo.npz"), steps=20)
    common = dict(
        learning_starts=160,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        expert_path=demo,
        runs_dir=str(tmp_path),
        torch_threads=1,
        log_frequency=40,
        reward_mode="imitation",
        student_loss="l1",
    )
    run_dir = ipmd.main(ipmd.Args(total_timesteps=320, updates_per_step=0.5, **common))
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert ckpt["train_vector_steps"] == 80 and ckpt["gradient_steps"] == 40  # (320 - 160) / 2 vector steps
    assert ckpt["reward_s_optimizer"]["state"] == {} and ckpt["reward_t_optimizer"]["state"] == {}  # never stepped
    assert ckpt["student_optimizer"]["state"] != {}  # while the student itself did learn
    assert "losses/student_reward_loss" not in scalars(run_dir)
    ipmd.main(
        ipmd.Args(total_timesteps=480, updates_per_step=0.5, resume=os.path.join(run_dir, "checkpoint.pt"), **common)
    )
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert ckpt["global_step"] == 480 and ckpt["train_vector_steps"] == 160 and ckpt["gradient_steps"] == 80
    # several gradient steps per vector step, and the env option: every step's reward is < 0.99, so every training
    # episode ends after one step
    run_dir = ipmd.main(ipmd.Args(total_timesteps=240, updates_per_step=3, min_reward=0.99, **common))
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert ckpt["gradient_steps"] == 3 * 40
    lengths = [v for _, v in scalars(run_dir)["charts/episodic_length"]]
    assert len(lengths) > 100 and max(lengths) == 1


@pytest.mark.parametrize(
    "field,value",
    [
        ("updates_per_step", 0.0),
        ("updates_per_step", -1.0),
        ("updates_per_step", float("nan")),
        ("min_reward", 1.5),
        ("min_reward", -0.1),
        ("checkpoint_minutes", -1.0),
    ],
)
def test_bad_new_flags_are_one_line(tmp_path, ipmd, field, value):
    """Checked before any env is built (in-process: the CLI path through tyro is covered by test_bad_input)."""
    args = ipmd.Args(reward_mode="imitation", runs_dir=str(tmp_path), **{field: value})
    with pytest.raises(SystemExit) as info:
        ipmd.check_args(args)
    message = str(info.value)
    flag = "--" + field.replace("_", "-")
    assert len(message.splitlines()) == 1 and flag in message, message


@pytest.mark.parametrize("problem", ["missing", "empty", "malformed", "wrong-dim", "alpha", "alpha-neg", "mode"])
def test_bad_input_is_one_line(tmp_path, problem):
    path = str(tmp_path / "demo.npz")
    extra = ["--expert-path", path]
    if problem == "empty":
        open(path, "wb").close()
    elif problem == "malformed":
        np.savez(path, states=np.zeros((3, 57)))
    elif problem == "wrong-dim":
        make_demo(path, state_dim=40, action_dim=10, steps=5)
    elif problem in ("alpha", "alpha-neg", "mode"):
        make_demo(path, state_dim=57, action_dim=10, steps=5)
        extra += {"alpha": ["--alpha", "1.5"], "alpha-neg": ["--alpha", "-0.1"], "mode": ["--reward-mode", "gail"]}[
            problem
        ]
    proc = run(tiny(tmp_path, *extra), timeout=60)
    assert proc.returncode != 0
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    flag = {"alpha": "--alpha", "alpha-neg": "--alpha", "mode": "--reward-mode"}.get(problem, "--expert-path")
    assert flag in message
    if problem == "wrong-dim":
        assert "state_dim is 40, expected 57" in message


def test_nonfinite_loss_stops_with_a_checkpoint(tmp_path, ipmd, monkeypatch):
    """A NaN in the learned reward's loss stops the run before the optimiser step, with the state saved."""
    demo = make_demo(str(tmp_path / "demo.npz"), steps=20)
    real = ipmd.reward_loss

    def poisoned(*a, **k):
        loss, gap, r_agent = real(*a, **k)
        return loss * float("nan"), gap * float("nan"), r_agent

    monkeypatch.setattr(ipmd, "reward_loss", poisoned)
    args = ipmd.Args(
        total_timesteps=300,
        learning_starts=100,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        expert_path=demo,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    with pytest.raises(SystemExit, match="non-finite reward_loss"):
        ipmd.main(args)
    (saved,) = glob.glob(str(tmp_path / "*" / "nonfinite_step*.pt"))
    ckpt = torch.load(saved, weights_only=False)
    assert ckpt["global_step"] == 102 and all(torch.isfinite(v).all() for v in ckpt["reward_t"].values())


def test_committed_expert_loads_and_fits_the_env(ipmd):
    import gymnasium as gym

    demos = load_demos(ipmd.DEFAULT_EXPERT, env_id=CASSIE)
    env = gym.make(CASSIE)
    assert demos.state_dim == env.observation_space.shape[0] and demos.action_dim == env.action_space.shape[0]
    s, a, r, _, _ = demos.transitions()
    assert np.all(np.abs(a) <= 1.0) and np.all((r >= 0) & (r <= 1))
    # the first state is a reset state of the env (feet on the floor, pelvis near its reference height)
    assert 0.8 < s[0, 0] < 1.1


def test_committed_expert_policy_walks(ipmd):
    """data/cassie_expert_policy.pt (the best teacher of the run in data/README.md) walks on l2t/Cassie-v1: a
    deterministic episode (seed 1 + 20000, the one in data/cassie_expert.npz) reaches the 600-step time-out at
    0.5-0.7 m/s (measured 0.60), pelvis >= 0.9 m (1.02), ending < 0.3 m off the reference's line (0.02), and
    is the policy of the committed trajectory: on the trajectory's states it gives the trajectory's actions. (A
    closed-loop replay of the actions is not compared: the same state differs by ~1e-13 between an AMD and an Intel
    CPU, and the stiff springs' velocities amplify that to 0.03 rad/s within one 30 ms step.)"""
    import gymnasium as gym

    ckpt = torch.load(os.path.join(ROOT, "data", "cassie_expert_policy.pt"), weights_only=False)
    assert ckpt["format"] == ipmd.CHECKPOINT_FORMAT and ckpt["env_id"] == CASSIE
    teacher = ipmd.Actor(57, 10, ckpt["hidden_dim"])
    teacher.load_state_dict(ckpt["best_teacher"])
    env = gym.make(CASSIE)
    state, _ = env.reset(seed=1 + 20_000)
    x0, heights, actions = env.unwrapped.data.qpos[0], [], []
    for t in range(600):
        action = teacher.act(torch.as_tensor(state, dtype=torch.float32)[None])[0].numpy()
        state, _, terminated, truncated, _ = env.step(action)
        heights.append(state[0]), actions.append(action)
        assert not terminated, t
    assert truncated
    speed = (env.unwrapped.data.qpos[0] - x0) / (600 * env.unwrapped.dt)
    assert 0.5 < speed < 0.7 and np.mean(heights) >= 0.9 and abs(state[44]) < 0.3
    demo = load_demos(ipmd.DEFAULT_EXPERT, env_id=CASSIE).episodes[0]
    assert len(demo) == 600
    with torch.no_grad():
        replayed = teacher.act(torch.as_tensor(demo.states[:-1], dtype=torch.float32)).numpy()
    assert np.allclose(demo.actions, replayed, atol=1e-5)
