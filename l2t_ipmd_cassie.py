# L2T-IRL on Cassie: a teacher trained by IPMD (inverse policy mirror descent: an average-reward SAC-style
# actor-critic on a reward LEARNED from one expert trajectory) on the clean state s, and a student on the noisy
# observation o, trained in ONE loop from the teacher's replay buffer, with a noise curriculum.
# Read next to "Learn to Teach" (paper 1, the L2T paper on RL/IRL with MuJoCo and Cassie): section 3.2.2,
# Algorithm 3, Eqs. (2)-(8), section 4.2, Tables 1 and 4. README.md maps every equation to the lines below.
# `--reward-mode imitation` is the first row of Table 1 instead: L2T-RL on the env's imitation reward (Eq. 9).
import copy
import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from typing import Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

from envs import checkpoint as checkpoint_file
from envs.cassie import CASSIE_NOISY_MASK
from envs.demos import DemoFormatError, Episode, load_demos, save_demos
from envs.noise import NOISE_TYPES, NoisyObservation, get_noise_alpha, set_noise_alpha

STUDENT_LOSSES = ("l1", "l2", "kl", "asym", "l1+asym", "l2+asym", "none")
REWARD_MODES = ("irl", "imitation")
POLICY_UPDATES = ("sac", "md")
CHECKPOINT_FORMAT = "l2t_ipmd_cassie/1"
DEFAULT_EXPERT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "cassie_expert.npz")


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment (torch, numpy, python, the envs and the observation noise)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, cuda is used when available"""
    torch_threads: int = 0
    """number of torch CPU threads; 0 keeps torch's default. Runs repeat exactly only at a fixed count"""
    capture_video: bool = False
    """record one student evaluation episode per evaluation to `runs/{run_name}/videos` (needs moviepy; headless: MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final policies, critic and reward networks to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise (paper 1, section 4.2.1: alpha = 0.1 on Cassie)
    env_id: str = "l2t/Cassie-v1"
    """the id of the environment (the envs' CASSIE_NOISY_MASK is used when it is a Cassie env)"""
    alpha: float = 0.1
    """target noise scale alpha in [0, 1] of the student's observation; evaluation always uses it"""
    noise: str = "uniform"
    """noise model: `uniform` (the paper's: o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""
    num_envs: int = 8
    """number of parallel environments (one vector step = num_envs transitions)"""
    updates_per_step: float = 1.0
    """gradient steps per vector step (each on a fresh minibatch); fractions allowed: 0.25 = one every 4 vector steps. The update-to-data ratio is updates_per_step / num_envs (the authors': --num-envs 24 --updates-per-step 1, one gradient step per 24 transitions). Defaults 8 x 1: best per wall-clock minute in 290 s probes here (data/README.md)"""
    min_reward: Optional[float] = None
    """end training episodes when the env's step reward falls below this (the Cassie env's `min_reward`; the authors used 0.3); None: the env's default. Evaluation always uses the env's default"""

    # Noise curriculum (section 3.2.2, Table 4)
    curriculum: bool = True
    """raise the training noise linearly from 0 to --alpha (`--no-curriculum`: --alpha from the first step)"""
    curriculum_fraction: float = 0.5
    """fraction of --total-timesteps over which the training noise rises from 0 to --alpha"""
    curriculum_interval: int = 1_000
    """environment steps between two updates of the noise scale inside the sub-environments"""

    # Rewards: learned (IPMD, L2T-IRL) or the env's imitation reward (L2T-RL)
    reward_mode: str = "irl"
    """`irl`: the teacher learns only from the learned reward r_t(s, a) (the env's reward is only logged); `imitation`: from the env's Eq. (9) reward"""
    expert_path: Optional[str] = DEFAULT_EXPERT
    """expert demonstration file (envs/demos.py format); needed by `irl`; with `imitation` only the reference return"""
    reward_lr: float = 3e-4
    """the learning rate of the reward networks (teacher's r_t and student's r_s)"""
    reward_reg: float = 0.5
    """psi(r) = reward_reg * (E_agent[r^2] + E_expert[r^2]): bounds the learned reward to about +-1/(2 reward_reg)"""
    reward_grad_penalty: float = 1.0
    """psi also holds reward_grad_penalty * E[||grad_(s,a) r||^2] at points between agent and expert samples: a smooth reward that still ranks agent states by closeness to the expert's (0: off)"""
    student_reward: bool = True
    """train and log the student's reward estimate r_s(o, a) of Eq. (8) in `irl` mode with a student (it drives nothing: a diagnostic; `--no-student-reward` saves its cost)"""

    # Teacher: IPMD on the SAC backbone
    total_timesteps: int = 2_000_000
    """total environment steps (transitions collected by the teacher)"""
    buffer_size: int = 1_000_000
    """the replay memory buffer size"""
    gamma: float = 1.0
    """1.0: the average-reward criterion of IPMD (rho = minibatch mean of the regularised reward); < 1: discounted"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """the batch size sampled from the replay memory (and from the expert data), shared by teacher and student"""
    learning_starts: int = 10_000
    """environment steps of uniformly random actions before learning starts"""
    policy_lr: float = 3e-4
    """the learning rate of the teacher's actor"""
    q_lr: float = 1e-3
    """the learning rate of the teacher's critic"""
    policy_frequency: int = 2
    """actor updates are delayed: `policy_frequency` of them every `policy_frequency` steps (TD3's delay)"""
    target_network_frequency: int = 1
    """the frequency of Polyak updates of the target critic"""
    ent_coef: float = 0.2
    """the entropy temperature of the teacher when not autotuned (autotuning starts at 1.0)"""
    autotune: bool = True
    """automatic tuning of the entropy temperature towards entropy -dim(A)"""
    hidden_dim: int = 256
    """width of the two hidden layers of every network"""
    policy_update: str = "sac"
    """Eq. (2): `sac` (SAC's policy step, what the authors ran) or `md` (adds md_coef * KL(pi_old || pi) to a policy frozen every md_period actor updates)"""
    md_coef: float = 1.0
    """weight 1/beta of the KL proximity term of `--policy-update md`"""
    md_period: int = 1_000
    """actor updates between two refreshes of the previous policy pi_old of `--policy-update md`"""

    # Student (paper 1, Eqs. 3-6, Alg. 3)
    student_loss: str = "l1+asym"
    """one of l1, l2, kl, asym, l1+asym, l2+asym, or none (teacher alone)"""
    student_lr: float = 3e-4
    """the learning rate of the student's actor"""
    bc_coef: float = 1.0
    """weight of the BC term (l1/l2/kl) in the student loss; Eq. (6) is the plain sum, weight 1"""

    # Evaluation, logging, checkpoints, expert files
    eval_frequency: int = 20_000
    """evaluate teacher and student every this many environment steps (0: only at the end)"""
    eval_episodes: int = 5
    """episodes per evaluation, deterministic actions"""
    log_frequency: int = 1_000
    """log losses and SPS every this many environment steps"""
    checkpoint_frequency: int = 100_000
    """write `runs/{run_name}/checkpoint.pt` every this many environment steps and at the end (0: only at the end)"""
    checkpoint_minutes: float = 0.0
    """also write the checkpoint whenever this many minutes of wall time have passed since the last one (0: off)"""
    checkpoint_buffer: bool = True
    """include the replay buffer in checkpoints, so that `--resume` continues with the same data"""
    resume: Optional[str] = None
    """path of a checkpoint.pt to continue from (same flags; `--total-timesteps` may be raised)"""
    save_expert: Optional[str] = None
    """write a demonstration file here: deterministic rollouts of the best-evaluated teacher after training (or of --expert-checkpoint's)"""
    expert_episodes: int = 1
    """episodes rolled out by --save-expert"""
    expert_checkpoint: Optional[str] = None
    """with --save-expert: roll out the best teacher of this checkpoint.pt instead of training"""


def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def check_args(args: Args):
    """One-line errors for every flag that could otherwise fail deep inside gymnasium or torch."""
    for field in fields(args):  # every real-valued flag: nan and inf are never meant
        value = getattr(args, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"--{field.name.replace('_', '-')} must be a finite number, got {value}")
    if not (math.isfinite(args.alpha) and 0 <= args.alpha <= 1):
        fail(f"--alpha must be in [0, 1], got {args.alpha}")
    if args.noise not in NOISE_TYPES:
        fail(f"--noise must be one of {', '.join(NOISE_TYPES)}, got '{args.noise}'")
    for flag, value, choices in (("student-loss", args.student_loss, STUDENT_LOSSES),
                                 ("reward-mode", args.reward_mode, REWARD_MODES),
                                 ("policy-update", args.policy_update, POLICY_UPDATES)):
        if value not in choices:
            fail(f"--{flag} must be one of {', '.join(choices)}, got '{value}'")
    for name in ("total_timesteps", "num_envs", "buffer_size", "batch_size", "eval_episodes", "log_frequency",
                 "policy_frequency", "target_network_frequency", "hidden_dim", "curriculum_interval", "md_period",
                 "expert_episodes"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("ent_coef", "reward_lr", "policy_lr", "q_lr", "student_lr"):
        if not getattr(args, name) > 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not (math.isfinite(args.checkpoint_minutes) and args.checkpoint_minutes >= 0):
        fail(f"--checkpoint-minutes must be >= 0, got {args.checkpoint_minutes}")
    for name in ("learning_starts", "eval_frequency", "checkpoint_frequency", "torch_threads", "bc_coef",
                 "reward_reg", "reward_grad_penalty", "md_coef"):
        if not getattr(args, name) >= 0:
            fail(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if not (math.isfinite(args.updates_per_step) and args.updates_per_step > 0):
        fail(f"--updates-per-step must be a positive number, got {args.updates_per_step}")
    if args.min_reward is not None and not (math.isfinite(args.min_reward) and 0 <= args.min_reward < 1):
        fail(f"--min-reward must be in [0, 1), got {args.min_reward}")
    if args.min_reward is not None and not args.env_id.startswith("l2t/Cassie"):
        fail(f"--min-reward is an option of the Cassie env, not of '{args.env_id}'")
    if not 0 <= args.curriculum_fraction <= 1:
        fail(f"--curriculum-fraction must be in [0, 1], got {args.curriculum_fraction}")
    if args.total_timesteps <= args.learning_starts:
        fail(f"--total-timesteps ({args.total_timesteps}) must exceed --learning-starts ({args.learning_starts})")
    if args.learning_starts < args.batch_size:
        fail(f"--learning-starts ({args.learning_starts}) must be at least --batch-size ({args.batch_size})")
    if not (0 < args.gamma <= 1 and 0 < args.tau <= 1):
        fail(f"--gamma and --tau must be in (0, 1], got {args.gamma} and {args.tau}")
    try:
        gym.spec(args.env_id)
    except gym.error.Error as e:
        fail(f"--env-id: unknown environment '{args.env_id}' ({first_line(e)})")
    if args.capture_video:
        try:
            import moviepy  # noqa: F401  (gymnasium's RecordVideo writes MP4 through it)
        except ImportError:
            fail("--capture-video needs moviepy (pip install -r requirements.txt)")
    for flag, path in (("resume", args.resume), ("expert-checkpoint", args.expert_checkpoint)):
        if path is not None and not os.path.isfile(path):
            fail(f"--{flag}: no checkpoint file at '{path}'")
    if args.expert_checkpoint is not None and args.save_expert is None:
        fail("--expert-checkpoint only makes sense with --save-expert PATH")
    if args.save_expert is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.save_expert))):
        fail(f"--save-expert: the folder of '{args.save_expert}' does not exist")


def noisy_mask(env_id):
    """Which state entries get noise: the Cassie env's robot measurements (its clock stays clean), else all."""
    return CASSIE_NOISY_MASK if env_id.startswith("l2t/Cassie") else None


def make_env(env_id, alpha, noise, seed, capture_video=False, video_folder=None, name_prefix="rl-video", **kwargs):
    """A thunk for gymnasium.vector: the env whose observation is {"state": s, "observation": o}; `kwargs` go to
    gym.make."""

    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array", **kwargs)
            env = gym.wrappers.RecordVideo(env, video_folder, episode_trigger=lambda i: i == 0,
                                           name_prefix=name_prefix, disable_logger=True)
        else:
            env = gym.make(env_id, **kwargs)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        # s for the teacher, o = s + noise for the student (the curriculum changes alpha inside every sub-env)
        env = NoisyObservation(env, alpha=alpha, noise=noise, noisy_mask=noisy_mask(env_id))
        env.action_space.seed(seed)
        return env

    return thunk


# ALGO LOGIC: networks. Actions are normalised to [-1, 1] everywhere (the Cassie env's own action space).
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """Tanh-Gaussian policy (CleanRL's SAC actor). The teacher reads s, the student o; same architecture."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.fc_mean = nn.Linear(hidden, action_dim)
        self.fc_logstd = nn.Linear(hidden, action_dim)

    def forward(self, x):
        """Mean and log-std of the Gaussian BEFORE the tanh squashing."""
        h = self.trunk(x)
        log_std = torch.tanh(self.fc_logstd(h))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)  # smooth clamp
        return self.fc_mean(h), log_std

    def sample(self, x):
        """Reparameterised action a = tanh(mean + std * eps) in [-1, 1], its log-probability, and (mean, log_std)."""
        mean, log_std = self(x)
        u = mean + log_std.exp() * torch.randn_like(mean)
        # log N(u; mean, std) minus the log-det of tanh, log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
        log_prob = (-0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob, mean, log_std

    @torch.no_grad()
    def act(self, x):
        """The deterministic action tanh(mean), used in evaluation, expert rollouts and deployment."""
        return torch.tanh(self(x)[0])


class TwinQ(nn.Module):
    """The two critics Q_1, Q_2 as ONE batched network: weights of shape (2, in, out) applied with baddbmm."""

    def __init__(self, in_dim: int, hidden: int, n: int = 2):
        super().__init__()
        sizes = [in_dim, hidden, hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation, for each critic
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))
        self.n = n

    def forward(self, state, action, detach_params: bool = False):
        """Q_j(s, a) for j = 1..n, shape (n, batch). `detach_params`: gradients reach the inputs only."""
        x = torch.cat([state, action], -1).expand(self.n, -1, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = F.relu(x)
        return x.squeeze(-1)


class RewardNet(nn.Module):
    """The learned reward r(s, a) of Eq. (7) (teacher, on s) or Eq. (8) (student, on o): an MLP, linear output."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim + action_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, state, action):
        return self.net(torch.cat([state, action], -1)).squeeze(-1)


# ALGO LOGIC: replay buffer. One row per transition (s, o, a, r_env, s', o', terminated) in one float32 tensor.
class ReplayBuffer:
    def __init__(self, capacity: int, state_dim: int, action_dim: int, device):
        widths = {"state": state_dim, "obs": state_dim, "action": action_dim, "reward": 1,
                  "next_state": state_dim, "next_obs": state_dim, "terminated": 1}
        self.slices, start = {}, 0
        for name, width in widths.items():
            self.slices[name] = slice(start, start + width)
            start += width
        self.storage = torch.zeros(capacity, start, device=device)
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, state, obs, action, reward, next_state, next_obs, terminated):
        """Add one transition per env; every argument is a numpy array with a leading env axis."""
        row = np.concatenate([state, obs, action, reward[:, None], next_state, next_obs, terminated[:, None]], 1)
        idx = (self.pos + np.arange(len(row))) % self.capacity
        self.storage[torch.from_numpy(idx)] = torch.from_numpy(row.astype(np.float32)).to(self.storage.device)
        self.pos = (self.pos + len(row)) % self.capacity
        self.size = min(self.size + len(row), self.capacity)

    def sample(self, batch_size: int) -> dict:
        rows = self.storage[torch.randint(0, self.size, (batch_size,), device=self.storage.device)]
        batch = {name: rows[:, s] for name, s in self.slices.items()}
        batch["reward"], batch["terminated"] = batch["reward"].squeeze(1), batch["terminated"].squeeze(1)
        return batch

    def state_dict(self):
        return {"storage": self.storage[: self.size].cpu().clone(), "pos": self.pos, "size": self.size}

    def load_state_dict(self, d):
        if d["storage"].shape[1] != self.storage.shape[1] or d["size"] > self.capacity:
            raise ValueError(f"buffer rows of width {d['storage'].shape[1]}, size {d['size']} do not fit "
                             f"width {self.storage.shape[1]}, capacity {self.capacity}")
        self.storage[: d["size"]] = d["storage"].to(self.storage.device)
        self.pos, self.size = d["pos"], d["size"]


# ALGO LOGIC: the expert replay buffer of Alg. 3 (one trajectory by default: 600 transitions of clean states)
class ExpertBuffer:
    def __init__(self, states, actions, device):
        self.states = torch.as_tensor(states, dtype=torch.float32, device=device)
        self.actions = torch.as_tensor(actions, dtype=torch.float32, device=device)

    def sample(self, batch_size: int):
        idx = torch.randint(0, len(self.states), (batch_size,), device=self.states.device)
        return self.states[idx], self.actions[idx]


def add_noise(state, alpha, kind, mask):
    """The noise model of envs/noise.py in torch, for the expert's clean states in the student's Eq. (8)."""
    if kind == "uniform":
        noise = state.abs() * (2 * torch.rand_like(state) - 1)
    else:
        noise = torch.randn_like(state)
    if mask is not None:
        noise = noise * mask
    return state + alpha * noise


# ALGO LOGIC: the reward update, Eqs. (7) and (8). The reward player MAXIMISES E_E[r] - E_pi[r] - psi(r); we
# minimise its negative. psi(r) = c (E_pi[r^2] + E_E[r^2]) + g E_x[||grad_x r(x)||^2]:
# - the squared L2 term (the authors used c times the non-squared norm of the batch vector) has its pointwise
#   optimum at r = +1/(2c) on expert-only and -1/(2c) on agent-only samples, so the reward stays bounded;
# - the gradient term (zero-centred, at random points x on the segments between agent and expert samples) keeps
#   the reward smooth. Without it a network separates the agent's samples from one expert trajectory perfectly
#   within a few thousand steps, the agent's reward is a flat -1/(2c) everywhere, and the teacher gets no signal
#   (measured: see README). With it, agent states nearer the expert's get higher reward.
def reward_loss(reward_net, agent_state, agent_action, expert_state, expert_action, reg, grad_penalty=0.0):
    """Returns (loss, stats); stats = [loss, E_E[r] - E_pi[r] (the reward gap), E_pi[r]]."""
    r_agent = reward_net(agent_state, agent_action)
    r_expert = reward_net(expert_state, expert_action)
    psi = reg * (r_agent.pow(2).mean() + r_expert.pow(2).mean())
    if grad_penalty > 0:
        agent_x = torch.cat([agent_state, agent_action], -1)
        expert_x = torch.cat([expert_state, expert_action], -1)
        n = min(len(agent_x), len(expert_x))
        u = torch.rand(n, 1, device=agent_x.device)
        x = (u * agent_x[:n] + (1 - u) * expert_x[:n]).detach().requires_grad_(True)
        r_x = reward_net(x[:, : agent_state.shape[1]], x[:, agent_state.shape[1]:])
        (grad,) = torch.autograd.grad(r_x.sum(), x, create_graph=True)
        psi = psi + grad_penalty * grad.pow(2).sum(-1).mean()
    loss = r_agent.mean() - r_expert.mean() + psi
    return loss, torch.stack([loss, r_expert.mean() - r_agent.mean(), r_agent.mean()]).detach()


# ALGO LOGIC: the teacher's critic target. IPMD's average-reward criterion (gamma = 1): the differential soft
# Q-function Q(s, a) = r(s, a) - rho + E[V(s')], V(s') = E_a'[Q(s', a') - ent_coef log pi(a'|s')], with rho the
# average of the entropy-regularised reward r - ent_coef log pi, estimated by its minibatch mean (the authors'
# estimate is the batch mean of r alone and drops the entropy from the target; keeping it in both places keeps the
# target centred, so Q does not drift by the mean entropy bonus every step).
def td_target(reward, next_q, next_log_prob, terminated, ent_coef, gamma):
    """Returns (target, rho). gamma = 1: average reward; gamma < 1: SAC's discounted soft target, rho = 0."""
    next_v = next_q - ent_coef * next_log_prob
    if gamma == 1.0:
        rho = (reward - ent_coef * next_log_prob).mean()
        return reward - rho + (1.0 - terminated) * next_v, rho
    return reward + gamma * (1.0 - terminated) * next_v, torch.zeros((), device=reward.device)


def critic_loss(data, reward, teacher, critic, target_critic, ent_coef, gamma):
    """Alg. 3: Q(s, a) = r_t(s, a) - rho + E[Q(s', a')]. Returns (loss, stats [loss, mean Q_1, mean Q_2, rho])."""
    with torch.no_grad():
        next_action, next_log_prob, _, _ = teacher.sample(data["next_state"])
        next_q = target_critic(data["next_state"], next_action).min(0).values
        target_q, rho = td_target(reward, next_q, next_log_prob, data["terminated"], ent_coef, gamma)
    q_values = critic(data["state"], data["action"])  # (2, batch)
    q_loss = (q_values - target_q).pow(2).mean(1).sum()  # MSE of Q_1 plus MSE of Q_2
    return q_loss, torch.stack([q_loss, q_values[0].mean(), q_values[1].mean(), rho]).detach()


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(p || q) of two diagonal Gaussians, summed over action dims (tanh is a bijection: the squashed KL is equal)."""
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).pow(2)) / (2 * var_q) - 0.5).sum(-1)


# ALGO LOGIC: the student's BC loss, Eqs. (3) and (4), as in l2t_sac_mujoco.py (mean actions; reasons there)
def student_loss_terms(kind, student_mean, student_log_std, teacher_mean, teacher_log_std):
    """The BC part of the student loss: Eq. (3) for l1/l2, Eq. (4) for kl. Returns 0 for `asym` alone."""
    if kind.startswith("l1"):
        return (torch.tanh(student_mean) - torch.tanh(teacher_mean)).abs().sum(-1).mean()
    if kind.startswith("l2"):
        return (torch.tanh(student_mean) - torch.tanh(teacher_mean)).pow(2).sum(-1).mean()
    if kind == "kl":  # Eq. (4): KL(pi_s(.|o) || pi_t(.|s))
        return gaussian_kl(student_mean, student_log_std, teacher_mean, teacher_log_std).mean()
    return torch.zeros((), device=student_mean.device)


# ALGO LOGIC: the teacher's policy step, Eq. (2), and the student's, Eqs. (3)-(6), on the SAME minibatch (Alg. 3)
def actor_losses(data, teacher, student, critic, log_ent_coef, target_entropy, kind, bc_coef, old_teacher=None,
                 md_coef=0.0):
    """Returns (teacher + student loss, temperature loss, stats). The three losses share no parameters.

    Eq. (2), min_p beta <Q, p> + KL(pi_old || p), is a mirror-descent step. `old_teacher=None` (--policy-update sac):
    SAC's step E[ent_coef log pi(a|s) - Q(s, a)], which is what the authors ran (their KL term is switched off).
    With `old_teacher` (md): + md_coef * KL(pi_old(.|s) || pi(.|s)), pi_old frozen for md_period actor updates.
    stats = [teacher actor loss, student BC loss, student asymmetric loss, temperature loss, temperature,
    imitation gap (mean |student mean action - teacher mean action|), KL to the previous teacher].
    """
    ent_coef = log_ent_coef.exp().detach()
    zero = torch.zeros((), device=data["state"].device)
    action_t, log_prob_t, mean_t, log_std_t = teacher.sample(data["state"])
    use_student, use_asym = kind != "none", kind.endswith("asym")
    if use_student:
        action_s, log_prob_s, mean_s, log_std_s = student.sample(data["obs"])
    if use_asym:  # one critic pass for teacher (a_t on s) and student (a_s on the SAME clean s)
        q = critic(data["state"].repeat(2, 1), torch.cat([action_t, action_s]), detach_params=True).min(0).values
        q_t, q_s = q.chunk(2)
    else:
        q_t = critic(data["state"], action_t, detach_params=True).min(0).values
    actor_loss = (ent_coef * log_prob_t - q_t).mean()
    md_kl = zero
    if old_teacher is not None:
        with torch.no_grad():
            mean_old, log_std_old = old_teacher(data["state"])
        md_kl = gaussian_kl(mean_old, log_std_old, mean_t, log_std_t).mean()  # Eq. (2): KL(pi_old || p)
        actor_loss = actor_loss + md_coef * md_kl
    loss, bc_loss, asym_loss, gap = actor_loss, zero, zero, zero
    if use_student:
        mean_t_target, log_std_t_target = mean_t.detach(), log_std_t.detach()  # the teacher is a fixed target
        bc_loss = student_loss_terms(kind, mean_s, log_std_s, mean_t_target, log_std_t_target)
        if use_asym:
            # Eq. (5): the student's action on the NOISY o is scored by the teacher's critic on the CLEAN s
            asym_loss = (ent_coef * log_prob_s - q_s).mean()
        loss = loss + bc_coef * bc_loss + asym_loss  # Eq. (6): L_s = L_BC + L_Asym
        gap = (torch.tanh(mean_s) - torch.tanh(mean_t_target)).abs().mean()
    ent_loss = (-log_ent_coef.exp() * (log_prob_t.detach() + target_entropy)).mean()
    stats = torch.stack([actor_loss, bc_loss, asym_loss, ent_loss, ent_coef.squeeze(), gap, md_kl]).detach()
    return loss, ent_loss, stats


def curriculum_alpha(step, total, alpha, fraction, enabled):
    """Section 3.2.2: the training noise rises linearly from 0 to alpha over `fraction` of training, then stays."""
    if not enabled or fraction == 0:
        return alpha
    return alpha * min(1.0, step / (fraction * total))


def evaluate(actor, key, env_fns, seed, device, gait=None):
    """Run each env of `env_fns` for one episode with deterministic actions; returns (returns, lengths).

    `gait`: a dict that receives, per episode, the Cassie walking measures read from the clean state (index 0:
    pelvis height, 5: forward velocity in the pelvis frame, 44: pelvis y minus the reference's): mean forward
    speed, mean pelvis height, and |y offset| at the episode's last step (the drift from the reference line)."""
    envs = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    returns, lengths, done = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    speed, height, drift = np.zeros(n), np.zeros(n), np.zeros(n)
    while not done.all():
        action = actor.act(torch.as_tensor(obs[key], dtype=torch.float32, device=device)).cpu().numpy()
        obs, reward, terminated, truncated, infos = envs.step(action)
        state = obs["state"].copy()
        for i in np.flatnonzero(infos.get("_final_obs", ())):
            state[i] = infos["final_obs"][i]["state"]
        live = ~done
        returns += reward * live
        lengths += live
        if state.shape[1] >= 45:
            speed += state[:, 5] * live
            height += state[:, 0] * live
            drift = np.where(live, np.abs(state[:, 44]), drift)
        done |= terminated | truncated
    envs.close()
    if gait is not None:
        gait.update(speed=speed / lengths, height=height / lengths, drift=drift)
    return returns, lengths


def rollout_expert(actor, env_id, episodes, seed, device):
    """Deterministic rollouts of `actor` on the clean state: a list of envs.demos.Episode."""
    env = gym.make(env_id)
    result = []
    for i in range(episodes):
        state, _ = env.reset(seed=seed + i)
        states, actions, rewards = [state], [], []
        while True:
            action = actor.act(torch.as_tensor(state, dtype=torch.float32, device=device)[None])[0].cpu().numpy()
            state, reward, terminated, truncated, _ = env.step(action)
            states.append(state)
            actions.append(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        result.append(Episode(np.array(states), np.array(actions, dtype=np.float64), np.array(rewards),
                              bool(terminated)))
    env.close()
    return result


def read_checkpoint(flag, path):
    """A checkpoint of this script, its digest checked (envs/checkpoint.py); one-line error otherwise."""
    try:
        ckpt = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"--{flag}: {e}")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        fail(f"--{flag}: '{path}' is not a {CHECKPOINT_FORMAT} checkpoint")
    return ckpt


def load_checkpoint(path, args):
    """Load a checkpoint and check it belongs to this env, these networks and this mode; one-line error otherwise.
    (Its state and action sizes are checked against the env once the env exists.)"""
    ckpt = read_checkpoint("resume", path)
    expected = {"env_id": args.env_id, "hidden_dim": args.hidden_dim, "student_loss": args.student_loss,
                "reward_mode": args.reward_mode}
    for key, value in expected.items():
        if ckpt[key] != value:
            fail(f"--resume: checkpoint '{path}' has {key}={ckpt[key]!r}, this run has {value!r}")
    if "q_optimizer" not in ckpt:
        fail(f"--resume: '{path}' is a saved model (--save-model), not a training checkpoint.pt")
    if ckpt["global_step"] >= args.total_timesteps:
        fail(f"--resume: checkpoint is at step {ckpt['global_step']}; raise --total-timesteps above it to continue")
    return ckpt


def load_expert(args, state_dim, action_dim):
    """The expert demonstrations, or None in `imitation` mode when there is no file; one-line error if malformed."""
    if args.expert_path is None or (args.reward_mode == "imitation" and not os.path.exists(args.expert_path)):
        if args.reward_mode == "irl":
            fail("--expert-path: `--reward-mode irl` needs an expert demonstration file")
        return None
    try:
        demos = load_demos(args.expert_path, env_id=args.env_id, state_dim=state_dim, action_dim=action_dim)
    except DemoFormatError as e:
        if args.reward_mode == "imitation":  # the file only gives a reference line in this mode
            print(f"note: --expert-path not used ({first_line(e)})")
            return None
        fail(f"--expert-path: {e}")
    return demos


def write_expert(args, teacher, device, source):
    episodes = rollout_expert(teacher, args.env_id, args.expert_episodes, args.seed + 20_000, device)
    save_demos(args.save_expert, args.env_id, episodes)
    returns = [float(e.rewards.sum()) for e in episodes]
    lengths = [len(e) for e in episodes]
    print(f"expert demonstrations of {source} written to {args.save_expert}: returns {np.round(returns, 2).tolist()}, "
          f"lengths {lengths}")


def main(args: Args):
    check_args(args)
    # the files given, read before any work (their sizes are checked against the env below)
    ckpt = load_checkpoint(args.resume, args) if args.resume is not None else None
    expert_ckpt = read_checkpoint("expert-checkpoint", args.expert_checkpoint) if args.expert_checkpoint else None
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup: SAME_STEP autoreset (no transition across an episode boundary; the last obs is in final_obs)
    alpha_now = curriculum_alpha(0, args.total_timesteps, args.alpha, args.curriculum_fraction, args.curriculum)
    train_kwargs = {} if args.min_reward is None else {"min_reward": args.min_reward}
    try:
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id, alpha_now, args.noise, args.seed + i, **train_kwargs) for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    except Exception as e:
        fail(f"--env-id: cannot create '{args.env_id}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(envs.single_action_space, gym.spaces.Box) or not (
            np.all(envs.single_action_space.low == -1) and np.all(envs.single_action_space.high == 1)):
        fail(f"--env-id: '{args.env_id}' has {envs.single_action_space}; this script needs Box actions in [-1, 1]")
    state_dim = envs.single_observation_space["state"].shape[0]
    action_dim = envs.single_action_space.shape[0]

    teacher = Actor(state_dim, action_dim, args.hidden_dim).to(device)  # pi_t(a|s): privileged, noise-free state

    if args.expert_checkpoint is not None:  # --save-expert from a finished run: no training
        try:
            teacher.load_state_dict(expert_ckpt["best_teacher"] or expert_ckpt["teacher"])
        except (KeyError, RuntimeError) as e:
            fail(f"--expert-checkpoint: '{args.expert_checkpoint}' does not fit this env ({first_line(e)})")
        write_expert(args, teacher, device, f"the best teacher of {args.expert_checkpoint}")
        envs.close()
        return None

    demos = load_expert(args, state_dim, action_dim)
    expert_return = None
    if demos is not None:
        s_e, a_e, _, _, _ = demos.transitions()
        expert = ExpertBuffer(s_e, a_e, device)
        expert_return = float(np.mean([e.rewards.sum() for e in demos.episodes]))
    use_irl = args.reward_mode == "irl"
    use_student = args.student_loss != "none"
    # r_s only where it means something: L2T-IRL with a student (in `imitation` mode nothing would use it)
    use_student_reward = args.student_reward and use_irl and use_student and demos is not None

    student = Actor(state_dim, action_dim, args.hidden_dim).to(device)  # pi_s(a|o): noisy observation
    critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)  # the teacher's Q_1, Q_2 on (s, a)
    target_critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)
    target_critic.load_state_dict(critic.state_dict())
    target_critic.requires_grad_(False)
    reward_t = RewardNet(state_dim, action_dim, args.hidden_dim).to(device)  # r_t(s, a), Eq. (7)
    reward_s = RewardNet(state_dim, action_dim, args.hidden_dim).to(device)  # r_s(o, a), Eq. (8)
    old_teacher = copy.deepcopy(teacher).requires_grad_(False) if args.policy_update == "md" else None
    q_optimizer = torch.optim.Adam(critic.parameters(), lr=args.q_lr, fused=True)
    actor_optimizer = torch.optim.Adam(teacher.parameters(), lr=args.policy_lr, fused=True)
    student_optimizer = torch.optim.Adam(student.parameters(), lr=args.student_lr, fused=True)
    reward_t_optimizer = torch.optim.Adam(reward_t.parameters(), lr=args.reward_lr, fused=True)
    reward_s_optimizer = torch.optim.Adam(reward_s.parameters(), lr=args.reward_lr, fused=True)
    target_entropy = -float(action_dim)
    log_ent_coef = torch.tensor([0.0 if args.autotune else math.log(args.ent_coef)], device=device, requires_grad=True)
    ent_optimizer = torch.optim.Adam([log_ent_coef], lr=args.q_lr, fused=True)
    rb = ReplayBuffer(args.buffer_size, state_dim, action_dim, device)
    mask = noisy_mask(args.env_id)
    mask = None if mask is None else torch.tensor(np.array(mask), dtype=torch.float32, device=device)
    best = {"return": -math.inf, "teacher": None, "step": -1}  # the best-evaluated teacher, for --save-expert
    modules = {"teacher": teacher, "student": student, "critic": critic, "target_critic": target_critic,
               "reward_t": reward_t, "reward_s": reward_s, "q_optimizer": q_optimizer,
               "actor_optimizer": actor_optimizer, "student_optimizer": student_optimizer,
               "reward_t_optimizer": reward_t_optimizer, "reward_s_optimizer": reward_s_optimizer,
               "ent_optimizer": ent_optimizer}

    # Resume: networks, optimisers, temperature, step counter, RNG states, best teacher, and the buffer if saved.
    global_step, train_from, actor_updates = 0, args.learning_starts, 0
    gradient_steps, train_vector_steps = 0, 0  # gradient steps done; vector steps since learning started
    if ckpt is not None:
        for key, value in (("state_dim", state_dim), ("action_dim", action_dim)):
            if ckpt[key] != value:
                fail(f"--resume: checkpoint '{args.resume}' has {key}={ckpt[key]!r}, this env has {value!r}")
        try:
            for key, module in modules.items():
                module.load_state_dict(ckpt[key])
            if old_teacher is not None:
                old_teacher.load_state_dict(ckpt["old_teacher"] or ckpt["teacher"])
            if ckpt["buffer"] is not None:
                rb.load_state_dict(ckpt["buffer"])
        except (KeyError, ValueError, RuntimeError) as e:
            fail(f"--resume: checkpoint '{args.resume}' does not fit this run ({type(e).__name__}: {first_line(e)})")
        with torch.no_grad():
            log_ent_coef.copy_(ckpt["log_ent_coef"])
        global_step, actor_updates = ckpt["global_step"], ckpt["actor_updates"]
        gradient_steps = ckpt.get("gradient_steps", actor_updates)  # (older checkpoints: one per actor update)
        train_vector_steps = ckpt.get("train_vector_steps", gradient_steps)
        best = {"return": ckpt["best_return"], "teacher": ckpt["best_teacher"], "step": ckpt["best_step"]}
        if ckpt["buffer"] is None:
            train_from = global_step + args.learning_starts
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])
        run_dir = os.path.dirname(os.path.abspath(args.resume))
        print(f"resumed from {args.resume} at global_step={global_step}, buffer size {rb.size}")
    else:
        run_name = f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}"
        run_dir = os.path.join(args.runs_dir, run_name)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "checkpoint.pt")
    checkpoint_file.remove_stale_temps(ckpt_path)  # left by a run killed while writing
    writer = SummaryWriter(run_dir, purge_step=global_step + 1 if global_step > 0 else None)
    if ckpt is None:  # once per run: a resumed run keeps the text of its start
        writer.add_text("hyperparameters",
                        "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    def checkpoint(path, with_optim=True):
        state = {"format": CHECKPOINT_FORMAT, "args": asdict(args), "env_id": args.env_id, "state_dim": state_dim,
                 "action_dim": action_dim, "hidden_dim": args.hidden_dim, "student_loss": args.student_loss,
                 "reward_mode": args.reward_mode, "global_step": global_step, "actor_updates": actor_updates,
                 "gradient_steps": gradient_steps, "train_vector_steps": train_vector_steps,
                 "best_return": best["return"], "best_teacher": best["teacher"], "best_step": best["step"],
                 "expert_return": expert_return,
                 **{k: modules[k].state_dict() for k in ("teacher", "student", "critic", "reward_t", "reward_s")}}
        if with_optim:
            state.update({k: m.state_dict() for k, m in modules.items()})
            state.update(log_ent_coef=log_ent_coef.detach().cpu(),
                         old_teacher=None if old_teacher is None else old_teacher.state_dict(),
                         buffer=rb.state_dict() if args.checkpoint_buffer else None,
                         rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()})
        checkpoint_file.save(state, path)

    def stop_if_nonfinite(stats, names):
        """Checked BEFORE the optimiser step, so the saved state is the last finite one, the one that failed."""
        if not torch.isfinite(stats).all():
            bad = [n for n, v in zip(names, stats.tolist()) if not math.isfinite(v)]
            path = os.path.join(run_dir, f"nonfinite_step{global_step}.pt")
            checkpoint(path)
            last = f"last periodic checkpoint {ckpt_path}" if os.path.exists(ckpt_path) else "no periodic checkpoint yet"
            raise SystemExit(f"{os.path.basename(__file__)}: error: non-finite {', '.join(bad)} at global_step="
                             f"{global_step}; state saved to {path}, {last}")

    critic_names = ["qf_loss", "qf1_values", "qf2_values", "rho"]
    actor_names = ["actor_loss", "student_bc_loss", "student_asym_loss", "ent_coef_loss", "ent_coef",
                   "imitation_gap", "md_kl"]
    reward_names = ["reward_loss", "reward_gap", "learned_reward_agent"]
    student_reward_names = ["student_reward_loss", "student_reward_gap", "student_learned_reward_agent"]
    actor_optimizers = [actor_optimizer] + [student_optimizer] * use_student + [ent_optimizer] * args.autotune

    def update_critic(data):
        if use_irl:  # L2T-IRL: the critic sees only the learned reward r_t(s, a_buffer) (Alg. 3)
            with torch.no_grad():
                reward = reward_t(data["state"], data["action"])
        else:  # L2T-RL: the env's imitation reward, Eq. (9)
            reward = data["reward"]
        q_loss, stats = critic_loss(data, reward, teacher, critic, target_critic, log_ent_coef.exp().detach(),
                                    args.gamma)
        stop_if_nonfinite(stats, critic_names)
        q_optimizer.zero_grad(set_to_none=True)
        q_loss.backward()
        q_optimizer.step()
        return stats

    def update_actors(data):
        loss, ent_loss, stats = actor_losses(data, teacher, student, critic, log_ent_coef, target_entropy,
                                             args.student_loss, args.bc_coef, old_teacher, args.md_coef)
        stop_if_nonfinite(stats, actor_names)
        for optimizer in actor_optimizers:
            optimizer.zero_grad(set_to_none=True)
        (loss + ent_loss if args.autotune else loss).backward()
        for optimizer in actor_optimizers:
            optimizer.step()
        return stats

    def update_rewards(data, noise_alpha):
        """Eq. (7) for r_t (agent: replay states with the CURRENT teacher's actions), Eq. (8) for r_s (agent:
        replay observations with the current student's actions; expert: the expert's states with the noise the
        student currently trains with, since the demonstrations hold clean states only)."""
        expert_s, expert_a = expert.sample(args.batch_size)
        stats, losses, optimizers = [], [], []
        with torch.no_grad():
            a_t = teacher.sample(data["state"])[0]
            a_s = student.sample(data["obs"])[0] if use_student_reward else None
        if use_irl:
            loss, s = reward_loss(reward_t, data["state"], a_t, expert_s, expert_a, args.reward_reg,
                                  args.reward_grad_penalty)
            stats.append(s), losses.append(loss), optimizers.append(reward_t_optimizer)
        if use_student_reward:
            expert_o = add_noise(expert_s, noise_alpha, args.noise, mask)
            loss, s = reward_loss(reward_s, data["obs"], a_s, expert_o, expert_a, args.reward_reg,
                                  args.reward_grad_penalty)
            stats.append(s), losses.append(loss), optimizers.append(reward_s_optimizer)
        if not losses:
            return None
        stats = torch.cat(stats)
        stop_if_nonfinite(stats, (reward_names if use_irl else []) + (student_reward_names if use_student_reward else []))
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        sum(losses).backward()  # the two reward nets share no parameters
        for optimizer in optimizers:
            optimizer.step()
        return stats

    def polyak_update():
        with torch.no_grad():
            for p_target, p in zip(target_critic.parameters(), critic.parameters()):
                p_target.lerp_(p, args.tau)

    def run_evaluation():
        seed = args.seed + 10_000  # the same eval episodes every time, so points of the curve are comparable
        teacher_fns = [make_env(args.env_id, 0.0, args.noise, seed + i) for i in range(args.eval_episodes)]
        gait = {}
        ret, length = evaluate(teacher, "state", teacher_fns, seed, device, gait)  # teacher: clean state
        writer.add_scalar("eval/teacher_return", ret.mean(), global_step)
        writer.add_scalar("eval/teacher_length", length.mean(), global_step)
        writer.add_scalar("eval/teacher_min_length", length.min(), global_step)
        line = (f"global_step={global_step}, eval/teacher_return={ret.mean():.1f} (length {length.mean():.0f}, "
                f"min {length.min()})")
        if args.env_id.startswith("l2t/Cassie"):
            for k in ("speed", "height", "drift"):
                writer.add_scalar(f"eval/teacher_{k}", gait[k].mean(), global_step)
            line += (f", speed {gait['speed'].mean():.2f} m/s, height {gait['height'].mean():.2f} m, "
                     f"drift {gait['drift'].mean():.2f} m")
        line += f", gradient steps {gradient_steps}, {time.time() - wall_start:.0f} s"
        if ret.mean() > best["return"]:
            best["return"], best["step"] = float(ret.mean()), global_step
            best["teacher"] = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
        if use_student:  # the student always at the TARGET alpha, whatever the curriculum trains with
            video = os.path.join(run_dir, "videos")
            student_fns = [make_env(args.env_id, args.alpha, args.noise, seed + i, args.capture_video and i == 0,
                                    video, f"student-step{global_step}") for i in range(args.eval_episodes)]
            ret, length = evaluate(student, "observation", student_fns, seed, device)
            writer.add_scalar("eval/student_return", ret.mean(), global_step)
            writer.add_scalar("eval/student_length", length.mean(), global_step)
            line += f", eval/student_return={ret.mean():.1f} (length {length.mean():.0f})"
        if expert_return is not None:  # the demonstrations' own return, as a reference line
            writer.add_scalar("eval/expert_return", expert_return, global_step)
        print(line, flush=True)

    def apply_curriculum():
        """Set the training noise in EVERY sub-env (set_noise_alpha reads it back from each) and log what they use."""
        value = curriculum_alpha(global_step, args.total_timesteps, args.alpha, args.curriculum_fraction,
                                 args.curriculum)
        set_noise_alpha(envs, value)
        seen = get_noise_alpha(envs)
        writer.add_scalar("charts/noise_alpha", min(seen), global_step)
        writer.add_scalar("charts/noise_alpha_max", max(seen), global_step)
        return value

    wall_start = last_checkpoint = time.time()
    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=args.seed + global_step)
    alpha_now = apply_curriculum()
    paused = 0.0
    window = (time.time(), global_step, paused)
    learn_start = None
    q_stats = actor_stats = r_stats = None
    while global_step < args.total_timesteps:
        # ALGO LOGIC: only the teacher acts, on the clean state; the student never adds samples (Alg. 3)
        if global_step < args.learning_starts:
            actions = np.random.uniform(-1.0, 1.0, size=(args.num_envs, action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                actions = teacher.sample(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))[0]
            actions = actions.cpu().numpy()

        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        global_step += args.num_envs
        if "final_info" in infos and "episode" in infos["final_info"]:
            # the env's imitation reward: the teacher's training signal in `imitation` mode, only logged in `irl`
            for i in np.flatnonzero(infos["final_info"]["_episode"]):
                writer.add_scalar("charts/episodic_return", infos["final_info"]["episode"]["r"][i], global_step)
                writer.add_scalar("charts/episodic_length", infos["final_info"]["episode"]["l"][i], global_step)

        real_next = {k: v.copy() for k, v in next_obs.items()}
        for i in np.flatnonzero(infos.get("_final_obs", ())):
            for k in real_next:
                real_next[k][i] = infos["final_obs"][i][k]
        rb.add(obs["state"], obs["observation"], actions, rewards, real_next["state"], real_next["observation"],
               terminations.astype(np.float32))
        obs = next_obs

        # ALGO LOGIC: training (Alg. 3: one minibatch per gradient step, shared by critic, reward nets, actors)
        if global_step > train_from:
            if learn_start is None:
                learn_start = (time.time(), global_step, paused)
            train_vector_steps += 1
            # --updates-per-step: gradient steps due after this many vector steps, minus those done (exact on resume)
            due = math.floor(train_vector_steps * args.updates_per_step + 1e-9)
            while gradient_steps < due:
                gradient_steps += 1
                data = rb.sample(args.batch_size)
                q_stats = update_critic(data)
                if gradient_steps % args.policy_frequency == 0:
                    for _ in range(args.policy_frequency):  # delayed updates, compensated (CleanRL / TD3)
                        actor_stats = update_actors(data)
                        actor_updates += 1
                        if old_teacher is not None and actor_updates % args.md_period == 0:
                            old_teacher.load_state_dict(teacher.state_dict())  # next mirror-descent iteration
                if use_irl or use_student_reward:
                    r_stats = update_rewards(data, alpha_now)
                if gradient_steps % args.target_network_frequency == 0:
                    polyak_update()

            if global_step % args.log_frequency < args.num_envs and actor_stats is not None:
                names = critic_names + actor_names
                values = [q_stats, actor_stats]
                if r_stats is not None:
                    names = names + (reward_names if use_irl else []) + (
                        student_reward_names if use_student_reward else [])
                    values.append(r_stats)
                for name, value in zip(names, torch.cat(values).tolist()):
                    writer.add_scalar(f"losses/{name}", value, global_step)
                writer.add_scalar("charts/gradient_steps", gradient_steps, global_step)
                now = time.time()
                writer.add_scalar("charts/SPS", (global_step - window[1]) / (now - window[0] - paused + window[2]),
                                  global_step)
                window = (now, global_step, paused)

        t0 = time.time()
        if global_step % args.curriculum_interval < args.num_envs:
            alpha_now = apply_curriculum()
        if args.eval_frequency > 0 and global_step % args.eval_frequency < args.num_envs:
            run_evaluation()
        if (args.checkpoint_frequency > 0 and global_step % args.checkpoint_frequency < args.num_envs) or (
                args.checkpoint_minutes > 0 and time.time() - last_checkpoint >= 60 * args.checkpoint_minutes):
            checkpoint(ckpt_path)
            last_checkpoint = time.time()
            print(f"checkpoint at global_step={global_step} written to {ckpt_path}", flush=True)
        paused += time.time() - t0

    if learn_start is not None:
        sps = (global_step - learn_start[1]) / (time.time() - learn_start[0] - paused + learn_start[2])
        print(f"SPS after learning starts (evaluation and checkpoints excluded): {sps:.1f}")
    if args.eval_frequency == 0 or global_step % args.eval_frequency >= args.num_envs:
        run_evaluation()  # always end with an evaluation
    checkpoint(ckpt_path)
    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.cleanrl_model")
        checkpoint(model_path, with_optim=False)
        print(f"model saved to {model_path}")
    if args.save_expert is not None:
        if best["teacher"] is not None:
            teacher.load_state_dict(best["teacher"])
        write_expert(args, teacher, device, f"the best teacher (step {best['step']}, eval return {best['return']:.1f})")
    envs.close()
    writer.close()
    return run_dir


if __name__ == "__main__":
    main(tyro.cli(Args))
