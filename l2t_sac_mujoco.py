# L2T-RL with SAC on Gymnasium MuJoCo with observation noise: a teacher on the clean state s and a
# student on the noisy observation o, trained in ONE loop from the teacher's replay buffer.
# Read next to "Learn to Teach" (paper 1, Wu et al.): section 3.2.1, Algorithm 2, Eqs. (1)-(6), and section 4.1.
# The file reads top to bottom: flags, envs, networks, buffer, the losses in the paper's order (Eq. 1, then
# Eqs. 3-6), the training loop (rollout, update, log) with every update in view, and last the plumbing.
# docs/l2t_sac_mujoco.md: usage, logged metrics, implementation details and results.
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
from envs.console import Progress, quiet_known_warnings
from envs.noise import NOISE_TYPES, NoisyObservation

STUDENT_LOSSES = ("l1", "l2", "kl", "asym", "l1+asym", "l2+asym", "none")
CHECKPOINT_FORMAT = "l2t_sac_mujoco/1"
MAX_NOISE_ALPHA = 10.0  # bounds of the flags with a physical or numerical meaning (check_args says why)
MAX_LEARNING_RATE = 1.0
MAX_LOSS_WEIGHT = 1e6


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
    """save the final policies and critic to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise (paper 1, section 4.1.1)
    env_id: str = "HalfCheetah-v4"
    """the id of a Gymnasium environment with Box observations and actions"""
    alpha: float = 0.4
    """noise scale alpha >= 0 of the student's observation (the paper's MuJoCo value)"""
    noise: str = "uniform"
    """`uniform` (the paper's: o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""
    num_envs: int = 1
    """number of parallel environments (one gradient step per vector step, as in CleanRL)"""

    # Teacher: SAC (CleanRL's defaults)
    total_timesteps: int = 1_000_000
    """total environment steps (transitions collected by the teacher)"""
    buffer_size: int = 1_000_000
    """the replay memory buffer size"""
    gamma: float = 0.99
    """the discount factor gamma"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """the batch size sampled from the replay memory, shared by teacher and student"""
    learning_starts: int = 5_000
    """environment steps of uniformly random actions before learning starts (paper, SB3's default: 100)"""
    policy_lr: float = 3e-4
    """the learning rate of the teacher's actor"""
    q_lr: float = 1e-3
    """the learning rate of the teacher's critic and temperature (paper, SB3's default: 3e-4)"""
    policy_frequency: int = 2
    """`policy_frequency` delayed actor updates every `policy_frequency` steps (TD3's delay; paper, SB3: 1)"""
    target_network_frequency: int = 1
    """the frequency of Polyak updates of the target critic"""
    ent_coef: float = 0.2
    """the teacher's entropy temperature when not autotuned (autotuning starts at 1.0)"""
    autotune: bool = True
    """automatic tuning of the entropy temperature towards entropy -dim(A)"""
    hidden_dim: int = 256
    """width of the two hidden layers of every network"""

    # Student (paper 1, Eqs. 3-6)
    student_loss: str = "l1+asym"
    """l1, l2, kl, asym, l1+asym or l2+asym (Table 3; l1+asym was best), or none (teacher alone)"""
    student_lr: float = 3e-4
    """the learning rate of the student's actor"""
    bc_coef: float = 1.0
    """weight of the BC term (l1/l2/kl) in the student loss (Eq. 6: 1)"""

    # Evaluation, logging, checkpoints, speed
    eval_frequency: int = 10_000
    """evaluate teacher and student every this many environment steps (0: only at the end)"""
    eval_episodes: int = 5
    """episodes per evaluation, deterministic actions"""
    log_frequency: int = 100
    """log losses and SPS every this many environment steps"""
    checkpoint_frequency: int = 100_000
    """write `runs/{run_name}/checkpoint.pt` every this many environment steps and at the end (0: only at the end)"""
    checkpoint_buffer: bool = True
    """include the replay buffer in checkpoints, so that `--resume` continues with the same data"""
    resume: Optional[str] = None
    """path of a checkpoint.pt to continue from (same flags; `--total-timesteps` may be raised)"""
    bf16: bool = False
    """float32 matrix products from bfloat16-rounded inputs (torch's "medium" matmul precision; fast on AMX CPUs)"""
    flush_denormal: bool = True
    """flush denormal floats to zero (a trained run's Adam state makes them, and the CPU is slow on them)"""


def make_env(env_id, alpha, noise, seed, capture_video=False, video_folder=None, name_prefix="rl-video"):
    """A thunk for gymnasium.vector: the env whose observation is {"state": s, "observation": o}."""

    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(
                env, video_folder, episode_trigger=lambda i: i == 0, name_prefix=name_prefix, disable_logger=True
            )
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = NoisyObservation(env, alpha=alpha, noise=noise)  # s for the teacher, o = s + noise for the student
        env.action_space.seed(seed)
        return env

    return thunk


# ALGO LOGIC: networks. Actions are kept normalised to [-1, 1] everywhere (buffer, critic, losses) and
# rescaled to the env's bounds only when sent to the env, so the BC losses have the same scale on every task.
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


# ALGO LOGIC: replay buffer. One row per transition (s, o, a, r, s', o', terminated), all in one float32
# tensor so that a minibatch is a single gather. o' of step t is the very array that becomes o of step t+1.
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


# ALGO LOGIC: the teacher's critic, Eq. (1): SAC's soft Bellman backup with twin target critics
def critic_loss(data, teacher, critic, target_critic, ent_coef, gamma):
    """The sum of the two critics' MSE to the soft TD target, and Q_1, Q_2 of the batch (shape (2, batch))."""
    with torch.no_grad():
        next_action, next_log_prob, _, _ = teacher.sample(data["next_state"])
        next_q = target_critic(data["next_state"], next_action).min(0).values - ent_coef * next_log_prob
        # Eq. (1): Q(s, a) = r + gamma E[Q(s', a')]; a terminal s' has no future, a truncated one does
        target_q = data["reward"] + gamma * (1.0 - data["terminated"]) * next_q
    q_values = critic(data["state"], data["action"])  # (2, batch)
    return (q_values - target_q).pow(2).mean(1).sum(), q_values  # MSE of Q_1 plus MSE of Q_2


# ALGO LOGIC: the student's loss, Eqs. (3)-(6), on the teacher's minibatch (the teacher's step, Eq. 2, is in the loop)
def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(p || q) of two diagonal Gaussians, summed over action dims (tanh is a bijection: the squashed KL is equal)."""
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).pow(2)) / (2 * var_q) - 0.5).sum(-1)


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


def to_env_action(action, low, high):
    """Map a normalised action in [-1, 1] to the env's bounds [low, high]."""
    return low + (action + 1.0) * 0.5 * (high - low)


def evaluate(actor, key, env_fns, seed, device):
    """Run each env of `env_fns` for one episode with deterministic actions; returns (returns, lengths)."""
    envs = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    returns, lengths, done = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    while not done.all():
        action = actor.act(torch.as_tensor(obs[key], dtype=torch.float32, device=device)).cpu().numpy()
        obs, reward, terminated, truncated, _ = envs.step(to_env_action(action, low, high))
        returns += reward * ~done
        lengths += ~done
        done |= terminated | truncated
    envs.close()
    return returns, lengths


def main(args: Args):
    """Train. SIGINT or SIGTERM stops the run after the current step with a checkpoint and exit status 130; a second
    one quits at once (envs/guard.py)."""
    with guard.Session(os.path.basename(__file__)) as session:
        return train(args, session)


def train(args: Args, session):
    check_args(args)
    ckpt = load_checkpoint(args.resume, args) if args.resume is not None else None  # before any work
    if ckpt is not None and not session.lock(os.path.dirname(os.path.abspath(args.resume))):
        fail(f"--resume: another process is running in the folder of '{args.resume}' (it holds the folder's lock)")
    quiet_known_warnings()
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    configure_torch(args)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup: SAME_STEP autoreset, so the step that ends an episode returns the next episode's first
    # observation and puts the real last one in infos["final_obs"]: no transition across an episode boundary.
    envs = make_vector_env(args)
    state_dim = envs.single_observation_space["state"].shape[0]
    action_dim = envs.single_action_space.shape[0]
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high
    check_memory(args, state_dim, action_dim, device, envs)

    teacher = Actor(state_dim, action_dim, args.hidden_dim).to(device)  # pi_t(a|s): clean state s
    student = Actor(state_dim, action_dim, args.hidden_dim).to(device)  # pi_s(a|o): noisy observation
    critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)  # the teacher's Q_1, Q_2
    target_critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)
    target_critic.load_state_dict(critic.state_dict())
    target_critic.requires_grad_(False)
    # fused Adam: one kernel per optimiser step instead of a handful of ops per parameter tensor
    q_optimizer = torch.optim.Adam(critic.parameters(), lr=args.q_lr, fused=True)
    actor_optimizer = torch.optim.Adam(teacher.parameters(), lr=args.policy_lr, fused=True)
    student_optimizer = torch.optim.Adam(student.parameters(), lr=args.student_lr, fused=True)
    # Automatic entropy tuning (SAC): the temperature of the teacher, also used by the student's Eq. (5)
    target_entropy = -float(action_dim)
    log_ent_coef = torch.tensor([0.0 if args.autotune else math.log(args.ent_coef)], device=device, requires_grad=True)
    ent_optimizer = torch.optim.Adam([log_ent_coef], lr=args.q_lr, fused=True)
    rb = ReplayBuffer(args.buffer_size, state_dim, action_dim, device)
    use_student, use_asym = args.student_loss != "none", args.student_loss.endswith("asym")
    actor_optimizers = [actor_optimizer] + [student_optimizer] * use_student + [ent_optimizer] * args.autotune
    modules = {
        "teacher": teacher,
        "student": student,
        "critic": critic,
        "target_critic": target_critic,
        "q_optimizer": q_optimizer,
        "actor_optimizer": actor_optimizer,
        "student_optimizer": student_optimizer,
        "ent_optimizer": ent_optimizer,
    }
    # the run's folder, writer, progress line, checkpoints and evaluations; on --resume everything above is restored
    run = Run(args, session, envs, ckpt, modules, rb, log_ent_coef, device)

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=args.seed + run.global_step)
    stats = {}
    while run.global_step < args.total_timesteps:
        # ALGO LOGIC: rollout: only the teacher acts, on the clean state; the student never adds samples (Alg. 2)
        if run.global_step < args.learning_starts:
            actions = np.random.uniform(-1.0, 1.0, size=(args.num_envs, action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                actions = teacher.sample(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))[0]
            actions = actions.cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(to_env_action(actions, action_low, action_high))
        run.global_step += args.num_envs
        run.log_episodes(infos)
        # the transition of an env whose episode ended ends in its real last observation; truncation is not
        # termination: only `terminations` stops the bootstrap in Eq. (1)
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
        obs = next_obs  # TRY NOT TO MODIFY: CRUCIAL step easy to overlook

        # ALGO LOGIC: update (Alg. 2: one minibatch per gradient step, shared by teacher and student)
        if run.global_step > run.train_from:
            run.learning_started()
            data = rb.sample(args.batch_size)
            ent_coef = log_ent_coef.exp().detach()

            # Eq. (1): the teacher's critic
            qf_loss, q_values = critic_loss(data, teacher, critic, target_critic, ent_coef, args.gamma)
            stats.update(
                qf_loss=qf_loss.detach(), qf1_values=q_values[0].mean().detach(), qf2_values=q_values[1].mean().detach()
            )
            run.stop_if_nonfinite(stats)
            q_optimizer.zero_grad(set_to_none=True)
            qf_loss.backward()
            q_optimizer.step()

            if run.global_step // args.num_envs % args.policy_frequency == 0:
                for _ in range(args.policy_frequency):  # delayed updates, compensated (CleanRL / TD3)
                    ent_coef = log_ent_coef.exp().detach()  # the temperature after the previous step
                    action_t, log_prob_t, mean_t, log_std_t = teacher.sample(data["state"])
                    if use_student:
                        action_s, log_prob_s, mean_s, log_std_s = student.sample(data["obs"])
                    # the critic scores the teacher's action and (Eq. 5) the student's, both on the CLEAN s, in
                    # one batched pass; detach_params: these losses move the actors, not the critic
                    if use_asym:
                        q = critic(data["state"].repeat(2, 1), torch.cat([action_t, action_s]), detach_params=True)
                        q_t, q_s = q.min(0).values.chunk(2)
                    else:
                        q_t, q_s = critic(data["state"], action_t, detach_params=True).min(0).values, None
                    # Eq. (2) as SAC solves it: the KL proximity becomes the entropy bonus, i.e. minimise
                    # E[ent_coef * log pi_t(a|s) - Q(s, a)], a ~ pi_t(.|s) (the paper writes <Q, p> as a cost;
                    # with Q a return to maximise, the Q term's sign is negative here)
                    actor_loss = (ent_coef * log_prob_t - q_t).mean()
                    # SAC's temperature loss towards entropy -dim(A), with this (pre-update) teacher's log-probs
                    ent_loss = (-log_ent_coef.exp() * (log_prob_t.detach() + target_entropy)).mean()
                    loss = actor_loss + ent_loss if args.autotune else actor_loss
                    stats.update(
                        actor_loss=actor_loss.detach(), ent_coef_loss=ent_loss.detach(), ent_coef=ent_coef.squeeze()
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
                    # teacher, student and temperature share no parameters (each loss detaches the others'
                    # outputs), so one backward of the sum gives each exactly the gradient of its own loss
                    loss.backward()
                    for optimizer in actor_optimizers:
                        optimizer.step()
            if run.global_step // args.num_envs % args.target_network_frequency == 0:
                with torch.no_grad():  # Polyak averaging of the target critic
                    for p_target, p in zip(target_critic.parameters(), critic.parameters()):
                        p_target.lerp_(p, args.tau)

        # log: losses and SPS every --log-frequency steps; the progress line; evaluation and checkpoint when due
        run.log_losses(stats)
        if run.end_step():  # SIGINT / SIGTERM: this step is done; its checkpoint follows
            break
    return run.finish()


# Plumbing: the run (folder, logging, evaluation, checkpoints: `Run`), argument checks, envs that fail in one line,
# resume. Not part of the algorithm.
def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def configure_torch(args: Args):
    """Threads, --bf16 and --flush-denormal, set either way: one process (a test, a notebook) may call main() with
    and without them."""
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    torch.set_float32_matmul_precision("medium" if args.bf16 else "highest")
    torch.set_flush_denormal(args.flush_denormal)


def real_next_observation(next_obs, infos):
    """With SAME_STEP autoreset, an env whose episode ended returns the next episode's first observation;
    its transition must end in the real last observation, infos["final_obs"]."""
    real_next = {k: v.copy() for k, v in next_obs.items()}
    for i in np.flatnonzero(infos.get("_final_obs", ())):
        for k in real_next:
            real_next[k][i] = infos["final_obs"][i][k]
    return real_next


class Run:
    """One run's folder, TensorBoard writer, progress line, step counter, checkpoints and evaluations.

    A new run gets a folder of its own, locked while it lives; `--resume` restores the networks, optimisers,
    temperature, step counter, RNG states and (if saved) the buffer into the objects given, and continues in the
    checkpoint's folder."""

    def __init__(self, args: Args, session, envs, ckpt, modules, rb, log_ent_coef, device):
        self.args, self.session, self.envs, self.device = args, session, envs, device
        self.modules, self.rb, self.log_ent_coef = modules, rb, log_ent_coef
        self.state_dim = envs.single_observation_space["state"].shape[0]
        self.action_dim = envs.single_action_space.shape[0]
        self.global_step, self.train_from = 0, args.learning_starts
        if ckpt is not None:
            self.global_step, self.train_from = restore(
                ckpt, args, modules, rb, log_ent_coef, self.state_dim, self.action_dim
            )
            self.run_dir = os.path.dirname(os.path.abspath(args.resume))
            checkpoint_file.remove_stale_temps_in(self.run_dir)  # left by a run killed while writing
        else:
            self.run_dir = make_run_dir(args, envs)
            session.lock(self.run_dir)
        self.ckpt_path = os.path.join(self.run_dir, "checkpoint.pt")
        self.writer = checkpoint_file.open_writer(self.run_dir, args, self.global_step)
        self.saved_step = None  # the step of the last checkpoint.pt written
        # a line every 20 s (returns, evaluation, steps/s, time left); its clock leaves evaluation and checkpoints out
        self.progress = Progress(args.total_timesteps, self.global_step)
        self.sps_mark, self.learn_start = self.progress.mark(self.global_step), None  # SPS window; updates began

    def checkpoint(self, path=None, with_optim=True):
        """checkpoint.pt (or `path`): networks, and with_optim optimisers, temperature, buffer and RNG states."""
        args, path = self.args, path or self.ckpt_path
        low, high = self.envs.single_action_space.low, self.envs.single_action_space.high
        state = {
            "format": CHECKPOINT_FORMAT,
            "args": asdict(args),
            "env_id": args.env_id,
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "hidden_dim": args.hidden_dim,
            "student_loss": args.student_loss,
            "global_step": self.global_step,
            "action_low": low,
            "action_high": high,
            **{k: self.modules[k].state_dict() for k in ("teacher", "student", "critic")},
        }
        if with_optim:
            state.update(
                {k: m.state_dict() for k, m in self.modules.items()},
                log_ent_coef=self.log_ent_coef.detach().cpu(),
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
        """Every --log-frequency steps once the actors have been updated: the losses, SPS and the noise level."""
        step = self.global_step
        if step % self.args.log_frequency < self.args.num_envs and "actor_loss" in stats:
            for name, value in zip(stats, torch.stack(list(stats.values())).tolist()):
                self.writer.add_scalar(f"losses/{name}", value, step)
            self.writer.add_scalar("charts/SPS", self.progress.rate(self.sps_mark, step), step)
            self.writer.add_scalar("charts/noise_alpha", self.args.alpha, step)
            self.sps_mark = self.progress.mark(step)

    def end_step(self) -> bool:
        """The progress line; evaluation and checkpoint when due (outside the steps/s clock). True: stop requested."""
        args, step = self.args, self.global_step
        self.progress.update(step)
        with self.progress.pause():
            if args.eval_frequency > 0 and step % args.eval_frequency < args.num_envs:
                self.evaluation()
            if args.checkpoint_frequency > 0 and step % args.checkpoint_frequency < args.num_envs:
                self.checkpoint()
        return self.session.stop_requested

    def evaluation(self):
        """Deterministic episodes of the teacher on the clean env and of the student on the noisy one."""
        args, step, device = self.args, self.global_step, self.device
        seed = args.seed + 10_000  # the same eval episodes every time, so points of the curve are comparable
        teacher_fns = [make_env(args.env_id, 0.0, args.noise, seed + i) for i in range(args.eval_episodes)]
        ret, length = evaluate(self.modules["teacher"], "state", teacher_fns, seed, device)  # teacher: clean state
        self.writer.add_scalar("eval/teacher_return", ret.mean(), step)
        self.writer.add_scalar("eval/teacher_length", length.mean(), step)
        self.progress.evaluation("teacher", ret.mean(), length.mean())
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
            # student: noisy o at alpha
            ret, length = evaluate(self.modules["student"], "observation", student_fns, seed, device)
            self.writer.add_scalar("eval/student_return", ret.mean(), step)
            self.writer.add_scalar("eval/student_length", length.mean(), step)
            self.progress.evaluation("student", ret.mean(), length.mean())
        self.progress.update(step, force=True)

    def close(self):
        self.envs.close()
        self.writer.close()

    def finish(self):
        """After the loop: the trained state first, before anything that can fail (evaluation, video, files); then
        the final evaluation and --save-model. Returns the run's folder."""
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
    nets = (
        2 * guard.module_bytes(lambda: Actor(state_dim, action_dim, args.hidden_dim))
        + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim))
        + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim), trainable=False)
    )
    activations = 4 * 32 * args.batch_size * args.hidden_dim  # the hidden layers of one update, with gradients
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
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        fail(f"--alpha must be a finite number >= 0, got {args.alpha}")
    if args.alpha > MAX_NOISE_ALPHA:
        fail(
            f"--alpha must be at most {MAX_NOISE_ALPHA:g}: noise {MAX_NOISE_ALPHA:g} times the state's own size "
            f"already hides the state, and beyond it float32 observations overflow; got {args.alpha}"
        )
    if args.noise not in NOISE_TYPES:
        fail(f"--noise must be one of {', '.join(NOISE_TYPES)}, got '{args.noise}'")
    if args.student_loss not in STUDENT_LOSSES:
        fail(f"--student-loss must be one of {', '.join(STUDENT_LOSSES)}, got '{args.student_loss}'")
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
    ):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("ent_coef", "policy_lr", "q_lr", "student_lr"):
        if not getattr(args, name) > 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("learning_starts", "eval_frequency", "checkpoint_frequency", "torch_threads", "bc_coef"):
        if getattr(args, name) < 0:
            fail(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    for name in ("policy_lr", "q_lr", "student_lr"):
        if getattr(args, name) > MAX_LEARNING_RATE:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LEARNING_RATE:g}: Adam moves every weight by about "
                f"the rate at each step, so a larger one throws the networks away; got {getattr(args, name)}"
            )
    for name in ("ent_coef", "bc_coef"):
        if getattr(args, name) > MAX_LOSS_WEIGHT:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LOSS_WEIGHT:g}: float32 keeps 7 significant digits, "
                f"so a larger weight erases the other loss terms; got {getattr(args, name)}"
            )
    guard.check_seed(args.seed, fail)
    guard.check_threads({"--torch-threads": args.torch_threads}, fail)
    guard.check_name("--exp-name", args.exp_name, fail)
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
    # vector steps k = 1, 2, ... end at step k * num_envs; those past --learning-starts train, and the actors are
    # updated at the ones that are multiples of --policy-frequency
    first, last = args.learning_starts // args.num_envs + 1, -(-args.total_timesteps // args.num_envs)
    if -(-first // args.policy_frequency) * args.policy_frequency > last:
        fail(
            f"--total-timesteps ({args.total_timesteps}) leaves {max(last - first + 1, 0)} vector steps of "
            f"--num-envs {args.num_envs} after --learning-starts ({args.learning_starts}): no actor update, which "
            f"comes every --policy-frequency ({args.policy_frequency}) vector steps"
        )
    if not (0 < args.gamma <= 1 and 0 < args.tau <= 1):
        fail(f"--gamma and --tau must be in (0, 1], got {args.gamma} and {args.tau}")
    try:
        gym.spec(args.env_id)
    except gym.error.Error as e:
        fail(f"--env-id: unknown environment '{args.env_id}' ({first_line(e)})")
    if args.resume is not None:
        guard.check_resume_file("--resume", args.resume, fail)
    else:  # every output path, tried before any work
        guard.check_run_folder(
            "--runs-dir",
            args.runs_dir,
            run_name(args),
            ("checkpoint.pt", f"{args.exp_name}.cleanrl_model", f"nonfinite_step{args.total_timesteps}.pt"),
            fail,
        )
    if args.capture_video:
        guard.check_rendering(fail)


def make_vector_env(args: Args):
    """The training envs (SAME_STEP autoreset); a one-line error for an env this script cannot train on."""
    try:
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id, args.alpha, args.noise, args.seed + i) for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    except Exception as e:  # e.g. mujoco missing, or an env whose spaces NoisyObservation cannot handle
        fail(f"--env-id: cannot create '{args.env_id}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(envs.single_action_space, gym.spaces.Box):
        fail(f"--env-id: '{args.env_id}' has {envs.single_action_space}; only continuous (Box) actions are supported")
    return envs


def load_checkpoint(path, args):
    """Load a checkpoint (digest checked) and check it belongs to this run's flags; one-line error otherwise.
    (Its state and action sizes are checked against the env once the env exists.)"""
    try:
        ckpt = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"--resume: {e}")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        fail(f"--resume: '{path}' is not a {CHECKPOINT_FORMAT} checkpoint")
    expected = {"env_id": args.env_id, "hidden_dim": args.hidden_dim, "student_loss": args.student_loss}
    for key, value in expected.items():
        if ckpt[key] != value:
            fail(f"--resume: checkpoint '{path}' has {key}={ckpt[key]!r}, this run has {value!r}")
    if "q_optimizer" not in ckpt:
        fail(f"--resume: '{path}' is a saved model (--save-model), not a training checkpoint.pt")
    if ckpt["global_step"] >= args.total_timesteps:
        fail(f"--resume: checkpoint is at step {ckpt['global_step']}; raise --total-timesteps above it to continue")
    return ckpt


def restore(ckpt, args, modules, rb, log_ent_coef, state_dim, action_dim):
    """Load networks, optimisers, temperature, buffer and RNG states; returns (global_step, first training step)."""
    for key, value in (("state_dim", state_dim), ("action_dim", action_dim)):
        if ckpt[key] != value:
            fail(f"--resume: checkpoint '{args.resume}' has {key}={ckpt[key]!r}, this env has {value!r}")
    try:
        for key, module in modules.items():
            module.load_state_dict(ckpt[key])
        if ckpt["buffer"] is not None:
            rb.load_state_dict(ckpt["buffer"])
    except (KeyError, ValueError, RuntimeError) as e:
        fail(f"--resume: checkpoint '{args.resume}' does not fit this run ({type(e).__name__}: {first_line(e)})")
    with torch.no_grad():
        log_ent_coef.copy_(ckpt["log_ent_coef"])
    global_step = ckpt["global_step"]
    # no saved data: the teacher (not random actions) refills learning_starts steps before training resumes
    train_from = global_step + args.learning_starts if ckpt["buffer"] is None else args.learning_starts
    checkpoint_file.set_rng_state(ckpt["rng"])
    print(f"resumed from {args.resume} at global_step={global_step}, buffer size {rb.size}")
    return global_step, train_from


if __name__ == "__main__":
    main(tyro.cli(Args))
