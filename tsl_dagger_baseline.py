# The conventional two-stage teacher-student baseline (TSL) that L2T is compared with: stage 1 trains (or loads)
# a SAC teacher on the clean state s; stage 2 trains a student from scratch on the noisy observation o, by
# behaviour cloning (BC: the teacher acts) or DAgger (the student increasingly acts, the teacher labels).
# Read next to paper 1 (../shared/papers/l2t_rl_irl_mujoco_cassie.txt), section 4.1.2 and Fig. 2 (bottom row),
# and paper 2 section V-A. Every environment step of BOTH stages is counted in `global_step`, so the student's
# curve here sits on the same axis as the L2T student of l2t_sac_mujoco.py, whose student costs no samples.
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from typing import Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

from envs.noise import NOISE_TYPES, NoisyObservation, set_noise_alpha

METHODS = ("bc", "dagger")
BETA_SCHEDULES = ("linear", "exponential")
STUDENT_LOSSES = ("l1", "l2", "nll")
TEACHER_FORMAT = "l2t_sac_mujoco/1"  # teachers saved by l2t_sac_mujoco.py and by this script's stage 1
CHECKPOINT_FORMAT = "tsl_dagger_baseline/1"
STAGE1_FORMAT = "tsl_dagger_baseline/stage1"


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
    """record one student evaluation episode per round to `runs/{run_name}/videos` (needs moviepy; headless: MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final student and its teacher to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise: the same wrapper and alpha semantics as l2t_sac_mujoco.py
    env_id: str = "HalfCheetah-v4"
    """the id of a Gymnasium environment with Box observations and actions"""
    alpha: float = 0.4
    """noise scale alpha >= 0 of the student's observation"""
    noise: str = "uniform"
    """noise model: `uniform` (o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""

    # Stage 1: the teacher, loaded or trained with SAC (CleanRL's defaults)
    teacher_checkpoint: Optional[str] = None
    """a teacher saved by l2t_sac_mujoco.py (checkpoint.pt or .cleanrl_model) or by this script; if unset, stage 1 trains one"""
    teacher_timesteps: int = 1_000_000
    """environment steps of stage-1 SAC training when no --teacher-checkpoint is given"""
    buffer_size: int = 1_000_000
    """stage 1: the replay memory buffer size"""
    gamma: float = 0.99
    """stage 1: the discount factor gamma"""
    tau: float = 0.005
    """stage 1: target smoothing coefficient"""
    batch_size: int = 256
    """stage 1: the batch size sampled from the replay memory"""
    learning_starts: int = 5_000
    """stage 1: environment steps of uniformly random actions before learning starts"""
    policy_lr: float = 3e-4
    """stage 1: the learning rate of the teacher's actor"""
    q_lr: float = 1e-3
    """stage 1: the learning rate of the teacher's critic and temperature"""
    policy_frequency: int = 2
    """stage 1: `policy_frequency` actor updates every `policy_frequency` steps"""
    hidden_dim: int = 256
    """width of the two hidden layers of a stage-1 teacher and its critic; the student takes its teacher's width"""

    # Stage 2: the student
    method: str = "dagger"
    """`bc` (the teacher executes every action: the paper's BC agent) or `dagger` (teacher with probability beta)"""
    student_loss: str = "l1"
    """`l1` or `l2` between the student's and the teacher's mean actions, or `nll` (-log pi_s(teacher action | o))"""
    stage2_timesteps: int = 1_000_000
    """environment steps of stage 2, split evenly over the rounds"""
    num_envs: int = 4
    """parallel environments of stage 2 (stage 1 uses one, as CleanRL's SAC)"""
    dagger_rounds: int = 15
    """rounds of stage 2: collect, aggregate, retrain, evaluate (also for `bc`)"""
    beta_schedule: str = "linear"
    """dagger: `linear`, beta_r = (R - r) / R for round r = 0..R-1, or `exponential`, beta_r = p^r"""
    beta_decay: float = 0.5
    """the base p of the exponential schedule, in [0, 1]"""
    epochs_per_round: int = 4
    """passes over the whole aggregated dataset after each round"""
    student_batch_size: int = 256
    """minibatch size of the student's imitation updates"""
    student_lr: float = 3e-4
    """the learning rate of the student"""
    curriculum: bool = False
    """raise the training noise linearly from 0 (first round) to alpha (last round); evaluation stays at alpha"""

    # Evaluation, checkpoints
    eval_episodes: int = 5
    """episodes per evaluation, deterministic actions"""
    checkpoint_frequency: int = 100_000
    """stage 1: write stage1_checkpoint.pt every this many steps and at the end of stage 1 (0: only at the end)"""
    resume: Optional[str] = None
    """a stage1_checkpoint.pt (continues stage 1) or a stage-2 checkpoint.pt (continues with the next round)"""


def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def check_args(args: Args):
    """One-line errors for every flag that could otherwise fail deep inside gymnasium or torch."""
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        fail(f"--alpha must be a finite number >= 0, got {args.alpha}")
    for flag, value, choices in (("--noise", args.noise, NOISE_TYPES), ("--method", args.method, METHODS),
                                 ("--student-loss", args.student_loss, STUDENT_LOSSES),
                                 ("--beta-schedule", args.beta_schedule, BETA_SCHEDULES)):
        if value not in choices:
            fail(f"{flag} must be one of {', '.join(choices)}, got '{value}'")
    if not 0 <= args.beta_decay <= 1:
        fail(f"--beta-decay must be in [0, 1], got {args.beta_decay}")
    if args.checkpoint_frequency < 0:
        fail(f"--checkpoint-frequency must be >= 0, got {args.checkpoint_frequency}")
    for name in ("stage2_timesteps", "num_envs", "dagger_rounds", "epochs_per_round", "student_batch_size",
                 "eval_episodes", "buffer_size", "batch_size", "policy_frequency", "hidden_dim"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.stage2_timesteps < args.dagger_rounds * args.num_envs:
        fail(f"--stage2-timesteps ({args.stage2_timesteps}) must allow one step per env in each of the "
             f"--dagger-rounds ({args.dagger_rounds}) with --num-envs {args.num_envs}")
    if args.teacher_checkpoint is None and args.resume is None and args.teacher_timesteps <= args.learning_starts:
        fail(f"--teacher-timesteps ({args.teacher_timesteps}) must exceed --learning-starts ({args.learning_starts})")
    if args.learning_starts < args.batch_size:
        fail(f"--learning-starts ({args.learning_starts}) must be at least --batch-size ({args.batch_size})")
    try:
        gym.spec(args.env_id)
    except gym.error.Error as e:
        fail(f"--env-id: unknown environment '{args.env_id}' ({first_line(e)})")
    for flag, path in (("--teacher-checkpoint", args.teacher_checkpoint), ("--resume", args.resume)):
        if path is not None and not os.path.isfile(path):
            fail(f"{flag}: no file at '{path}'")
    if args.capture_video:
        try:
            import moviepy  # noqa: F401  (gymnasium's RecordVideo writes MP4 through it)
        except ImportError:
            fail("--capture-video needs moviepy (pip install -r requirements.txt)")


def make_env(env_id, alpha, noise, seed, capture_video=False, video_folder=None, name_prefix="rl-video"):
    """A thunk for gymnasium.vector: the env whose observation is {"state": s, "observation": o}."""

    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, video_folder, episode_trigger=lambda i: i == 0,
                                           name_prefix=name_prefix, disable_logger=True)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = NoisyObservation(env, alpha=alpha, noise=noise)  # s for the teacher, o = s + noise for the student
        env.action_space.seed(seed)
        return env

    return thunk


# ALGO LOGIC: networks, the same as l2t_sac_mujoco.py, so teachers load across the two scripts. Actions are
# normalised to [-1, 1] everywhere and rescaled to the env's bounds only when sent to the env.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """Tanh-Gaussian policy (CleanRL's SAC actor); the teacher reads s, the student o."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.fc_mean = nn.Linear(hidden, action_dim)
        self.fc_logstd = nn.Linear(hidden, action_dim)

    def forward(self, x):
        """Mean and log-std of the Gaussian BEFORE the tanh squashing."""
        h = self.trunk(x)
        log_std = torch.tanh(self.fc_logstd(h))
        return self.fc_mean(h), LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)

    def sample(self, x):
        """Reparameterised action a = tanh(mean + std * eps) in [-1, 1] and its log-probability."""
        mean, log_std = self(x)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_log_prob(u, mean, log_std)

    @torch.no_grad()
    def act(self, x):
        """The deterministic action tanh(mean): what the teacher labels and executes, and the student executes."""
        return torch.tanh(self(x)[0])


def squashed_log_prob(u, mean, log_std):
    """log-density of a = tanh(u), u ~ N(mean, std): the Gaussian's minus log(1 - tanh(u)^2), in a stable form."""
    log_prob = (-0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    return log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


class TwinQ(nn.Module):
    """The teacher's two critics as one batched network (weights (2, in, out)); stage 1 only."""

    def __init__(self, in_dim: int, hidden: int, n: int = 2):
        super().__init__()
        sizes = [in_dim, hidden, hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))
        self.n = n

    def forward(self, state, action, detach_params: bool = False):
        x = torch.cat([state, action], -1).expand(self.n, -1, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = F.relu(x)
        return x.squeeze(-1)


def to_env_action(action, low, high):
    """Map a normalised action in [-1, 1] to the env's bounds [low, high]."""
    return low + (action + 1.0) * 0.5 * (high - low)


def real_next_observation(next_obs, infos):
    """With SAME_STEP autoreset, an env whose episode ended returns the next episode's first observation;
    its transition must end in the real last observation, infos["final_obs"]."""
    real_next = {k: v.copy() for k, v in next_obs.items()}
    for i in np.flatnonzero(infos.get("_final_obs", ())):
        for k in real_next:
            real_next[k][i] = infos["final_obs"][i][k]
    return real_next


def log_episodes(writer, infos, global_step):
    if "final_info" in infos and "episode" in infos["final_info"]:
        for i in np.flatnonzero(infos["final_info"]["_episode"]):
            writer.add_scalar("charts/episodic_return", infos["final_info"]["episode"]["r"][i], global_step)
            writer.add_scalar("charts/episodic_length", infos["final_info"]["episode"]["l"][i], global_step)


def train_teacher(args, writer, device, run_dir, resume=None):
    """Stage 1: SAC on the clean state (CleanRL's SAC; the same update as l2t_sac_mujoco.py without a student).

    Writes stage1_checkpoint.pt (networks, optimisers, temperature, replay buffer, step, RNG states) every
    --checkpoint-frequency steps and at the end; `resume` (such a checkpoint) continues from its step with fresh
    episodes. Returns the teacher and the number of environment steps it cost."""
    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, 0.0, args.noise, args.seed)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    state_dim = envs.single_observation_space["state"].shape[0]
    action_dim = envs.single_action_space.shape[0]
    low, high = envs.single_action_space.low, envs.single_action_space.high
    teacher = Actor(state_dim, action_dim, args.hidden_dim).to(device)
    critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)
    target_critic = TwinQ(state_dim + action_dim, args.hidden_dim).to(device)
    target_critic.load_state_dict(critic.state_dict())
    q_optimizer = torch.optim.Adam(critic.parameters(), lr=args.q_lr, fused=True)
    actor_optimizer = torch.optim.Adam(teacher.parameters(), lr=args.policy_lr, fused=True)
    log_ent_coef = torch.zeros(1, device=device, requires_grad=True)  # temperature 1.0 at start, autotuned
    ent_optimizer = torch.optim.Adam([log_ent_coef], lr=args.q_lr, fused=True)
    target_entropy = -float(action_dim)
    # replay rows: (s, a, r, s', terminated); the teacher needs no noisy observation
    width = 2 * state_dim + action_dim + 2
    storage = torch.zeros(min(args.buffer_size, args.teacher_timesteps), width, device=device)
    size = pos = start = 0
    modules = {"teacher": teacher, "critic": critic, "target_critic": target_critic, "q_optimizer": q_optimizer,
               "actor_optimizer": actor_optimizer, "ent_optimizer": ent_optimizer}
    if resume is not None:
        try:
            for key, module in modules.items():
                module.load_state_dict(resume[key])
            size, pos, start = resume["size"], resume["pos"], resume["global_step"]
            storage[:size] = resume["storage"].to(device)
        except (KeyError, ValueError, RuntimeError) as e:
            fail(f"--resume: stage-1 checkpoint does not fit this run ({type(e).__name__}: {first_line(e)})")
        with torch.no_grad():
            log_ent_coef.copy_(resume["log_ent_coef"])
        torch.set_rng_state(resume["rng"]["torch"])
        np.random.set_state(resume["rng"]["numpy"])
        random.setstate(resume["rng"]["python"])

    def save_stage1(step):
        state = {key: module.state_dict() for key, module in modules.items()}
        state.update(format=STAGE1_FORMAT, args=asdict(args), global_step=step, log_ent_coef=log_ent_coef.detach().cpu(),
                     storage=storage[:size].cpu().clone(), size=size, pos=pos,
                     rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()})
        save_atomic(state, os.path.join(run_dir, "stage1_checkpoint.pt"))

    def stop_nonfinite(what, step):
        path = os.path.join(run_dir, f"nonfinite_stage1_step{step}.pt")
        save_atomic({"teacher": teacher.state_dict(), "critic": critic.state_dict(), "global_step": step}, path)
        fail(f"stage 1: non-finite {what} at step {step}; teacher and critic saved to {path}")

    obs, _ = envs.reset(seed=args.seed + start)
    start_time = time.time()
    for global_step in range(start + 1, args.teacher_timesteps + 1):
        if global_step <= args.learning_starts:
            action = np.random.uniform(-1.0, 1.0, size=(1, action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
                action = teacher.sample(state)[0].cpu().numpy()
        next_obs, reward, terminated, truncated, infos = envs.step(to_env_action(action, low, high))
        log_episodes(writer, infos, global_step)
        real_next = real_next_observation(next_obs, infos)
        row = np.concatenate([obs["state"], action, reward[:, None], real_next["state"], terminated[:, None]], 1)
        storage[pos] = torch.as_tensor(row[0], dtype=torch.float32, device=device)
        pos, size = (pos + 1) % len(storage), min(size + 1, len(storage))
        obs = next_obs

        if global_step > args.learning_starts:
            rows = storage[torch.randint(0, size, (args.batch_size,), device=device)]
            s, a, r = rows[:, :state_dim], rows[:, state_dim:state_dim + action_dim], rows[:, -state_dim - 2]
            s2, done = rows[:, -state_dim - 1:-1], rows[:, -1]
            ent_coef = log_ent_coef.exp().detach()
            with torch.no_grad():  # SAC's soft Bellman target; no bootstrap past a termination
                a2, logp2 = teacher.sample(s2)
                target_q = r + args.gamma * (1 - done) * (target_critic(s2, a2).min(0).values - ent_coef * logp2)
            q_loss = (critic(s, a) - target_q).pow(2).mean(1).sum()
            if not torch.isfinite(q_loss):  # checked before the step: the saved networks are still finite
                stop_nonfinite("critic loss", global_step)
            q_optimizer.zero_grad(set_to_none=True)
            q_loss.backward()
            q_optimizer.step()
            if global_step % args.policy_frequency == 0:
                for _ in range(args.policy_frequency):
                    a_pi, logp = teacher.sample(s)
                    actor_loss = (ent_coef * logp - critic(s, a_pi, detach_params=True).min(0).values).mean()
                    ent_loss = (-log_ent_coef.exp() * (logp.detach() + target_entropy)).mean()
                    if not torch.isfinite(actor_loss):
                        stop_nonfinite("actor loss", global_step)
                    actor_optimizer.zero_grad(set_to_none=True)
                    ent_optimizer.zero_grad(set_to_none=True)
                    (actor_loss + ent_loss).backward()
                    actor_optimizer.step()
                    ent_optimizer.step()
                    ent_coef = log_ent_coef.exp().detach()
            with torch.no_grad():
                for p_target, p in zip(target_critic.parameters(), critic.parameters()):
                    p_target.lerp_(p, args.tau)
            if global_step % 1000 == 0:
                writer.add_scalar("losses/teacher_qf_loss", q_loss.item(), global_step)
                writer.add_scalar("charts/SPS", (global_step - start) / (time.time() - start_time), global_step)
        if args.checkpoint_frequency > 0 and global_step % args.checkpoint_frequency == 0:
            save_stage1(global_step)
    save_stage1(args.teacher_timesteps)
    envs.close()
    return teacher, args.teacher_timesteps


def load_teacher(path, env_id, state_dim, action_dim, flag="--teacher-checkpoint"):
    """A teacher saved by l2t_sac_mujoco.py or by this script: (actor, steps it cost, hidden width).

    Refuses, in one line, a file that is not such a model or whose env or dimensions differ from this run's."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        fail(f"{flag}: cannot read '{path}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(saved, dict) or saved.get("format") != TEACHER_FORMAT:
        fail(f"{flag}: '{path}' is not a teacher saved by l2t_sac_mujoco.py or tsl_dagger_baseline.py")
    for key, value in (("env_id", env_id), ("state_dim", state_dim), ("action_dim", action_dim)):
        if saved[key] != value:
            fail(f"{flag}: '{path}' has {key}={saved[key]!r}, this run has {value!r}")
    teacher = Actor(state_dim, action_dim, saved["hidden_dim"])
    try:
        teacher.load_state_dict(saved["teacher"])
    except (KeyError, RuntimeError) as e:
        fail(f"{flag}: '{path}' holds no usable teacher ({type(e).__name__}: {first_line(e)})")
    return teacher, int(saved["global_step"]), saved["hidden_dim"]


def beta_schedule(kind: str, round_index: int, rounds: int, decay: float) -> float:
    """DAgger's probability that the TEACHER executes the action in round r = 0, 1, ... (Ross et al. 2011).

    linear: beta_r = max(0, (R - r) / R), from 1 in the first round down to 1/R in the last;
    exponential: beta_r = p^r, also 1 in the first round."""
    if kind == "linear":
        return max(0.0, (rounds - round_index) / rounds)
    return decay**round_index


class Dataset:
    """The aggregated stage-2 data: noisy observation o (student input), clean state s, the teacher's label
    a_t = teacher(s), and whether the teacher executed that step. Rows are only ever added (DAgger's D <- D u D_i)."""

    def __init__(self, capacity: int, state_dim: int, action_dim: int):
        self.obs = torch.zeros(capacity, state_dim)
        self.state = torch.zeros(capacity, state_dim)
        self.label = torch.zeros(capacity, action_dim)
        self.teacher_acted = torch.zeros(capacity, dtype=torch.bool)
        self.size = 0

    def add(self, obs, state, label, teacher_acted):
        n = len(obs)
        for name, value in (("obs", obs), ("state", state), ("label", label), ("teacher_acted", teacher_acted)):
            getattr(self, name)[self.size:self.size + n] = torch.as_tensor(value)
        self.size += n

    def state_dict(self):
        return {k: getattr(self, k)[: self.size].clone() for k in ("obs", "state", "label", "teacher_acted")}

    def load_state_dict(self, d):
        self.size = len(d["obs"])
        for k, v in d.items():
            getattr(self, k)[: self.size] = v


def imitation_loss(kind, student, obs, label):
    """The student's loss against the teacher's action a_t on the clean state (the label):
    l1 / l2: per-sample L1 norm / squared L2 norm between tanh(student mean on o) and a_t, as in l2t_sac_mujoco.py;
    nll: -log pi_s(a_t | o) under the student's tanh-Gaussian (the imitation library's BC loss)."""
    mean, log_std = student(obs)
    if kind == "l1":
        return (torch.tanh(mean) - label).abs().sum(-1).mean()
    if kind == "l2":
        return (torch.tanh(mean) - label).pow(2).sum(-1).mean()
    clipped = label.clamp(-1 + 1e-6, 1 - 1e-6)  # a deterministic label may sit at the bound, where atanh = inf
    return -squashed_log_prob(torch.atanh(clipped), mean, log_std).mean()


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


def save_atomic(obj, path):
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(args: Args):
    check_args(args)
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    rng = np.random.default_rng(args.seed)  # who executes each step (DAgger's beta coin)

    def round_alpha(r):  # the training noise of round r: linear from 0 to alpha with --curriculum
        return args.alpha * r / max(args.dagger_rounds - 1, 1) if args.curriculum else args.alpha

    # A stage-2 checkpoint to resume from (its round sets the noise the envs start with)
    ckpt, stage1_ckpt, first_round = None, None, 0
    if args.resume is not None:
        try:
            ckpt = torch.load(args.resume, map_location="cpu", weights_only=False)
        except Exception as e:
            fail(f"--resume: cannot read '{args.resume}' ({type(e).__name__}: {first_line(e)})")
        if isinstance(ckpt, dict) and ckpt.get("format") == STAGE1_FORMAT:  # an interrupted stage 1
            stage1_ckpt, ckpt = ckpt, None
            if stage1_ckpt["args"]["env_id"] != args.env_id:
                fail(f"--resume: checkpoint has env_id={stage1_ckpt['args']['env_id']!r}, this run has {args.env_id!r}")
            if stage1_ckpt["global_step"] >= args.teacher_timesteps:
                fail(f"--resume: stage 1 finished at step {stage1_ckpt['global_step']}; resume from the run's "
                     f"teacher with --teacher-checkpoint {os.path.join(os.path.dirname(args.resume), 'teacher.pt')}")
    if ckpt is not None:
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            fail(f"--resume: '{args.resume}' is not a {CHECKPOINT_FORMAT} or {STAGE1_FORMAT} checkpoint")
        for key in ("env_id", "method", "dagger_rounds", "stage2_timesteps", "num_envs", "student_loss", "curriculum"):
            if ckpt["args"][key] != getattr(args, key):
                fail(f"--resume: checkpoint has {key}={ckpt['args'][key]!r}, this run has {getattr(args, key)!r}")
        first_round = ckpt["round"]
        if first_round >= args.dagger_rounds:
            fail(f"--resume: '{args.resume}' has finished all {args.dagger_rounds} rounds")
    # Stage 2's envs, built first to learn the dimensions; a teacher must fit them
    try:
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id, round_alpha(first_round), args.noise, args.seed + 1 + i)
             for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    except Exception as e:
        fail(f"--env-id: cannot create '{args.env_id}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(envs.single_action_space, gym.spaces.Box):
        fail(f"--env-id: '{args.env_id}' has {envs.single_action_space}; only continuous (Box) actions are supported")
    state_dim = envs.single_observation_space["state"].shape[0]
    action_dim = envs.single_action_space.shape[0]
    low, high = envs.single_action_space.low, envs.single_action_space.high

    if args.resume is not None:
        run_dir = os.path.dirname(os.path.abspath(args.resume))
    else:
        run_name = f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.method}__{args.seed}__{int(time.time())}"
        run_dir = os.path.join(args.runs_dir, run_name)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "checkpoint.pt")
    # purge_step drops events a crashed run logged after its last checkpoint (not those at the checkpoint's step)
    resumed_step = (ckpt or stage1_ckpt or {}).get("global_step")
    writer = SummaryWriter(run_dir, purge_step=resumed_step + 1 if resumed_step is not None else None)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    # Stage 1: the teacher, and what it cost in environment steps (read or counted, never assumed)
    if ckpt is not None:
        teacher_file = os.path.join(run_dir, "teacher.pt")
        teacher, teacher_steps, hidden = load_teacher(teacher_file, args.env_id, state_dim, action_dim, "--resume")
    elif args.teacher_checkpoint is not None and stage1_ckpt is None:
        teacher, teacher_steps, hidden = load_teacher(args.teacher_checkpoint, args.env_id, state_dim, action_dim)
    else:
        teacher, teacher_steps = train_teacher(args, writer, device, run_dir, resume=stage1_ckpt)
        hidden = args.hidden_dim
    teacher = teacher.to(device)
    teacher.requires_grad_(False)
    if ckpt is None:  # this run's teacher, in l2t_sac_mujoco.py's model format, for resuming and for reuse
        save_atomic({"format": TEACHER_FORMAT, "env_id": args.env_id, "state_dim": state_dim,
                     "action_dim": action_dim, "hidden_dim": hidden, "global_step": teacher_steps,
                     "teacher": teacher.state_dict()}, os.path.join(run_dir, "teacher.pt"))

    seed_eval = args.seed + 10_000  # the same evaluation episodes every round
    video = os.path.join(run_dir, "videos")
    if ckpt is None:
        fns = [make_env(args.env_id, 0.0, args.noise, seed_eval + i) for i in range(args.eval_episodes)]
        ret, length = evaluate(teacher, "state", fns, seed_eval, device)
        writer.add_scalar("eval/teacher_return", ret.mean(), teacher_steps)  # once: the teacher does not change
        writer.add_scalar("eval/teacher_length", length.mean(), teacher_steps)
        print(f"teacher: {teacher_steps} environment steps, eval/teacher_return={ret.mean():.1f}", flush=True)

    # Stage 2: the student from scratch, on the noisy observation
    student = Actor(state_dim, action_dim, hidden).to(device)  # the teacher's architecture, on o
    optimizer = torch.optim.Adam(student.parameters(), lr=args.student_lr, fused=True)
    steps_per_round = args.stage2_timesteps // args.dagger_rounds // args.num_envs  # vector steps
    dataset = Dataset(steps_per_round * args.num_envs * args.dagger_rounds, state_dim, action_dim)
    global_step = teacher_steps
    if ckpt is not None:
        student.load_state_dict(ckpt["student"])
        optimizer.load_state_dict(ckpt["optimizer"])
        dataset.load_state_dict(ckpt["dataset"])
        global_step = ckpt["global_step"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])
        rng.bit_generator.state = ckpt["rng"]["beta_coin"]
        print(f"resumed from {args.resume} at round {first_round}, global_step={global_step}")

    obs, _ = envs.reset(seed=args.seed + 1 + first_round)
    for round_index in range(first_round, args.dagger_rounds):
        # DAgger: pi_r = beta_r * teacher + (1 - beta_r) * student, per env and per step; BC: the teacher always
        beta = 1.0 if args.method == "bc" else beta_schedule(args.beta_schedule, round_index, args.dagger_rounds,
                                                             args.beta_decay)
        train_alpha = round_alpha(round_index)
        for step in range(steps_per_round):
            if step == steps_per_round - 1 and round_index + 1 < args.dagger_rounds:
                # the observation this last step returns is the next round's first: draw it at the next alpha,
                # so that every observation of round r has round r's noise (in every sub-env, or this raises)
                set_noise_alpha(envs, round_alpha(round_index + 1))
            state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
            observation = torch.as_tensor(obs["observation"], dtype=torch.float32, device=device)
            label = teacher.act(state)  # the teacher labels every visited state, from the CLEAN state
            teacher_acts = rng.random(args.num_envs) < beta
            action = label
            if not teacher_acts.all():  # the student's forward pass only when some env executes its action
                action = torch.where(torch.as_tensor(teacher_acts, device=device)[:, None], label,
                                     student.act(observation))
            dataset.add(observation.cpu(), state.cpu(), label.cpu(), teacher_acts)  # D <- D u D_r
            obs, _, _, _, infos = envs.step(to_env_action(action.cpu().numpy(), low, high))
            global_step += args.num_envs
            log_episodes(writer, infos, global_step)

        # retrain the student on the WHOLE aggregated dataset (continuing from its current weights)
        for _ in range(args.epochs_per_round):
            for idx in torch.randperm(dataset.size).split(args.student_batch_size):
                loss = imitation_loss(args.student_loss, student, dataset.obs[idx].to(device),
                                      dataset.label[idx].to(device))
                if not torch.isfinite(loss):
                    path = os.path.join(run_dir, f"nonfinite_round{round_index}.pt")
                    save_atomic({"student": student.state_dict(), "round": round_index}, path)
                    fail(f"non-finite student loss in round {round_index}; student saved to {path}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        fns = [make_env(args.env_id, args.alpha, args.noise, seed_eval + i, args.capture_video and i == 0, video,
                        f"student-round{round_index}") for i in range(args.eval_episodes)]
        ret, length = evaluate(student, "observation", fns, seed_eval, device)  # always at the target alpha
        stage2 = global_step - teacher_steps
        writer.add_scalar("eval/student_return", ret.mean(), global_step)
        writer.add_scalar("eval/student_length", length.mean(), global_step)
        writer.add_scalar("charts/stage2_samples", stage2, global_step)
        writer.add_scalar("charts/dataset_size", dataset.size, global_step)
        writer.add_scalar("charts/beta", beta, global_step)
        writer.add_scalar("charts/noise_alpha", train_alpha, global_step)
        writer.add_scalar("charts/teacher_action_fraction",
                          dataset.teacher_acted[dataset.size - steps_per_round * args.num_envs:dataset.size]
                          .float().mean().item(), global_step)
        writer.add_scalar("losses/student_loss", loss.item(), global_step)
        print(f"round {round_index}: beta={beta:.3f}, global_step={global_step} (stage 2: {stage2}), "
              f"eval/student_return={ret.mean():.1f}", flush=True)
        save_atomic({"format": CHECKPOINT_FORMAT, "args": asdict(args), "round": round_index + 1,
                     "global_step": global_step, "teacher_steps": teacher_steps, "student": student.state_dict(),
                     "optimizer": optimizer.state_dict(), "dataset": dataset.state_dict(),
                     "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate(), "beta_coin": rng.bit_generator.state}}, ckpt_path)

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.cleanrl_model")
        save_atomic({"format": TEACHER_FORMAT, "env_id": args.env_id, "state_dim": state_dim,
                     "action_dim": action_dim, "hidden_dim": hidden, "global_step": global_step,
                     "teacher": teacher.state_dict(), "student": student.state_dict()}, model_path)
        print(f"model saved to {model_path}")
    envs.close()
    writer.close()
    return run_dir


if __name__ == "__main__":
    main(tyro.cli(Args))
