# The conventional two-stage teacher-student baseline (TSL) that L2T is compared with: stage 1 trains (or loads)
# a SAC teacher on the clean state s; stage 2 trains a student from scratch on the noisy observation o, by
# behaviour cloning (BC: the teacher acts) or DAgger (the student increasingly acts, the teacher labels).
# Read next to paper 1 (../shared/papers/l2t_rl_irl_mujoco_cassie.txt), section 4.1.2 and Fig. 2 (bottom row),
# and paper 2 section V-A. Every environment step of BOTH stages is counted in `global_step`, so the student's
# curve here sits on the same axis as the L2T student of l2t_sac_mujoco.py, whose student costs no samples.
# On Digit (`--env-id l2t/Digit-v1`, paper 2 section V-A) the teacher is a PPO teacher saved by l2t_ppo_digit.py and
# the student that script's LSTM student, trained by DAgger on fixed-length sequences: see `main_digit`.
import dataclasses
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

from envs import checkpoint as checkpoint_file
from envs.noise import NOISE_TYPES, NoisyObservation, set_noise_alpha

METHODS = ("bc", "dagger")
BETA_SCHEDULES = ("linear", "exponential")
STUDENT_LOSSES = ("l1", "l2", "nll")
TEACHER_FORMAT = "l2t_sac_mujoco/1"  # teachers saved by l2t_sac_mujoco.py and by this script's stage 1
CHECKPOINT_FORMAT = "tsl_dagger_baseline/1"
STAGE1_FORMAT = "tsl_dagger_baseline/stage1"
DIGIT_ENV_ID = "l2t/Digit-v1"
DIGIT_TEACHER_FORMAT = "l2t_ppo_digit/2"  # checkpoints (and --save-model files) of l2t_ppo_digit.py
DIGIT_MODEL_FORMAT = "tsl_dagger_baseline/digit-model"  # this script's --save-model on Digit


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
    """number of torch CPU threads; 0 keeps torch's default (on Digit: 1, as l2t_ppo_digit.py). Runs repeat exactly
    only at a fixed count"""
    capture_video: bool = False
    """record one student evaluation episode per round to `runs/{run_name}/videos` (needs moviepy; headless: MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final student and its teacher to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise: the same wrapper and alpha semantics as l2t_sac_mujoco.py
    env_id: str = "HalfCheetah-v4"
    """the id of a Gymnasium environment with Box observations and actions, or `l2t/Digit-v1` (needs a teacher of
    l2t_ppo_digit.py)"""
    alpha: Optional[float] = None
    """noise scale alpha >= 0 of the student's observation (default: 0.4; on Digit 0.1, as l2t_ppo_digit.py)"""
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
    student_loss: Optional[str] = None
    """`l1` or `l2` between the student's and the teacher's mean actions, or `nll` (-log pi_s(teacher action | o));
    default `l1`, on Digit `l2` (= paper 2's Eq. 3, l2t_ppo_digit.py's `il`)"""
    stage2_timesteps: int = 1_000_000
    """environment steps of stage 2, split evenly over the rounds"""
    num_envs: int = 4
    """parallel environments of stage 2 (stage 1 uses one, as CleanRL's SAC; l2t_ppo_digit.py's default is 16)"""
    dagger_rounds: int = 15
    """rounds of stage 2: collect, aggregate, retrain, evaluate (also for `bc`)"""
    beta_schedule: str = "linear"
    """dagger: `linear`, beta_r = (R - r) / R for round r = 0..R-1, or `exponential`, beta_r = p^r"""
    beta_decay: float = 0.5
    """the base p of the exponential schedule, in [0, 1]"""
    epochs_per_round: int = 4
    """passes over the whole aggregated dataset after each round"""
    student_batch_size: int = 256
    """minibatch size of the student's imitation updates, in steps (Digit: rounded down to whole sequences of
    --seq-len, at least one sequence)"""
    student_lr: float = 3e-4
    """the learning rate of the student"""
    curriculum: bool = False
    """raise the training noise linearly from 0 (first round) to alpha (last round); evaluation stays at alpha"""

    # Digit only (--env-id l2t/Digit-v1): the env as in l2t_ppo_digit.py, the student's sequences
    terrain: str = "rough"
    """Digit: `rough` (the terrain grid with its curriculum, the paper's task) or `flat` (a floor plane, cheaper)"""
    max_episode_steps: int = 1000
    """Digit: episode length in policy steps of 20 ms (1000 = the paper's 20 s); a time-out is a truncation"""
    num_workers: int = 2
    """Digit: worker processes that step the envs (0: all in this process); must divide --num-envs"""
    seq_len: int = 24
    """Digit: length of the stored sequences = the student's truncated-BPTT length (l2t_ppo_digit.py's rollout: 24);
    each round's steps per env are rounded down to a multiple of it"""
    dataset_capacity: int = 240_000
    """Digit: bound of the aggregated dataset in steps (whole sequences); when full, reservoir sampling keeps a
    uniform sample of every sequence collected so far (about 0.5 kB per step)"""

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


def resolve_defaults(args: Args) -> Args:
    """Fill in the env-dependent defaults (None on the command line): --alpha and --student-loss."""
    digit = args.env_id == DIGIT_ENV_ID
    alpha = (0.1 if digit else 0.4) if args.alpha is None else args.alpha
    student_loss = ("l2" if digit else "l1") if args.student_loss is None else args.student_loss
    return dataclasses.replace(args, alpha=alpha, student_loss=student_loss)


def digit_steps_per_round(args: Args) -> int:
    """Digit: steps per env in one round, rounded down to whole sequences of --seq-len."""
    return args.stage2_timesteps // args.dagger_rounds // args.num_envs // args.seq_len * args.seq_len


def check_digit_args(args: Args):
    """The flags only Digit uses, and what Digit does not support."""
    if args.teacher_checkpoint is None and args.resume is None:
        fail(f"--teacher-checkpoint is required with --env-id {DIGIT_ENV_ID}: this script trains no teacher on Digit "
             "(stage 1 is a PPO teacher of l2t_ppo_digit.py, e.g. `python l2t_ppo_digit.py --student-loss none "
             "--alpha-mix 0`, whose runs/<run>/checkpoint.pt is the teacher checkpoint)")
    if args.terrain not in ("rough", "flat"):
        fail(f"--terrain must be rough or flat, got '{args.terrain}'")
    for name in ("max_episode_steps", "seq_len", "dataset_capacity"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.num_workers < 0:
        fail(f"--num-workers must be >= 0, got {args.num_workers}")
    if args.num_workers > 0 and args.num_envs % args.num_workers != 0:
        fail(f"--num-envs ({args.num_envs}) must be a multiple of --num-workers ({args.num_workers})")
    if args.dataset_capacity < args.seq_len:
        fail(f"--dataset-capacity ({args.dataset_capacity}) must hold at least one sequence of --seq-len "
             f"({args.seq_len}) steps")
    if args.capture_video:
        fail(f"--capture-video is not supported with --env-id {DIGIT_ENV_ID} "
             "(benchmarks/render_digit.py renders Digit)")
    if digit_steps_per_round(args) < 1:
        fail(f"--stage2-timesteps ({args.stage2_timesteps}) must allow one sequence of --seq-len ({args.seq_len}) "
             f"steps per env in each of the --dagger-rounds ({args.dagger_rounds}) with --num-envs {args.num_envs}")


DIGIT_ONLY_FLAGS = ("terrain", "max_episode_steps", "num_workers", "seq_len", "dataset_capacity")


def check_args(args: Args):
    """One-line errors for every flag that could otherwise fail deep inside gymnasium or torch."""
    for field in dataclasses.fields(args):  # every real-valued flag: nan and inf are never meant
        value = getattr(args, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"--{field.name.replace('_', '-')} must be a finite number, got {value}")
    if args.env_id != DIGIT_ENV_ID:
        for field in dataclasses.fields(args):
            if field.name in DIGIT_ONLY_FLAGS and getattr(args, field.name) != field.default:
                fail(f"--{field.name.replace('_', '-')} applies to --env-id {DIGIT_ENV_ID} only, not {args.env_id}")
    for name in ("policy_lr", "q_lr", "student_lr"):
        if not getattr(args, name) > 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not (0 < args.gamma <= 1 and 0 < args.tau <= 1):
        fail(f"--gamma and --tau must be in (0, 1], got {args.gamma} and {args.tau}")
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
    if args.env_id == DIGIT_ENV_ID:
        check_digit_args(args)
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
        checkpoint_file.save(state, os.path.join(run_dir, "stage1_checkpoint.pt"))

    def stop_nonfinite(what, step):
        path = os.path.join(run_dir, f"nonfinite_stage1_step{step}.pt")
        checkpoint_file.save({"teacher": teacher.state_dict(), "critic": critic.state_dict(), "global_step": step}, path)
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


def read_teacher(path, env_id, flag="--teacher-checkpoint"):
    """The dict of a teacher file saved by l2t_sac_mujoco.py or by this script, read before any work.

    Refuses, in one line, a file that is unreadable, corrupted, not such a model, or for another env."""
    try:
        saved = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"{flag}: {e}")
    if saved.get("format") == DIGIT_TEACHER_FORMAT:
        fail(f"{flag}: '{path}' is a teacher of l2t_ppo_digit.py, which needs --env-id {DIGIT_ENV_ID}")
    if saved.get("format") != TEACHER_FORMAT:
        fail(f"{flag}: '{path}' is not a teacher saved by l2t_sac_mujoco.py or tsl_dagger_baseline.py")
    if saved["env_id"] != env_id:
        fail(f"{flag}: '{path}' has env_id={saved['env_id']!r}, this run has {env_id!r}")
    return saved


def load_teacher(saved, path, state_dim, action_dim, flag="--teacher-checkpoint"):
    """The teacher of a file read by `read_teacher`: (actor, steps it cost, hidden width); its sizes must fit the
    env's (one-line error otherwise)."""
    for key, value in (("state_dim", state_dim), ("action_dim", action_dim)):
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


def restore_stage2(ckpt, student, optimizer, dataset, rng, args, first_round):
    """Load a stage-2 checkpoint's student, optimiser, dataset and RNG states; returns its global step."""
    student.load_state_dict(ckpt["student"])
    optimizer.load_state_dict(ckpt["optimizer"])
    dataset.load_state_dict(ckpt["dataset"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    np.random.set_state(ckpt["rng"]["numpy"])
    random.setstate(ckpt["rng"]["python"])
    rng.bit_generator.state = ckpt["rng"]["beta_coin"]
    print(f"resumed from {args.resume} at round {first_round}, global_step={ckpt['global_step']}")
    return ckpt["global_step"]


# ---------------------------------------------------------------------------------------------------------------------
# Digit (paper 2): the PPO teacher of l2t_ppo_digit.py and its LSTM student, trained here by DAgger on sequences.
# `mlp`, `EmpiricalNormalization`, `Teacher` and `Student` below MATCH l2t_ppo_digit.py's (same names, parameters,
# buffers and computations; copied, since scripts never import each other), so that its checkpoints load with
# strict state_dict loading and the student here is the L2T student's architecture. Keep them in step with it.
DIGIT_ACTION_DIM = 20
DIGIT_HIDDEN_SIZES = (512, 256, 128)  # Fig. 2: teacher MLP, student MLP after the LSTM
STUDENT_MAX_GRAD_NORM = 1.0  # the gradient-norm clip of the Digit student (l2t_ppo_digit.py's --max-grad-norm)


def mlp(in_dim: int, out_dim: int, hidden=DIGIT_HIDDEN_SIZES) -> nn.Sequential:  # = l2t_ppo_digit.mlp
    layers, last = [], in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), nn.ELU()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class EmpiricalNormalization(nn.Module):
    """= l2t_ppo_digit.EmpiricalNormalization: running mean and variance, y = (x - mean) / (std + eps); `update(x)`
    merges a batch (Chan et al.), `forward` only normalises; disabled, it is the identity (mean 0, std 1, eps 0)."""

    def __init__(self, dim: int, enabled: bool = True, eps: float = 1e-2):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("eps", torch.tensor(eps if enabled else 0.0))
        self.register_buffer("keep", torch.ones(dim))  # the inputs the network sees (the checkpoint's mask is loaded)

    @torch.no_grad()
    def update(self, x: torch.Tensor):
        if not self.enabled:
            return
        n = x.shape[0]
        batch_mean, batch_var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        rate = float(n / total)
        delta = batch_mean - self.mean
        self.mean += rate * delta
        self.var += rate * (batch_var - self.var + delta * (batch_mean - self.mean))
        self.count.copy_(total)

    def forward(self, x):
        return (x - self.mean) / (self.var.sqrt() + self.eps) * self.keep


class Teacher(nn.Module):
    """= l2t_ppo_digit.Teacher: Gaussian, MLP [512, 256, 128] ELU mean on the privileged state, state-independent
    std."""

    def __init__(self, in_dim: int, action_dim: int, init_std: float = 1.0):
        super().__init__()
        self.actor = mlp(in_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def forward(self, state):
        mean = self.actor(state)
        return mean, self.log_std.expand_as(mean)


class Student(nn.Module):
    """= l2t_ppo_digit.Student: LSTMCell(94 -> hidden), then an MLP [512, 256, 128] ELU to the mean action, and a
    state-independent `log_std` (used by `nll` only). Hidden state (h, c), each (batch, hidden), zero at an
    episode's start."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int, init_std: float = 1.0):
        super().__init__()
        self.lstm = nn.LSTMCell(in_dim, hidden)
        self.head = mlp(hidden, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def initial_hidden(self, batch: int, device=None):
        zeros = torch.zeros(batch, self.lstm.hidden_size, device=device)
        return zeros, zeros.clone()

    def step(self, obs, hidden):
        """One time step: obs (batch, 94) normalised -> (mean (batch, 20), new hidden)."""
        hidden = self.lstm(obs, hidden)
        return self.head(hidden[0]), hidden

    def sequence(self, obs, hidden, dones):
        """obs (T, batch, 94), hidden at the first step, dones (T, batch) -> means (T, batch, 20): step by step, the
        hidden state of an env whose episode ended at t is zeroed after t; gradients flow through the whole
        sequence (truncated BPTT over T), not into the given initial state."""
        outs = []
        for t in range(obs.shape[0]):
            hidden = self.lstm(obs[t], hidden)
            outs.append(hidden[0])
            keep = (1.0 - dones[t]).unsqueeze(-1)
            hidden = (hidden[0] * keep, hidden[1] * keep)
        return self.head(torch.stack(outs))


class DigitTeacher(nn.Module):
    """The teacher's part of l2t_ppo_digit.L2TNets: `teacher` and `state_norm` (the same attribute names, so the
    checkpoint's "teacher.*" and "state_norm.*" entries load strictly). Frozen: the normaliser is not updated here."""

    def __init__(self, obs_dim: int, obs_normalization: bool):
        super().__init__()
        self.teacher = Teacher(obs_dim, DIGIT_ACTION_DIM)
        self.state_norm = EmpiricalNormalization(obs_dim, obs_normalization)

    @torch.no_grad()
    def act(self, state):
        """The deterministic action: the teacher's MEAN on the clean state (the label; executed clipped to [-1, 1])."""
        return self.teacher(self.state_norm(state))[0]


class DigitStudent(nn.Module):
    """The student's part of l2t_ppo_digit.L2TNets: `student` and its own `obs_norm` (fitted here, from scratch, on the
    stage-2 observations as l2t_ppo_digit.py fits its own: updated with every collected step)."""

    def __init__(self, student_dim: int, lstm_hidden: int, obs_normalization: bool):
        super().__init__()
        self.student = Student(student_dim, DIGIT_ACTION_DIM, lstm_hidden)
        self.obs_norm = EmpiricalNormalization(student_dim, obs_normalization)


def load_digit_teacher(path, flag="--teacher-checkpoint"):
    """A teacher saved by l2t_ppo_digit.py (checkpoint.pt or .cleanrl_model): (DigitTeacher, the file's dict).

    Refuses, in one line, a file that is not such a checkpoint, has other dimensions, or does not load strictly."""
    from envs.digit.env import OBS_DIM, STUDENT_DIM  # imported here: the MuJoCo path never loads the Digit model

    try:
        saved = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"{flag}: {e}")
    if not isinstance(saved, dict) or saved.get("format") != DIGIT_TEACHER_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        fail(f"{flag}: '{path}' is not a checkpoint of l2t_ppo_digit.py (format {found!r}, expected "
             f"{DIGIT_TEACHER_FORMAT!r}), which --env-id {DIGIT_ENV_ID} needs")
    for key, value in (("obs_dim", OBS_DIM), ("student_dim", STUDENT_DIM), ("action_dim", DIGIT_ACTION_DIM)):
        if saved.get(key) != value:
            fail(f"{flag}: '{path}' has {key}={saved.get(key)!r}, this env has {value!r}")
    try:
        teacher = DigitTeacher(OBS_DIM, bool(saved["obs_normalization"]))
        nets = saved["nets"]
        teacher.load_state_dict({k: v for k, v in nets.items() if k.startswith(("teacher.", "state_norm."))})  # strict
        int(saved["global_step"]), int(saved["lstm_hidden"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        detail = " ".join(str(e).split())  # strict loading lists the missing / unexpected keys over several lines
        fail(f"{flag}: '{path}' does not fit l2t_ppo_digit.py's teacher ({type(e).__name__}: "
             f"{detail[:300] + ' ...' if len(detail) > 300 else detail})")
    return teacher, saved


def make_digit_envs(num_envs, num_workers, seed, alpha, noise, env_kwargs):
    """The vectorised Digit env, as l2t_ppo_digit.py builds it (SAME_STEP autoreset; obs = {"state": s,
    "observation": o}, both (N, OBS_DIM); the student reads o[:, :94])."""
    from envs.digit.vector import DigitVectorEnv  # imported here so that a test can stand in a spy

    return DigitVectorEnv(num_envs=num_envs, num_workers=num_workers, seed=seed, alpha=alpha, noise=noise,
                          env_kwargs=env_kwargs)


class SequenceDataset:
    """The aggregated stage-2 data on Digit, as fixed-length sequences of `seq_len` steps of one env.

    Per sequence: the raw noisy observations o[:94] (normalised when trained on, with the student's current
    normaliser), the teacher's labels (its mean action on the clean state), the done flags (1 where an episode ended
    at that step: the student's hidden state is zeroed after it), who executed each step, and the student's hidden
    state (h, c) BEFORE the first step, as the collecting student computed it (the LSTM advances on every step,
    whoever acts). Hidden states of older sequences are those of older students (stale, as in recurrent replay;
    no burn-in).
    Bounded: at most `capacity` sequences (--dataset-capacity // --seq-len). DAgger aggregates D <- D u D_r; when full,
    reservoir sampling (Vitter's algorithm R, per sequence) keeps a uniform random sample of ALL sequences collected
    so far, so early rounds stay represented as in the unbounded aggregate (FIFO would drop them first).
    """

    def __init__(self, capacity: int, seq_len: int, obs_dim: int, action_dim: int, hidden: int, seed: int):
        self.capacity, self.seq_len = capacity, seq_len
        self.obs = torch.zeros(capacity, seq_len, obs_dim)
        self.label = torch.zeros(capacity, seq_len, action_dim)
        self.done = torch.zeros(capacity, seq_len)
        self.teacher_acted = torch.zeros(capacity, seq_len, dtype=torch.bool)
        self.h0 = torch.zeros(capacity, hidden)
        self.c0 = torch.zeros(capacity, hidden)
        self.size = 0  # sequences stored
        self.seen = 0  # sequences ever offered
        self.rng = np.random.default_rng([seed, 2011])  # the reservoir's draws (saved with the data)

    def add(self, obs, label, done, teacher_acted, h0, c0):
        """One round: obs (T, N, 94), label (T, N, 20), done and teacher_acted (T, N), h0 / c0 (T / seq_len, N, H) the
        hidden states at the starts of the segments; T a multiple of seq_len. Segment k of env i is one sequence."""
        L = self.seq_len
        for k in range(obs.shape[0] // L):
            for i in range(obs.shape[1]):
                if self.size < self.capacity:
                    slot = self.size
                    self.size += 1
                else:
                    slot = int(self.rng.integers(0, self.seen + 1))
                self.seen += 1
                if slot >= self.capacity:
                    continue
                steps = slice(k * L, (k + 1) * L)
                self.obs[slot], self.label[slot] = obs[steps, i], label[steps, i]
                self.done[slot], self.teacher_acted[slot] = done[steps, i], teacher_acted[steps, i]
                self.h0[slot], self.c0[slot] = h0[k, i], c0[k, i]

    def batch(self, idx, device):
        """Sequences idx, time-major: obs (T, B, 94), label (T, B, 20), done (T, B), hidden ((B, H), (B, H))."""
        return (self.obs[idx].transpose(0, 1).to(device), self.label[idx].transpose(0, 1).to(device),
                self.done[idx].transpose(0, 1).to(device), (self.h0[idx].to(device), self.c0[idx].to(device)))

    def state_dict(self):
        d = {k: getattr(self, k)[: self.size].clone() for k in ("obs", "label", "done", "teacher_acted", "h0", "c0")}
        d.update(seen=self.seen, rng=self.rng.bit_generator.state)
        return d

    def load_state_dict(self, d):
        self.size, self.seen = len(d["obs"]), d["seen"]
        for k in ("obs", "label", "done", "teacher_acted", "h0", "c0"):
            getattr(self, k)[: self.size] = d[k]
        self.rng.bit_generator.state = d["rng"]


def digit_imitation_loss(kind, mean_s, log_std_s, label):
    """Per-step loss of the Digit student against the teacher's mean action (the label), averaged over the steps:
    l2: squared L2 norm of mean_s - label over the 20 dimensions (paper 2's Eq. 3, l2t_ppo_digit.py's `il`);
    l1: the L1 norm; nll: -log N(label; mean_s, exp(log_std_s)) with the student's state-independent std.
    Means are compared unclipped, as in l2t_ppo_digit.py (both execute them clipped to [-1, 1])."""
    if kind == "l2":
        return (mean_s - label).pow(2).sum(-1).mean()
    if kind == "l1":
        return (mean_s - label).abs().sum(-1).mean()
    log_std = log_std_s.expand_as(mean_s)
    return (0.5 * ((label - mean_s) / log_std.exp()).pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1).mean()


@torch.no_grad()
def digit_dataset_loss(kind, nets, dataset, batch_seqs, device):
    """The student's loss over the whole aggregated dataset (every sequence from its stored hidden state)."""
    total = 0.0
    for idx in torch.arange(dataset.size).split(batch_seqs):
        obs, label, done, hidden = dataset.batch(idx, device)
        mean = nets.student.sequence(nets.obs_norm(obs), hidden, done)
        total += digit_imitation_loss(kind, mean, nets.student.log_std, label).item() * len(idx)
    return total / max(dataset.size, 1)


@torch.no_grad()
def evaluate_digit(envs, teacher, nets, who, seed, device):
    """One episode in each env with deterministic (mean) actions, clipped to [-1, 1]: the teacher on the clean state
    s, the student ALONE on the noisy observation o (its LSTM from a zero state). As l2t_ppo_digit.evaluate; returns
    arrays over the episodes: return, length, success, distance."""
    from envs.digit.env import STUDENT_DIM

    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    done = np.zeros(n, dtype=bool)
    out = {k: np.zeros(n) for k in ("return", "length", "success", "distance")}
    hidden = nets.student.initial_hidden(n, device)
    while not done.all():
        if who == "teacher":
            action = teacher.act(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))
        else:
            o = torch.as_tensor(obs["observation"][:, :STUDENT_DIM], dtype=torch.float32, device=device)
            action, hidden = nets.student.step(nets.obs_norm(o), hidden)
        if not torch.isfinite(action).all():  # the env refuses it anyway; the caller turns this into one line
            raise FloatingPointError(f"non-finite {who} action")
        obs, _, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0).cpu().numpy())
        ended = np.logical_or(terminated, truncated) & ~done
        for i in np.flatnonzero(ended):
            ep = infos["episode"]
            out["return"][i], out["length"][i] = ep["r"][i], ep["l"][i]
            out["success"][i], out["distance"][i] = ep["success"][i], ep["distance_walked"][i]
        done |= ended
    return out


def log_digit_episodes(writer, infos, global_step):
    """Training episodes that ended at this step (DigitVectorEnv: infos["episode"], a dict of arrays, and
    infos["_episode"])."""
    if "episode" in infos:
        ep = infos["episode"]
        for i in np.flatnonzero(infos["_episode"]):
            writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
            writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)
            writer.add_scalar("charts/terrain_level", ep["terrain_level"][i], global_step)
            writer.add_scalar("charts/success_rate", ep["success"][i], global_step)


def main(args: Args):
    args = resolve_defaults(args)
    check_args(args)
    if args.env_id == DIGIT_ENV_ID:
        return main_digit(args)
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
            ckpt = checkpoint_file.load(args.resume)
        except checkpoint_file.CheckpointError as e:
            fail(f"--resume: {e}")
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
    teacher_file = None  # a given teacher, read before any work (its sizes are checked against the envs below)
    if ckpt is None and stage1_ckpt is None and args.teacher_checkpoint is not None:
        teacher_file = read_teacher(args.teacher_checkpoint, args.env_id)
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
    for name in ("checkpoint.pt", "stage1_checkpoint.pt", "teacher.pt"):
        checkpoint_file.remove_stale_temps(os.path.join(run_dir, name))  # left by a run killed while writing
    if resumed_step is None:  # once per run: a resumed run keeps the text of its start
        writer.add_text("hyperparameters",
                        "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))

    # Stage 1: the teacher, and what it cost in environment steps (read or counted, never assumed)
    if ckpt is not None:
        path = os.path.join(run_dir, "teacher.pt")
        saved = read_teacher(path, args.env_id, "--resume")
        teacher, teacher_steps, hidden = load_teacher(saved, path, state_dim, action_dim, "--resume")
    elif teacher_file is not None:
        teacher, teacher_steps, hidden = load_teacher(teacher_file, args.teacher_checkpoint, state_dim, action_dim)
    else:
        teacher, teacher_steps = train_teacher(args, writer, device, run_dir, resume=stage1_ckpt)
        hidden = args.hidden_dim
    teacher = teacher.to(device)
    teacher.requires_grad_(False)
    if ckpt is None:  # this run's teacher, in l2t_sac_mujoco.py's model format, for resuming and for reuse
        checkpoint_file.save({"format": TEACHER_FORMAT, "env_id": args.env_id, "state_dim": state_dim,
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
    global_step = teacher_steps if ckpt is None else restore_stage2(ckpt, student, optimizer, dataset, rng, args,
                                                                   first_round)

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
                    checkpoint_file.save({"student": student.state_dict(), "round": round_index}, path)
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
        checkpoint_file.save({"format": CHECKPOINT_FORMAT, "args": asdict(args), "round": round_index + 1,
                     "global_step": global_step, "teacher_steps": teacher_steps, "student": student.state_dict(),
                     "optimizer": optimizer.state_dict(), "dataset": dataset.state_dict(),
                     "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate(), "beta_coin": rng.bit_generator.state}}, ckpt_path)

    if args.save_model:
        model_path = os.path.join(run_dir, f"{args.exp_name}.cleanrl_model")
        checkpoint_file.save({"format": TEACHER_FORMAT, "env_id": args.env_id, "state_dim": state_dim,
                     "action_dim": action_dim, "hidden_dim": hidden, "global_step": global_step,
                     "teacher": teacher.state_dict(), "student": student.state_dict()}, model_path)
        print(f"model saved to {model_path}")
    envs.close()
    writer.close()
    return run_dir


def main_digit(args: Args):
    """Stage 2 on Digit: DAgger with l2t_ppo_digit.py's LSTM student, after a teacher saved by l2t_ppo_digit.py.

    No stage 1 here: the teacher, its state normaliser and the environment steps it cost (its `global_step`) come
    from the checkpoint, so `global_step` continues from there. Round r: every env steps `digit_steps_per_round`
    times; in each step and each env the teacher's action is executed with probability beta_r, else the student's
    (both deterministic means, clipped to [-1, 1]); the student's LSTM advances on every step, whoever acts. The
    teacher labels every step with its mean action on the clean state; the round's data, cut into per-env sequences
    of --seq-len steps (with the hidden state at their start and the done flags), joins the bounded aggregate; the
    student then trains on the whole aggregate for --epochs-per-round epochs of minibatches of whole sequences
    (truncated BPTT over --seq-len steps), and is evaluated alone on the noisy observation at alpha."""
    from envs.digit.env import STUDENT_DIM

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.torch_threads if args.torch_threads > 0 else 1)  # small batches: 1 (l2t_ppo_digit.py)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    rng = np.random.default_rng(args.seed)  # who executes each step (DAgger's beta coin)

    def round_alpha(r):  # the training noise of round r: linear from 0 to alpha with --curriculum
        return args.alpha * r / max(args.dagger_rounds - 1, 1) if args.curriculum else args.alpha

    # A stage-2 checkpoint to resume from (its run folder holds the teacher), or the teacher checkpoint
    ckpt, first_round = None, 0
    if args.resume is not None:
        try:
            ckpt = checkpoint_file.load(args.resume)
        except checkpoint_file.CheckpointError as e:
            fail(f"--resume: {e}")
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            fail(f"--resume: '{args.resume}' is not a {CHECKPOINT_FORMAT} checkpoint (on Digit only stage 2 runs here)")
        for key in ("env_id", "method", "dagger_rounds", "stage2_timesteps", "num_envs", "student_loss", "curriculum",
                    "seq_len", "dataset_capacity", "terrain", "max_episode_steps"):
            if ckpt["args"].get(key) != getattr(args, key):
                fail(f"--resume: checkpoint has {key}={ckpt['args'].get(key)!r}, this run has {getattr(args, key)!r}")
        first_round = ckpt["round"]
        if first_round >= args.dagger_rounds:
            fail(f"--resume: '{args.resume}' has finished all {args.dagger_rounds} rounds")
        run_dir = os.path.dirname(os.path.abspath(args.resume))
        teacher, saved = load_digit_teacher(os.path.join(run_dir, "teacher.pt"), "--resume")
    else:
        teacher, saved = load_digit_teacher(args.teacher_checkpoint)
        run_name = f"Digit-{args.terrain}__{args.exp_name}__{args.method}__{args.seed}__{int(time.time())}"
        run_dir = os.path.join(args.runs_dir, run_name)
    teacher_steps = int(saved["global_step"])  # read, never assumed: the curve starts after the teacher's budget
    lstm_hidden, obs_normalization = int(saved["lstm_hidden"]), bool(saved["obs_normalization"])
    if saved.get("terrain") != args.terrain:  # the teacher reads the terrain through its height scan
        fail(f"--terrain: the teacher was trained on terrain={saved.get('terrain')!r}, this run has "
             f"{args.terrain!r}; pass --terrain {saved.get('terrain')}")

    env_kwargs = {"terrain": args.terrain, "max_episode_steps": args.max_episode_steps}
    try:
        envs = make_digit_envs(args.num_envs, args.num_workers, args.seed + 1, round_alpha(first_round), args.noise,
                               env_kwargs)
    except Exception as e:
        fail(f"cannot create the Digit envs ({type(e).__name__}: {first_line(e)})")
    eval_envs = None
    try:
        os.makedirs(run_dir, exist_ok=True)
        ckpt_path = os.path.join(run_dir, "checkpoint.pt")
        resumed_step = ckpt["global_step"] if ckpt is not None else None
        writer = SummaryWriter(run_dir, purge_step=resumed_step + 1 if resumed_step is not None else None)
        checkpoint_file.remove_stale_temps(ckpt_path)  # left by a run killed while writing
        if ckpt is None:  # once per run: a resumed run keeps the text of its start
            writer.add_text("hyperparameters",
                            "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
        teacher = teacher.to(device)
        teacher.requires_grad_(False)
        if ckpt is None:  # the teacher for resuming: the checkpoint without optimisers (= l2t_ppo_digit's --save-model)
            checkpoint_file.save({k: v for k, v in saved.items() if k not in ("optimizers", "rng")},
                        os.path.join(run_dir, "teacher.pt"))

        # The student from scratch: l2t_ppo_digit.py's architecture and normalisation, on o[:94]
        nets = DigitStudent(STUDENT_DIM, lstm_hidden, obs_normalization).to(device)
        optimizer = torch.optim.Adam(nets.student.parameters(), lr=args.student_lr)
        L, N = args.seq_len, args.num_envs
        T = digit_steps_per_round(args)  # steps per env per round, whole sequences
        batch_seqs = max(1, args.student_batch_size // L)
        dataset = SequenceDataset(min(args.dataset_capacity // L, T // L * N * args.dagger_rounds), L, STUDENT_DIM,
                                  DIGIT_ACTION_DIM, lstm_hidden, args.seed)
        global_step = teacher_steps if ckpt is None else restore_stage2(ckpt, nets, optimizer, dataset, rng, args,
                                                                       first_round)

        seed_eval = args.seed + 10_000  # the same evaluation episodes every round
        workers = max([w for w in range(1, args.num_workers + 1) if args.eval_episodes % w == 0], default=0)
        eval_envs = make_digit_envs(args.eval_episodes, workers, seed_eval, args.alpha, args.noise, env_kwargs)
        if ckpt is None:
            try:
                result = evaluate_digit(eval_envs, teacher, nets, "teacher", seed_eval, device)
            except FloatingPointError:
                fail(f"non-finite teacher action at global_step={teacher_steps} (evaluation): the teacher in "
                     f"'{args.teacher_checkpoint or args.resume}' is broken")
            for key, values in result.items():  # once: the teacher does not change
                writer.add_scalar(f"eval/teacher_{key}", values.mean(), teacher_steps)
            print(f"teacher: {teacher_steps} environment steps, eval/teacher_return={result['return'].mean():.1f}",
                  flush=True)

        obs, _ = envs.reset(seed=args.seed + 1 + first_round)
        hidden = nets.student.initial_hidden(N, device)
        for round_index in range(first_round, args.dagger_rounds):
            beta = 1.0 if args.method == "bc" else beta_schedule(args.beta_schedule, round_index, args.dagger_rounds,
                                                                 args.beta_decay)
            train_alpha = round_alpha(round_index)
            r_obs, r_label = torch.zeros(T, N, STUDENT_DIM), torch.zeros(T, N, DIGIT_ACTION_DIM)
            r_done, r_acted = torch.zeros(T, N), torch.zeros(T, N, dtype=torch.bool)
            r_h0, r_c0 = torch.zeros(T // L, N, lstm_hidden), torch.zeros(T // L, N, lstm_hidden)
            gap = torch.zeros(())
            t_start = time.time()
            for t in range(T):
                if args.curriculum and t == T - 1 and round_index + 1 < args.dagger_rounds:
                    # the observation this last step returns is the next round's first: draw it at the next alpha
                    set_noise_alpha(envs, round_alpha(round_index + 1))
                state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
                o = torch.as_tensor(obs["observation"][:, :STUDENT_DIM], dtype=torch.float32, device=device)
                with torch.no_grad():
                    label = teacher.act(state)  # the teacher labels every visited state, from the CLEAN state
                    if not torch.isfinite(label).all():  # before it is executed or fed to the student's normaliser
                        fail(f"non-finite teacher action at global_step={global_step} (round {round_index}): the "
                             f"teacher in '{args.teacher_checkpoint or args.resume}' is broken")
                    nets.obs_norm.update(o)  # as l2t_ppo_digit.py: update with the new data, then normalise
                    if t % L == 0:  # a sequence starts: its initial hidden state, as the collecting student has it
                        r_h0[t // L], r_c0[t // L] = hidden[0].cpu(), hidden[1].cpu()
                    mean_s, hidden = nets.student.step(nets.obs_norm(o), hidden)  # the LSTM advances whoever acts
                teacher_acts = rng.random(N) < beta  # per env, per step
                action = torch.where(torch.as_tensor(teacher_acts, device=device)[:, None], label, mean_s)
                obs, _, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0).cpu().numpy())
                ended = np.logical_or(terminated, truncated)
                if ended.any():  # a new episode starts from a zero hidden state
                    keep = torch.as_tensor(~ended, dtype=torch.float32, device=device)[:, None]
                    hidden = (hidden[0] * keep, hidden[1] * keep)
                r_obs[t], r_label[t] = o.cpu(), label.cpu()
                r_done[t], r_acted[t] = torch.as_tensor(ended, dtype=torch.float32), torch.as_tensor(teacher_acts)
                gap += (mean_s - label).pow(2).sum(-1).mean().cpu()
                global_step += N
                log_digit_episodes(writer, infos, global_step)
            sps = T * N / (time.time() - t_start)
            dataset.add(r_obs, r_label, r_done, r_acted, r_h0, r_c0)  # D <- D u D_r (bounded: reservoir)

            # retrain the student on the WHOLE aggregated dataset (continuing from its current weights)
            loss_before = digit_dataset_loss(args.student_loss, nets, dataset, batch_seqs, device)
            epoch_losses = []
            for _ in range(args.epochs_per_round):
                total = 0.0
                for idx in torch.randperm(dataset.size).split(batch_seqs):
                    obs_b, label_b, done_b, hidden_b = dataset.batch(idx, device)
                    mean = nets.student.sequence(nets.obs_norm(obs_b), hidden_b, done_b)
                    loss = digit_imitation_loss(args.student_loss, mean, nets.student.log_std, label_b)
                    if not torch.isfinite(loss):  # checked before the step: the saved student is still finite
                        path = os.path.join(run_dir, f"nonfinite_round{round_index}.pt")
                        checkpoint_file.save({"student": nets.state_dict(), "round": round_index}, path)
                        fail(f"non-finite student loss in round {round_index}; student saved to {path}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(nets.student.parameters(), STUDENT_MAX_GRAD_NORM)
                    optimizer.step()
                    total += loss.item() * len(idx)
                epoch_losses.append(total / dataset.size)
            loss_after = digit_dataset_loss(args.student_loss, nets, dataset, batch_seqs, device)

            try:
                result = evaluate_digit(eval_envs, teacher, nets, "student", seed_eval, device)  # alone, at alpha
            except FloatingPointError:
                fail(f"non-finite student action at global_step={global_step} (evaluation after round {round_index})")
            for key, values in result.items():
                writer.add_scalar(f"eval/student_{key}", values.mean(), global_step)
            stage2 = global_step - teacher_steps
            writer.add_scalar("charts/stage2_samples", stage2, global_step)
            writer.add_scalar("charts/dataset_size", dataset.size * L, global_step)  # steps held
            writer.add_scalar("charts/dataset_steps_seen", dataset.seen * L, global_step)  # steps ever aggregated
            writer.add_scalar("charts/beta", beta, global_step)
            writer.add_scalar("charts/noise_alpha", train_alpha, global_step)
            writer.add_scalar("charts/teacher_action_fraction", r_acted.float().mean().item(), global_step)
            writer.add_scalar("charts/SPS", sps, global_step)  # collection only
            writer.add_scalar("losses/student_loss", epoch_losses[-1], global_step)  # mean over the last epoch
            writer.add_scalar("losses/student_loss_first_epoch", epoch_losses[0], global_step)
            writer.add_scalar("losses/dataset_loss_before", loss_before, global_step)  # whole aggregate, no grad
            writer.add_scalar("losses/dataset_loss_after", loss_after, global_step)
            # Fig. 4a of paper 2: squared L2 between the student's and the teacher's means on the round's steps
            writer.add_scalar("losses/imitation_gap", gap.item() / T, global_step)
            print(f"round {round_index}: beta={beta:.3f}, global_step={global_step} (stage 2: {stage2}), dataset loss "
                  f"{loss_before:.4f} -> {loss_after:.4f}, eval/student_return={result['return'].mean():.1f}",
                  flush=True)
            checkpoint_file.save({"format": CHECKPOINT_FORMAT, "args": asdict(args), "round": round_index + 1,
                         "global_step": global_step, "teacher_steps": teacher_steps, "student": nets.state_dict(),
                         "optimizer": optimizer.state_dict(), "dataset": dataset.state_dict(),
                         "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                 "python": random.getstate(), "beta_coin": rng.bit_generator.state}}, ckpt_path)

        if args.save_model:
            model_path = os.path.join(run_dir, f"{args.exp_name}.cleanrl_model")
            checkpoint_file.save({"format": DIGIT_MODEL_FORMAT, "env_id": args.env_id, "lstm_hidden": lstm_hidden,
                         "obs_normalization": obs_normalization, "global_step": global_step,
                         "teacher": teacher.state_dict(), "student": nets.state_dict()}, model_path)
            print(f"model saved to {model_path}")
        writer.close()
    finally:
        envs.close()
        if eval_envs is not None:
            eval_envs.close()
    return run_dir


if __name__ == "__main__":
    main(tyro.cli(Args))
