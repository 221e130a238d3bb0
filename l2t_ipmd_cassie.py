# L2T-IRL on Cassie: a teacher trained by IPMD (inverse policy mirror descent: an average-reward SAC-style
# actor-critic on a reward LEARNED from one expert trajectory) on the clean state s, and a student on the noisy
# observation o, trained in ONE loop from the teacher's replay buffer, with a noise curriculum.
# Read next to "Learn to Teach" (paper 1, Wu et al.): section 3.2.2, Algorithm 3, Eqs. (2)-(8), section 4.2,
# Tables 1 and 4. The file reads top to bottom: flags, envs, networks, buffers, the losses (critic, Eq. 2, Eqs. 3-6,
# Eqs. 7-8), the training loop (rollout, update, log) with every update in view, and last the plumbing.
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

from envs import checkpoint as checkpoint_file
from envs import guard
from envs.cassie import CASSIE_NOISY_MASK, STATE_DIM, STATE_SLICES
from envs.console import Progress, quiet_known_warnings
from envs.demos import DemoFormatError, Episode, load_demos, save_demos
from envs.noise import NOISE_TYPES, NoisyObservation, get_noise_alpha, set_noise_alpha

STUDENT_LOSSES = ("l1", "l2", "kl", "asym", "l1+asym", "l2+asym", "none")
REWARD_MODES = ("irl", "imitation")
POLICY_UPDATES = ("sac", "md")
CHECKPOINT_FORMAT = "l2t_ipmd_cassie/1"
MAX_LEARNING_RATE = 1.0  # bounds of the flags with a numerical meaning (check_args says why)
MAX_LOSS_WEIGHT = 1e6
MAX_UPDATES_PER_STEP = 1000.0
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
    """number of torch CPU threads (0: torch's default); runs repeat exactly only at a fixed count"""
    capture_video: bool = False
    """record one student evaluation episode per evaluation to `runs/{run_name}/videos` (MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final policies, critic and reward networks to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise (paper 1, section 4.2.1: alpha = 0.1 on Cassie)
    env_id: str = "l2t/Cassie-v1"
    """the id of the environment (a Cassie env gets noise on its robot measurements only)"""
    alpha: float = 0.1
    """target noise scale alpha in [0, 1] of the student's observation; evaluation always uses it"""
    noise: str = "uniform"
    """`uniform` (the paper's: o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""
    num_envs: int = 8
    """number of parallel environments (the authors: 24)"""
    updates_per_step: float = 1.0
    """gradient steps per vector step, fractions allowed (the authors: 1 per 24 transitions)"""
    min_reward: Optional[float] = None
    """end training episodes when the step reward falls below this (None: the env's default; the authors: 0.3)"""

    # Noise curriculum (section 3.2.2, Table 4)
    curriculum: bool = True
    """raise the training noise linearly from 0 to --alpha (`--no-curriculum`: --alpha from the first step)"""
    curriculum_fraction: float = 0.5
    """fraction of --total-timesteps over which the training noise rises from 0 to --alpha"""
    curriculum_interval: int = 1_000
    """environment steps between two updates of the noise scale inside the sub-environments"""

    # Rewards: learned (IPMD, L2T-IRL) or the env's imitation reward (L2T-RL)
    reward_mode: str = "irl"
    """`irl`: the teacher learns from the learned reward r_t(s, a); `imitation`: from the env's Eq. (9) reward"""
    expert_path: Optional[str] = DEFAULT_EXPERT
    """expert demonstration file (envs/demos.py format); `irl` needs it, `imitation` takes only its return"""
    reward_lr: float = 3e-4
    """the learning rate of the reward networks (teacher's r_t and student's r_s)"""
    reward_reg: float = 0.5
    """weight c of psi(r) = c (E_agent[r^2] + E_expert[r^2]) (the authors: 0.05 x a non-squared norm)"""
    reward_grad_penalty: float = 1.0
    """weight of psi's E||grad_(s,a) r||^2 between agent and expert samples (0: off, as the paper)"""

    # Teacher: IPMD on the SAC backbone
    total_timesteps: int = 2_000_000
    """total environment steps (transitions collected by the teacher)"""
    buffer_size: int = 1_000_000
    """the replay memory buffer size"""
    gamma: float = 1.0
    """1.0: IPMD's average-reward criterion; < 1: SAC's discounted target"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """the batch size sampled from the replay memory and the expert data, shared by teacher and student"""
    learning_starts: int = 10_000
    """environment steps of uniformly random actions before learning starts"""
    policy_lr: float = 3e-4
    """the learning rate of the teacher's actor"""
    q_lr: float = 1e-3
    """the learning rate of the teacher's critic and temperature"""
    policy_frequency: int = 2
    """`policy_frequency` delayed actor updates every `policy_frequency` gradient steps (TD3's delay)"""
    target_network_frequency: int = 1
    """the frequency of Polyak updates of the target critic, in gradient steps"""
    ent_coef: float = 0.2
    """the teacher's entropy temperature when not autotuned (autotuning starts at 1.0)"""
    autotune: bool = True
    """automatic tuning of the entropy temperature towards entropy -dim(A)"""
    hidden_dim: int = 256
    """width of the two hidden layers of every network"""
    policy_update: str = "sac"
    """Eq. (2): `sac` (SAC's step, what the authors ran) or `md` (adds the KL to a periodically frozen policy)"""
    md_coef: float = 1.0
    """weight 1/beta of the KL proximity term of `--policy-update md`"""
    md_period: int = 1_000
    """actor updates between two refreshes of the frozen policy pi_old of `--policy-update md`"""

    # Student (paper 1, Eqs. 3-6, Alg. 3)
    student_loss: str = "l1+asym"
    """l1, l2, kl, asym, l1+asym or l2+asym, or none (teacher alone)"""
    student_lr: float = 3e-4
    """the learning rate of the student's actor"""
    bc_coef: float = 1.0
    """weight of the BC term (l1/l2/kl) in the student loss (Eq. 6: 1)"""

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
    """write deterministic rollouts of the best-evaluated teacher here as a demonstration file, after training"""
    expert_episodes: int = 1
    """episodes rolled out by --save-expert"""
    expert_checkpoint: Optional[str] = None
    """with --save-expert: roll out the best teacher of this checkpoint.pt instead of training"""


def noisy_mask(env_id):
    """Which state entries get noise: the Cassie env's robot measurements (its clock stays clean), else all."""
    return CASSIE_NOISY_MASK if env_id.startswith("l2t/Cassie") else None


def make_env(env_id, alpha, noise, seed, capture_video=False, video_folder=None, name_prefix="rl-video", **kwargs):
    """A thunk for gymnasium.vector: the env whose observation is {"state": s, "observation": o}; `kwargs` go to
    gym.make."""

    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array", **kwargs)
            env = gym.wrappers.RecordVideo(
                env, video_folder, episode_trigger=lambda i: i == 0, name_prefix=name_prefix, disable_logger=True
            )
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
        """The deterministic action tanh(mean), used in evaluation and deployment."""
        return torch.tanh(self(x)[0])


class TwinQ(nn.Module):
    """The two critics Q_1, Q_2 as ONE batched network: weights of shape (2, in, out) applied with baddbmm.

    Mathematically two independent MLPs; computing them together halves the number of small ops per update.
    """

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
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x.squeeze(-1)


class RewardNet(nn.Module):
    """The learned reward r(s, a) of Eq. (7) (teacher, on s) or Eq. (8) (student, on o): an MLP, linear output."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim + action_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, state, action):
        return self.net(torch.cat([state, action], -1)).squeeze(-1)


# ALGO LOGIC: replay buffer. One row per transition (s, o, a, r_env, s', o', terminated) in one float32 tensor.
class ReplayBuffer:
    def __init__(self, capacity: int, state_dim: int, action_dim: int, device):
        widths = {
            "state": state_dim,
            "obs": state_dim,
            "action": action_dim,
            "reward": 1,
            "next_state": state_dim,
            "next_obs": state_dim,
            "terminated": 1,
        }
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
            raise ValueError(
                f"buffer rows of width {d['storage'].shape[1]}, size {d['size']} do not fit "
                f"width {self.storage.shape[1]}, capacity {self.capacity}"
            )
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
    """Alg. 3: Q(s, a) = r_t(s, a) - rho + E[Q(s', a')]. Returns (loss, Q_1 and Q_2 of the batch (2, batch), rho)."""
    with torch.no_grad():
        next_action, next_log_prob, _, _ = teacher.sample(data["next_state"])
        next_q = target_critic(data["next_state"], next_action).min(0).values
        target_q, rho = td_target(reward, next_q, next_log_prob, data["terminated"], ent_coef, gamma)
    q_values = critic(data["state"], data["action"])  # (2, batch)
    return (q_values - target_q).pow(2).mean(1).sum(), q_values, rho  # MSE of Q_1 plus MSE of Q_2


# ALGO LOGIC: Eq. (2), min_p beta <Q, p> + KL(pi_old || p), a mirror-descent step. `--policy-update sac` (default):
# SAC's step E[ent_coef log pi(a|s) - Q(s, a)], which is what the authors ran (their KL term is switched off);
# `md` adds md_coef * KL(pi_old(.|s) || pi(.|s)), pi_old frozen for md_period actor updates. Both are in the loop.
def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(p || q) of two diagonal Gaussians, summed over action dims (tanh is a bijection: the squashed KL is equal)."""
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).pow(2)) / (2 * var_q) - 0.5).sum(-1)


def mirror_descent_kl(old_teacher, state, mean, log_std):
    """Eq. (2)'s proximity term KL(pi_old(.|s) || pi(.|s)), batch mean; pi_old is a fixed target."""
    with torch.no_grad():
        mean_old, log_std_old = old_teacher(state)
    return gaussian_kl(mean_old, log_std_old, mean, log_std).mean()


# ALGO LOGIC: the student's loss, Eqs. (3)-(6): the same code as l2t_sac_mujoco.py's (tests/test_identical_blocks.py)
def student_loss(kind, student_out, teacher_mean, teacher_log_std, q_s, ent_coef, bc_coef=1.0):
    """L_s = bc_coef * L_BC + L_Asym (Eq. 6); returns (L_s, L_BC, L_Asym).

    student_out = (log-prob of the student's sampled action a_s, mean, log-std), all on the NOISY o;
    teacher_mean, teacher_log_std: the teacher's on the clean s (detached: a fixed target);
    q_s = min_j Q_j(s, a_s): the TEACHER's critic scoring a_s on the CLEAN s (None unless `kind` has asym).
    Eq. (3) compares the two MEAN actions, tanh(mean), not sampled ones: the mean is what both execute at
    evaluation; a sampled target adds the teacher's exploration noise, and an L2 between two samples also pays
    the student for shrinking its own std. l1: the L1 norm over action dimensions, l2: the squared L2 norm,
    both averaged over the batch.
    """
    log_prob_s, mean_s, log_std_s = student_out
    zero = torch.zeros((), device=mean_s.device)
    if kind.startswith("l1"):  # Eq. (3), L1
        bc = (torch.tanh(mean_s) - torch.tanh(teacher_mean)).abs().sum(-1).mean()
    elif kind.startswith("l2"):  # Eq. (3), squared L2
        bc = (torch.tanh(mean_s) - torch.tanh(teacher_mean)).pow(2).sum(-1).mean()
    elif kind == "kl":  # Eq. (4): KL(pi_s(.|o) || pi_t(.|s))
        bc = gaussian_kl(mean_s, log_std_s, teacher_mean, teacher_log_std).mean()
    else:  # `asym` alone
        bc = zero
    # Eq. (5): the student's action on the noisy o scored by the teacher's critic on the clean s, with the teacher's
    # temperature (the KL to the previous student becomes SAC's entropy term)
    asym = (ent_coef * log_prob_s - q_s).mean() if kind.endswith("asym") else zero
    return bc_coef * bc + asym, bc, asym


# ALGO LOGIC: the reward update, Eqs. (7) and (8). The reward player MAXIMISES E_E[r] - E_pi[r] - psi(r); we
# minimise its negative. psi(r) = c (E_pi[r^2] + E_E[r^2]) + g E_x[||grad_x r(x)||^2]:
# - the squared L2 term (the authors used c times the non-squared norm of the batch vector) has its pointwise
#   optimum at r = +1/(2c) on expert-only and -1/(2c) on agent-only samples, so the reward stays bounded;
# - the gradient term (zero-centred, at random points x on the segments between agent and expert samples) keeps
#   the reward smooth. Without it a network separates the agent's samples from one expert trajectory perfectly
#   within a few thousand steps, the agent's reward is a flat -1/(2c) everywhere, and the teacher gets no signal
#   (measured: see README). With it, agent states nearer the expert's get higher reward.
def reward_loss(reward_net, agent_state, agent_action, expert_state, expert_action, reg, grad_penalty=0.0):
    """Returns (loss, E_E[r] - E_pi[r] (the reward gap), E_pi[r])."""
    r_agent = reward_net(agent_state, agent_action)
    r_expert = reward_net(expert_state, expert_action)
    psi = reg * (r_agent.pow(2).mean() + r_expert.pow(2).mean())
    if grad_penalty > 0:
        agent_x = torch.cat([agent_state, agent_action], -1)
        expert_x = torch.cat([expert_state, expert_action], -1)
        n = min(len(agent_x), len(expert_x))
        u = torch.rand(n, 1, device=agent_x.device)
        x = (u * agent_x[:n] + (1 - u) * expert_x[:n]).detach().requires_grad_(True)
        r_x = reward_net(x[:, : agent_state.shape[1]], x[:, agent_state.shape[1] :])
        (grad,) = torch.autograd.grad(r_x.sum(), x, create_graph=True)
        psi = psi + grad_penalty * grad.pow(2).sum(-1).mean()
    loss = r_agent.mean() - r_expert.mean() + psi
    return loss, (r_expert.mean() - r_agent.mean()).detach(), r_agent.mean().detach()


def curriculum_alpha(step, total, alpha, fraction, enabled):
    """Section 3.2.2: the training noise rises linearly from 0 to alpha over `fraction` of training, then stays."""
    if not enabled or fraction == 0:
        return alpha
    return alpha * min(1.0, step / (fraction * total))


def evaluate(actor, key, env_fns, seed, device, gait=None):
    """Run each env of `env_fns` for one episode with deterministic actions; returns (returns, lengths).

    `gait`: a dict that receives, per episode, the Cassie walking measures read from the clean state (pelvis
    height, forward velocity in the pelvis frame, pelvis y minus the reference's: envs.cassie.STATE_SLICES): mean
    forward speed, mean pelvis height, and |y offset| at the episode's last step (the drift from the reference line)."""
    z, vx, dy = STATE_SLICES["height"].start, STATE_SLICES["lin_vel"].start, STATE_SLICES["xy_offset"].start + 1
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
        if state.shape[1] == STATE_DIM:  # a Cassie state
            speed += state[:, vx] * live
            height += state[:, z] * live
            drift = np.where(live, np.abs(state[:, dy]), drift)
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
        result.append(
            Episode(np.array(states), np.array(actions, dtype=np.float64), np.array(rewards), bool(terminated))
        )
    env.close()
    return result


def main(args: Args):
    """Train (or, with --expert-checkpoint, write demonstrations). SIGINT or SIGTERM stops the run after the current
    step with a checkpoint and exit status 130; a second one quits at once (envs/guard.py)."""
    with guard.Session(os.path.basename(__file__)) as session:
        return train(args, session)


def train(args: Args, session):
    check_args(args)
    # the files given, read before any work (their sizes are checked against the env below)
    ckpt = load_checkpoint(args.resume, args) if args.resume is not None else None
    if ckpt is not None and not session.lock(os.path.dirname(os.path.abspath(args.resume))):
        fail(f"--resume: another process is running in the folder of '{args.resume}' (it holds the folder's lock)")
    expert_ckpt = read_checkpoint("expert-checkpoint", args.expert_checkpoint) if args.expert_checkpoint else None
    quiet_known_warnings()
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup: SAME_STEP autoreset (no transition across an episode boundary; the last obs is in final_obs)
    envs = make_vector_env(args)
    state_dim = envs.single_observation_space["state"].shape[0]
    action_dim = envs.single_action_space.shape[0]

    if args.expert_checkpoint is None:
        check_memory(args, state_dim, action_dim, device, envs)
    teacher = Actor(state_dim, action_dim, args.hidden_dim).to(device)  # pi_t(a|s): privileged, noise-free state
    if args.expert_checkpoint is not None:  # --save-expert from a finished run: no training
        save_expert_of_checkpoint(args, expert_ckpt, teacher, device)
        envs.close()
        return None

    demos = load_expert(args, state_dim, action_dim)
    if demos is not None:
        s_e, a_e, _, _, _ = demos.transitions()
        expert = ExpertBuffer(s_e, a_e, device)
    use_irl = args.reward_mode == "irl"
    use_student, use_asym = args.student_loss != "none", args.student_loss.endswith("asym")
    # r_s only where it means something: L2T-IRL with a student (in `imitation` mode nothing would use it)
    use_student_reward = use_irl and use_student

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
    actor_optimizers = [actor_optimizer] + [student_optimizer] * use_student + [ent_optimizer] * args.autotune
    reward_optimizers = [reward_t_optimizer] * use_irl + [reward_s_optimizer] * use_student_reward
    modules = {
        "teacher": teacher,
        "student": student,
        "critic": critic,
        "target_critic": target_critic,
        "reward_t": reward_t,
        "reward_s": reward_s,
        "q_optimizer": q_optimizer,
        "actor_optimizer": actor_optimizer,
        "student_optimizer": student_optimizer,
        "reward_t_optimizer": reward_t_optimizer,
        "reward_s_optimizer": reward_s_optimizer,
        "ent_optimizer": ent_optimizer,
    }

    # the run's folder, writer, progress line, counters, checkpoints, evaluations and best teacher; --resume restores
    # everything above into these objects
    run = Run(args, session, envs, ckpt, modules, old_teacher, rb, log_ent_coef, device, demos)

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=args.seed + run.global_step)
    alpha_now = run.apply_curriculum()
    stats = {}
    while run.global_step < args.total_timesteps:
        # ALGO LOGIC: rollout: only the teacher acts, on the clean state; the student never adds samples (Alg. 3)
        if run.global_step < args.learning_starts:
            actions = np.random.uniform(-1.0, 1.0, size=(args.num_envs, action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                actions = teacher.sample(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))[0]
            actions = actions.cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        run.global_step += args.num_envs
        run.log_episodes(infos)  # the env's imitation reward: the training signal in `imitation` mode, logged in `irl`
        real_next = real_next_observation(next_obs, infos)
        rb.add(
            obs["state"],
            obs["observation"],
            actions,
            rewards,
            real_next["state"],
            real_next["observation"],
            terminations.astype(np.float32),
        )
        obs = next_obs

        # ALGO LOGIC: update (Alg. 3: one minibatch per gradient step, shared by critic, reward nets, actors)
        if run.global_step > run.train_from:
            run.learning_started()
            run.train_vector_steps += 1
            # --updates-per-step: gradient steps due after this many vector steps, minus those done (exact on resume)
            due = math.floor(run.train_vector_steps * args.updates_per_step + 1e-9)
            while run.gradient_steps < due:
                run.gradient_steps += 1
                data = rb.sample(args.batch_size)

                # Alg. 3's critic: Q(s, a) = r - rho + E[Q(s', a')], with r the LEARNED r_t(s, a) in L2T-IRL
                # (the env's reward is never seen), or the env's imitation reward, Eq. (9), in L2T-RL
                if use_irl:
                    with torch.no_grad():
                        reward = reward_t(data["state"], data["action"])
                else:
                    reward = data["reward"]
                qf_loss, q_values, rho = critic_loss(
                    data, reward, teacher, critic, target_critic, log_ent_coef.exp().detach(), args.gamma
                )
                stats.update(
                    qf_loss=qf_loss.detach(),
                    qf1_values=q_values[0].mean().detach(),
                    qf2_values=q_values[1].mean().detach(),
                    rho=rho,
                )
                run.stop_if_nonfinite(stats)
                q_optimizer.zero_grad(set_to_none=True)
                qf_loss.backward()
                q_optimizer.step()

                if run.gradient_steps % args.policy_frequency == 0:
                    for _ in range(args.policy_frequency):  # delayed updates, compensated (CleanRL / TD3)
                        ent_coef = log_ent_coef.exp().detach()
                        action_t, log_prob_t, mean_t, log_std_t = teacher.sample(data["state"])
                        if use_student:
                            action_s, log_prob_s, mean_s, log_std_s = student.sample(data["obs"])
                        # the critic scores the teacher's action and (Eq. 5) the student's, both on the CLEAN s,
                        # in one batched pass; detach_params: these losses move the actors, not the critic
                        if use_asym:
                            q = critic(data["state"].repeat(2, 1), torch.cat([action_t, action_s]), detach_params=True)
                            q_t, q_s = q.min(0).values.chunk(2)
                        else:
                            q_t, q_s = critic(data["state"], action_t, detach_params=True).min(0).values, None
                        # Eq. (2): SAC's step, plus the mirror-descent KL to pi_old with --policy-update md
                        actor_loss = (ent_coef * log_prob_t - q_t).mean()
                        md_kl = torch.zeros((), device=device)
                        if old_teacher is not None:
                            md_kl = mirror_descent_kl(old_teacher, data["state"], mean_t, log_std_t)
                            actor_loss = actor_loss + args.md_coef * md_kl
                        # SAC's temperature loss towards entropy -dim(A), with this (pre-update) teacher's log-probs
                        ent_loss = (-log_ent_coef.exp() * (log_prob_t.detach() + target_entropy)).mean()
                        loss = actor_loss + ent_loss if args.autotune else actor_loss
                        stats.update(
                            actor_loss=actor_loss.detach(),
                            ent_coef_loss=ent_loss.detach(),
                            ent_coef=ent_coef.squeeze(),
                            md_kl=md_kl.detach(),
                        )
                        if use_student:  # Eqs. (3)-(6) on the SAME minibatch; the teacher is a fixed target
                            loss_s, bc, asym = student_loss(
                                args.student_loss,
                                (log_prob_s, mean_s, log_std_s),
                                mean_t.detach(),
                                log_std_t.detach(),
                                q_s,
                                ent_coef,
                                args.bc_coef,
                            )
                            loss = loss + loss_s
                            stats.update(
                                student_bc_loss=bc.detach(),
                                student_asym_loss=asym.detach(),
                                imitation_gap=(torch.tanh(mean_s) - torch.tanh(mean_t)).abs().mean().detach(),
                            )
                        run.stop_if_nonfinite(stats)
                        for optimizer in actor_optimizers:
                            optimizer.zero_grad(set_to_none=True)
                        loss.backward()  # the three losses share no parameters: each gets its own gradient
                        for optimizer in actor_optimizers:
                            optimizer.step()
                        run.actor_updates += 1
                        if old_teacher is not None and run.actor_updates % args.md_period == 0:
                            old_teacher.load_state_dict(teacher.state_dict())  # next mirror-descent iteration

                if reward_optimizers:
                    # Eq. (7) for r_t (agent: replay states with the CURRENT teacher's actions) and Eq. (8) for r_s
                    # (agent: replay observations with the current student's actions; expert: the expert's states
                    # with the noise the student currently trains with: the demonstrations hold clean states only)
                    expert_s, expert_a = expert.sample(args.batch_size)
                    with torch.no_grad():
                        a_t = teacher.sample(data["state"])[0]
                        a_s = student.sample(data["obs"])[0] if use_student_reward else None
                    loss = 0.0
                    if use_irl:
                        loss_t, gap, r_agent = reward_loss(
                            reward_t, data["state"], a_t, expert_s, expert_a, args.reward_reg, args.reward_grad_penalty
                        )
                        loss = loss + loss_t
                        stats.update(reward_loss=loss_t.detach(), reward_gap=gap, learned_reward_agent=r_agent)
                    if use_student_reward:
                        expert_o = add_noise(expert_s, alpha_now, args.noise, mask)
                        loss_r, gap, r_agent = reward_loss(
                            reward_s, data["obs"], a_s, expert_o, expert_a, args.reward_reg, args.reward_grad_penalty
                        )
                        loss = loss + loss_r
                        stats.update(
                            student_reward_loss=loss_r.detach(),
                            student_reward_gap=gap,
                            student_learned_reward_agent=r_agent,
                        )
                    run.stop_if_nonfinite(stats)
                    for optimizer in reward_optimizers:
                        optimizer.zero_grad(set_to_none=True)
                    loss.backward()  # the two reward nets share no parameters
                    for optimizer in reward_optimizers:
                        optimizer.step()

                if run.gradient_steps % args.target_network_frequency == 0:
                    with torch.no_grad():  # Polyak averaging of the target critic
                        for p_target, p in zip(target_critic.parameters(), critic.parameters()):
                            p_target.lerp_(p, args.tau)

        # log: losses and SPS every --log-frequency steps; the noise curriculum (section 3.2.2) every
        # --curriculum-interval steps; the progress line; evaluation and checkpoint when due
        run.log_losses(stats)
        if run.global_step % args.curriculum_interval < args.num_envs:
            alpha_now = run.apply_curriculum()
        if run.end_step():  # SIGINT / SIGTERM: this step is done; its checkpoint follows
            break
    return run.finish()


# Plumbing: the run (folder, logging, evaluation, checkpoints: `Run`), argument checks, files, envs that fail in
# one line, resume. Not the algorithm.
def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def real_next_observation(next_obs, infos):
    """With SAME_STEP autoreset, an env whose episode ended returns the next episode's first observation;
    its transition must end in the real last observation, infos["final_obs"]."""
    real_next = {k: v.copy() for k, v in next_obs.items()}
    for i in np.flatnonzero(infos.get("_final_obs", ())):
        for k in real_next:
            real_next[k][i] = infos["final_obs"][i][k]
    return real_next


class Run:
    """One run's folder, TensorBoard writer, progress line, counters, checkpoints, evaluations and best teacher.

    Counters (all resumed): env steps, actor updates, gradient steps done, vector steps since learning started. A new
    run gets a folder of its own, locked while it lives; `--resume` restores the networks, optimisers, temperature,
    counters, RNG states, best teacher and (if saved) the buffer, and continues in the checkpoint's folder."""

    def __init__(self, args: Args, session, envs, ckpt, modules, old_teacher, rb, log_ent_coef, device, demos):
        self.args, self.session, self.envs, self.device = args, session, envs, device
        self.modules, self.old_teacher, self.rb, self.log_ent_coef = modules, old_teacher, rb, log_ent_coef
        self.state_dim = envs.single_observation_space["state"].shape[0]
        self.action_dim = envs.single_action_space.shape[0]
        # the demonstrations' own return, a reference line
        self.expert_return = None if demos is None else float(np.mean([e.rewards.sum() for e in demos.episodes]))
        self.global_step = self.actor_updates = self.gradient_steps = self.train_vector_steps = 0
        self.best_return, self.best_teacher, self.best_step = -math.inf, None, -1  # for --save-expert
        self.train_from = args.learning_starts
        if ckpt is not None:
            self.train_from = restore(ckpt, args, self)
            self.run_dir = os.path.dirname(os.path.abspath(args.resume))
            checkpoint_file.remove_stale_temps_in(self.run_dir)  # left by a run killed while writing
        else:
            self.run_dir = make_run_dir(args, envs)
            session.lock(self.run_dir)
        self.ckpt_path = os.path.join(self.run_dir, "checkpoint.pt")
        self.writer = checkpoint_file.open_writer(self.run_dir, args, self.global_step)
        self.saved_step = None  # the step of the last checkpoint.pt written
        self.last_checkpoint = time.time()
        self.alpha = None  # the training noise the sub-envs use now
        # a line every 20 s (returns, evaluation, steps/s, time left); its clock leaves evaluation and checkpoints out
        self.progress = Progress(args.total_timesteps, self.global_step)
        self.sps_mark, self.learn_start = self.progress.mark(self.global_step), None  # SPS window; updates began

    def checkpoint(self, path=None, with_optim=True):
        """checkpoint.pt (or `path`): networks and counters, and with_optim optimisers, temperature, buffer, RNG."""
        args, path = self.args, path or self.ckpt_path
        state = {
            "format": CHECKPOINT_FORMAT,
            "args": asdict(args),
            "env_id": args.env_id,
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "hidden_dim": args.hidden_dim,
            "student_loss": args.student_loss,
            "reward_mode": args.reward_mode,
            "global_step": self.global_step,
            "actor_updates": self.actor_updates,
            "gradient_steps": self.gradient_steps,
            "train_vector_steps": self.train_vector_steps,
            "best_return": self.best_return,
            "best_teacher": self.best_teacher,
            "best_step": self.best_step,
            "expert_return": self.expert_return,
            **{k: self.modules[k].state_dict() for k in ("teacher", "student", "critic", "reward_t", "reward_s")},
        }
        if with_optim:
            state.update({k: m.state_dict() for k, m in self.modules.items()})
            state.update(
                log_ent_coef=self.log_ent_coef.detach().cpu(),
                old_teacher=None if self.old_teacher is None else self.old_teacher.state_dict(),
                buffer=self.rb.state_dict() if args.checkpoint_buffer else None,
                rng=checkpoint_file.rng_state(),
            )
        try:
            checkpoint_file.save(state, path)
        except checkpoint_file.WriteError as e:  # disk full, I/O error: one line; the previous file is kept
            fail(str(e))
        if path == self.ckpt_path:
            self.saved_step = self.global_step

    def stop_if_nonfinite(self, stats):
        """Checked BEFORE the optimiser step, so the saved state is the last finite one, the one that failed."""
        if not torch.isfinite(torch.stack(list(stats.values()))).all():
            checkpoint_file.stop_nonfinite(
                os.path.basename(__file__), stats, self.global_step, self.run_dir, self.ckpt_path, self.checkpoint
            )

    def log_episodes(self, infos):
        """The training episodes that ended in this step (the teacher's, the only agent that acts)."""
        if "final_info" in infos and "episode" in infos["final_info"]:
            for i in np.flatnonzero(infos["final_info"]["_episode"]):
                ret, length = infos["final_info"]["episode"]["r"][i], infos["final_info"]["episode"]["l"][i]
                self.writer.add_scalar("charts/episodic_return", ret, self.global_step)
                self.writer.add_scalar("charts/episodic_length", length, self.global_step)
                self.progress.episode(ret, length)

    def learning_started(self):
        self.learn_start = self.learn_start or self.progress.mark(self.global_step)

    def log_losses(self, stats):
        """Every --log-frequency steps once the actors have been updated: the losses, gradient steps and SPS."""
        step = self.global_step
        if step % self.args.log_frequency < self.args.num_envs and "actor_loss" in stats:
            for name, value in zip(stats, torch.stack(list(stats.values())).tolist()):
                self.writer.add_scalar(f"losses/{name}", value, step)
            self.writer.add_scalar("charts/gradient_steps", self.gradient_steps, step)
            self.writer.add_scalar("charts/SPS", self.progress.rate(self.sps_mark, step), step)
            self.sps_mark = self.progress.mark(step)

    def apply_curriculum(self):
        """Set the curriculum's training noise in EVERY sub-env (set_noise_alpha reads it back from each) and log what
        they use; returns it."""
        args = self.args
        self.alpha = curriculum_alpha(
            self.global_step, args.total_timesteps, args.alpha, args.curriculum_fraction, args.curriculum
        )
        set_noise_alpha(self.envs, self.alpha)
        seen = get_noise_alpha(self.envs)
        self.writer.add_scalar("charts/noise_alpha", min(seen), self.global_step)
        self.writer.add_scalar("charts/noise_alpha_max", max(seen), self.global_step)
        return self.alpha

    def end_step(self) -> bool:
        """The progress line; evaluation and checkpoint when due (outside the steps/s clock). True: stop requested."""
        args, step = self.args, self.global_step
        self.progress.update(step, extra=f"noise alpha {self.alpha:.3f}")
        with self.progress.pause():
            if args.eval_frequency > 0 and step % args.eval_frequency < args.num_envs:
                self.evaluation()
            if (args.checkpoint_frequency > 0 and step % args.checkpoint_frequency < args.num_envs) or (
                args.checkpoint_minutes > 0 and time.time() - self.last_checkpoint >= 60 * args.checkpoint_minutes
            ):
                self.checkpoint()
                self.last_checkpoint = time.time()
                print(f"checkpoint at global_step={step} written to {self.ckpt_path}", flush=True)
        return self.session.stop_requested

    def evaluation(self):
        """Deterministic episodes of the teacher on the clean env (with its gait on Cassie) and of the student on the
        noisy env at the TARGET alpha, whatever the curriculum trains with; keeps the best teacher."""
        args, step, device, writer = self.args, self.global_step, self.device, self.writer
        teacher = self.modules["teacher"]
        seed = args.seed + 10_000  # the same eval episodes every time, so points of the curve are comparable
        teacher_fns = [make_env(args.env_id, 0.0, args.noise, seed + i) for i in range(args.eval_episodes)]
        gait = {}
        ret, length = evaluate(teacher, "state", teacher_fns, seed, device, gait)  # teacher: clean state
        writer.add_scalar("eval/teacher_return", ret.mean(), step)
        writer.add_scalar("eval/teacher_length", length.mean(), step)
        writer.add_scalar("eval/teacher_min_length", length.min(), step)
        self.progress.evaluation("teacher", ret.mean(), length.mean())
        line = f"  eval at step {step}: teacher {ret.mean():.1f} (length {length.mean():.0f}, min {length.min()})"
        if args.env_id.startswith("l2t/Cassie"):
            for k in ("speed", "height", "drift"):
                writer.add_scalar(f"eval/teacher_{k}", gait[k].mean(), step)
            line += (
                f", speed {gait['speed'].mean():.2f} m/s, height {gait['height'].mean():.2f} m, "
                f"drift {gait['drift'].mean():.2f} m"
            )
        if ret.mean() > self.best_return:
            self.best_return, self.best_step = float(ret.mean()), step
            self.best_teacher = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
        if args.student_loss != "none":
            video = os.path.join(self.run_dir, "videos")
            student_fns = [
                make_env(
                    args.env_id,
                    args.alpha,
                    args.noise,
                    seed + i,
                    args.capture_video and i == 0,
                    video,
                    f"student-step{step}",
                )
                for i in range(args.eval_episodes)
            ]
            ret, length = evaluate(self.modules["student"], "observation", student_fns, seed, device)
            writer.add_scalar("eval/student_return", ret.mean(), step)
            writer.add_scalar("eval/student_length", length.mean(), step)
            self.progress.evaluation("student", ret.mean(), length.mean())
            line += f"; student {ret.mean():.1f} (length {length.mean():.0f})"
        if self.expert_return is not None:
            writer.add_scalar("eval/expert_return", self.expert_return, step)
        print(line + f"; {self.gradient_steps} gradient steps", flush=True)
        self.progress.update(step, force=True)

    def close(self):
        self.envs.close()
        self.writer.close()

    def finish(self):
        """After the loop: the trained state first, before anything that can fail (evaluation, video, files); then
        the final evaluation, --save-model and --save-expert. Returns the run's folder."""
        args, step = self.args, self.global_step
        if self.learn_start is not None:
            print(
                f"SPS after learning starts (evaluation and checkpoints excluded): "
                f"{self.progress.rate(self.learn_start, step):.1f}"
            )
        if self.saved_step != step:
            self.checkpoint()
        if self.session.stop_requested:
            self.close()
            self.session.exit_stopped(f"global_step={step}", self.ckpt_path, resume_hint(args, self.ckpt_path, step))
        try:
            if args.eval_frequency == 0 or step % args.eval_frequency >= args.num_envs:
                self.evaluation()  # always end with an evaluation
                if self.best_step == step:  # a new best teacher: the checkpoint keeps it too
                    self.checkpoint()
        except Exception as e:
            self.close()
            fail(
                f"the final evaluation failed ({type(e).__name__}: {first_line(e)}); the trained run is saved in "
                f"{self.ckpt_path}"
            )
        if args.save_model:
            model_path = os.path.join(self.run_dir, f"{args.exp_name}.cleanrl_model")
            self.checkpoint(model_path, with_optim=False)
            print(f"model saved to {model_path}")
        if args.save_expert is not None:
            teacher = self.modules["teacher"]
            if self.best_teacher is not None:
                teacher.load_state_dict(self.best_teacher)
            try:
                write_expert(
                    args,
                    teacher,
                    self.device,
                    f"the best teacher (step {self.best_step}, eval return {self.best_return:.1f})",
                )
            except Exception as e:
                self.close()
                fail(
                    f"--save-expert: the rollouts failed ({type(e).__name__}: {first_line(e)}); the trained run is "
                    f"saved in {self.ckpt_path}"
                )
        self.close()
        return self.run_dir


def run_name(args: Args) -> str:
    """The run folder's name ("/" of a namespaced id, e.g. l2t/Cassie-v1, would nest folders)."""
    return f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}"


def make_run_dir(args: Args, envs):
    """A new folder for this run under --runs-dir (envs/guard.py: never another run's)."""
    try:
        return guard.new_run_dir(args.runs_dir, run_name(args))
    except OSError as e:
        envs.close()
        fail(f"--runs-dir: cannot create a run folder in '{args.runs_dir}' ({e.strerror or first_line(e)})")


def resume_hint(args: Args, ckpt_path: str, global_step: int) -> str:
    command = guard.resume_command(__file__, args, ckpt_path)
    if global_step >= args.total_timesteps:
        return f"{command} and a larger --total-timesteps (training had finished)"
    return command


def check_memory(args: Args, state_dim: int, action_dim: int, device, envs):
    """Refuse, before allocating, a replay buffer and networks larger than the memory free now (envs closed)."""
    row_bytes = 4 * (4 * state_dim + action_dim + 2)  # ReplayBuffer: s, o, a, r, s', o', terminated in float32
    # a checkpoint copies the filled buffer while it is written (to the host: from a GPU, that copy is not here)
    copies = 2 if args.checkpoint_buffer and torch.device(device).type == "cpu" else 1
    actor = guard.module_bytes(lambda: Actor(state_dim, action_dim, args.hidden_dim))
    reward = guard.module_bytes(lambda: RewardNet(state_dim, action_dim, args.hidden_dim))
    nets = (
        2 * actor
        + 2 * reward
        + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim))
        + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim), trainable=False)
        + actor // 4 * 2
    )  # the best teacher kept for --save-expert, the mirror-descent anchor
    activations = 4 * 48 * args.batch_size * args.hidden_dim  # the hidden layers of one update, with gradients
    guard.check_memory(
        [
            ("replay buffer", "--buffer-size", copies * row_bytes * args.buffer_size),
            ("networks", "--hidden-dim", nets + activations),
        ],
        device,
        lambda message: (envs.close(), fail(message)),
    )


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
    for flag, value, choices in (
        ("student-loss", args.student_loss, STUDENT_LOSSES),
        ("reward-mode", args.reward_mode, REWARD_MODES),
        ("policy-update", args.policy_update, POLICY_UPDATES),
    ):
        if value not in choices:
            fail(f"--{flag} must be one of {', '.join(choices)}, got '{value}'")
    for name in (
        "total_timesteps",
        "num_envs",
        "buffer_size",
        "batch_size",
        "eval_episodes",
        "log_frequency",
        "policy_frequency",
        "target_network_frequency",
        "hidden_dim",
        "curriculum_interval",
        "md_period",
        "expert_episodes",
    ):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("ent_coef", "reward_lr", "policy_lr", "q_lr", "student_lr"):
        if not getattr(args, name) > 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not (math.isfinite(args.checkpoint_minutes) and args.checkpoint_minutes >= 0):
        fail(f"--checkpoint-minutes must be >= 0, got {args.checkpoint_minutes}")
    for name in (
        "learning_starts",
        "eval_frequency",
        "checkpoint_frequency",
        "torch_threads",
        "bc_coef",
        "reward_reg",
        "reward_grad_penalty",
        "md_coef",
    ):
        if not getattr(args, name) >= 0:
            fail(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if not (math.isfinite(args.updates_per_step) and args.updates_per_step > 0):
        fail(f"--updates-per-step must be a positive number, got {args.updates_per_step}")
    if args.updates_per_step > MAX_UPDATES_PER_STEP:
        fail(
            f"--updates-per-step must be at most {MAX_UPDATES_PER_STEP:g}: gradient steps per vector step, already "
            f"far past any replay ratio that learns; got {args.updates_per_step}"
        )
    for name in ("reward_lr", "policy_lr", "q_lr", "student_lr"):
        if getattr(args, name) > MAX_LEARNING_RATE:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LEARNING_RATE:g}: Adam moves every weight by about "
                f"the rate at each step, so a larger one throws the networks away; got {getattr(args, name)}"
            )
    for name in ("ent_coef", "bc_coef", "reward_reg", "reward_grad_penalty", "md_coef"):
        if getattr(args, name) > MAX_LOSS_WEIGHT:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LOSS_WEIGHT:g}: float32 keeps 7 significant digits, "
                f"so a larger weight erases the other loss terms; got {getattr(args, name)}"
            )
    guard.check_seed(args.seed, fail)
    guard.check_threads({"--torch-threads": args.torch_threads}, fail)
    guard.check_name("--exp-name", args.exp_name, fail)
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
    if args.buffer_size < max(args.batch_size, args.num_envs):
        fail(
            f"--buffer-size ({args.buffer_size}) must hold at least one batch (--batch-size {args.batch_size}) and "
            f"one vector step (--num-envs {args.num_envs})"
        )
    if args.num_envs > args.total_timesteps:
        fail(
            f"--num-envs ({args.num_envs}) must not exceed --total-timesteps ({args.total_timesteps}): one vector "
            "step is --num-envs environment steps"
        )
    # vector steps k = 1, 2, ... end at step k * num_envs; those past --learning-starts train, with
    # --updates-per-step gradient steps each, and every --policy-frequency-th gradient step updates the actors
    first, last = args.learning_starts // args.num_envs + 1, -(-args.total_timesteps // args.num_envs)
    if math.floor(max(last - first + 1, 0) * args.updates_per_step + 1e-9) < args.policy_frequency:
        fail(
            f"--total-timesteps ({args.total_timesteps}) leaves {max(last - first + 1, 0)} vector steps of "
            f"--num-envs {args.num_envs} after --learning-starts ({args.learning_starts}): with --updates-per-step "
            f"{args.updates_per_step:g}, fewer gradient steps than the --policy-frequency ({args.policy_frequency}) "
            "of an actor update"
        )
    if not (0 < args.gamma <= 1 and 0 < args.tau <= 1):
        fail(f"--gamma and --tau must be in (0, 1], got {args.gamma} and {args.tau}")
    try:
        gym.spec(args.env_id)
    except gym.error.Error as e:
        fail(f"--env-id: unknown environment '{args.env_id}' ({first_line(e)})")
    if args.expert_checkpoint is not None and not os.path.isfile(args.expert_checkpoint):
        fail(f"--expert-checkpoint: no checkpoint file at '{args.expert_checkpoint}'")
    if args.expert_checkpoint is not None and args.save_expert is None:
        fail("--expert-checkpoint only makes sense with --save-expert PATH")
    if args.save_expert is not None:
        guard.check_output_file("--save-expert", args.save_expert, fail, example="expert.npz")
    if args.resume is not None:
        guard.check_resume_file("--resume", args.resume, fail)
    elif args.expert_checkpoint is None:  # every output path, tried before any work
        guard.check_run_folder(
            "--runs-dir",
            args.runs_dir,
            run_name(args),
            ("checkpoint.pt", f"{args.exp_name}.cleanrl_model", f"nonfinite_step{args.total_timesteps}.pt"),
            fail,
        )
    if args.capture_video:
        guard.check_rendering(fail)


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
    expected = {
        "env_id": args.env_id,
        "hidden_dim": args.hidden_dim,
        "student_loss": args.student_loss,
        "reward_mode": args.reward_mode,
    }
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
    try:
        save_demos(args.save_expert, args.env_id, episodes)
    except checkpoint_file.WriteError as e:  # disk full, I/O error: one line
        fail(f"--save-expert: {e}")
    returns = [float(e.rewards.sum()) for e in episodes]
    lengths = [len(e) for e in episodes]
    print(
        f"expert demonstrations of {source} written to {args.save_expert}: returns {np.round(returns, 2).tolist()}, "
        f"lengths {lengths}"
    )


def make_vector_env(args: Args):
    """The training envs (SAME_STEP autoreset) at the curriculum's first noise scale; one-line errors."""
    alpha = curriculum_alpha(0, args.total_timesteps, args.alpha, args.curriculum_fraction, args.curriculum)
    kwargs = {} if args.min_reward is None else {"min_reward": args.min_reward}
    try:
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id, alpha, args.noise, args.seed + i, **kwargs) for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    except Exception as e:
        fail(f"--env-id: cannot create '{args.env_id}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(envs.single_action_space, gym.spaces.Box) or not (
        np.all(envs.single_action_space.low == -1) and np.all(envs.single_action_space.high == 1)
    ):
        fail(f"--env-id: '{args.env_id}' has {envs.single_action_space}; this script needs Box actions in [-1, 1]")
    return envs


def save_expert_of_checkpoint(args, expert_ckpt, teacher, device):
    try:
        teacher.load_state_dict(expert_ckpt["best_teacher"] or expert_ckpt["teacher"])
    except (KeyError, RuntimeError) as e:
        fail(f"--expert-checkpoint: '{args.expert_checkpoint}' does not fit this env ({first_line(e)})")
    write_expert(args, teacher, device, f"the best teacher of {args.expert_checkpoint}")


def restore(ckpt, args, run):
    """Load networks, optimisers, temperature, buffer and RNG states into the run's objects, and its counters and
    best teacher into `run`; returns the first step that trains."""
    for key, value in (("state_dim", run.state_dim), ("action_dim", run.action_dim)):
        if ckpt[key] != value:
            fail(f"--resume: checkpoint '{args.resume}' has {key}={ckpt[key]!r}, this env has {value!r}")
    try:
        for key, module in run.modules.items():
            module.load_state_dict(ckpt[key])
        if run.old_teacher is not None:
            run.old_teacher.load_state_dict(ckpt["old_teacher"] or ckpt["teacher"])
        if ckpt["buffer"] is not None:
            run.rb.load_state_dict(ckpt["buffer"])
    except (KeyError, ValueError, RuntimeError) as e:
        fail(f"--resume: checkpoint '{args.resume}' does not fit this run ({type(e).__name__}: {first_line(e)})")
    with torch.no_grad():
        run.log_ent_coef.copy_(ckpt["log_ent_coef"])
    run.global_step, run.actor_updates = ckpt["global_step"], ckpt["actor_updates"]
    run.gradient_steps = ckpt.get("gradient_steps", ckpt["actor_updates"])  # (older: one per actor update)
    run.train_vector_steps = ckpt.get("train_vector_steps", run.gradient_steps)
    run.best_return, run.best_teacher, run.best_step = ckpt["best_return"], ckpt["best_teacher"], ckpt["best_step"]
    checkpoint_file.set_rng_state(ckpt["rng"])
    print(f"resumed from {args.resume} at global_step={ckpt['global_step']}, buffer size {run.rb.size}")
    # no saved data: the teacher (not random actions) refills learning_starts steps before training resumes
    return ckpt["global_step"] + args.learning_starts if ckpt["buffer"] is None else args.learning_starts


if __name__ == "__main__":
    main(tyro.cli(Args))
