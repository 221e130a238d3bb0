# The conventional two-stage teacher-student baseline (TSL) that L2T is compared with.
#
# Stage 1 gives a teacher that acts on the clean state s: SAC trained here on any Gymnasium env with Box observations
# and actions (MuJoCo, Cassie), a teacher saved by l2t_sac_mujoco.py, or on Digit a PPO teacher saved by
# l2t_ppo_digit.py. Stage 2 trains a student from scratch on the noisy observation o with DAgger (Ross, Gordon and
# Bagnell, "A Reduction of Imitation Learning and Structured Prediction to No-Regret Online Learning", AISTATS 2011,
# section 3, Algorithm 3.1): in round i the mixture pi_i = beta_i * teacher + (1 - beta_i) * student collects data,
# the teacher labels every visited state, the round's data D_i joins the aggregate D <- D u D_i, and the student is
# retrained on all of D. `--method bc` keeps beta = 1: the teacher always acts (behaviour cloning).
#
# The comparison it makes: paper 1 (Wu et al., "Learn to Teach", L2T-RL and L2T-IRL on MuJoCo and
# Cassie), section 4.1.2 and Fig. 2 (bottom row), and paper 2 (Wu et al., "Learn to
# Teach: Sample-Efficient Privileged Learning for Humanoid Locomotion over Real-World Uneven Terrain"), section V-A
# and Fig. 3 (middle): TSL on Digit needed DAgger. Every environment step of BOTH stages counts in `global_step`, so
# the student's curve sits on the same axis as the L2T student's, which costs no environment steps of its own.
#
# Read top to bottom: Args; `dagger` (the loop) and `train_student`; the two student/dataset pairs, the only parts of
# the loop that depend on the env (an MLP on single transitions for Gymnasium envs, Digit's LSTM on sequences);
# stage 1 (SAC); `main`, which builds everything once; then plumbing (envs, evaluation, argument checks, files,
# resume, progress). docs/tsl_dagger_baseline.md: usage, logged metrics, implementation details.
import dataclasses
import importlib.util
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

from envs import checkpoint as checkpoint_file
from envs import guard
from envs.console import Progress, quiet_known_warnings
from envs.digit import ACTION_DIM
from envs.digit.env import task_from_run_args
from envs.noise import NOISE_TYPES, NoisyObservation, set_noise_alpha


METHODS = ("bc", "dagger")
BETA_SCHEDULES = ("linear", "exponential")
STUDENT_LOSSES = ("l1", "l2", "nll")
TEACHER_FORMAT = "l2t_sac_mujoco/1"  # teachers saved by l2t_sac_mujoco.py and by this script's stage 1
CHECKPOINT_FORMAT = "tsl_dagger_baseline/1"
MAX_NOISE_ALPHA = 10.0  # bounds of the flags with a physical or numerical meaning (check_args says why)
MAX_LEARNING_RATE = 1.0
STAGE1_FORMAT = "tsl_dagger_baseline/stage1"
DIGIT_ENV_ID = "l2t/Digit-v3"
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
    """number of torch CPU threads (0: torch's default; on Digit 1); runs repeat exactly only at a fixed count"""
    capture_video: bool = False
    """not Digit: record one student evaluation episode per round to `runs/{run_name}/videos` (MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final student and its teacher to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints, videos)"""

    # Environment and noise: the same wrapper and alpha semantics as l2t_sac_mujoco.py
    env_id: str = "HalfCheetah-v4"
    """a Gymnasium environment with Box observations and actions, or `l2t/Digit-v3` (with a l2t_ppo_digit.py teacher)"""
    alpha: Optional[float] = None
    """noise scale alpha >= 0 of the student's observation (default: 0.4; on Digit 0.1, as l2t_ppo_digit.py)"""
    noise: str = "uniform"
    """`uniform` (o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""

    # Stage 1: the teacher, loaded or (not on Digit) trained with SAC (CleanRL's defaults)
    teacher_checkpoint: Optional[str] = None
    """a teacher saved by l2t_sac_mujoco.py, l2t_ppo_digit.py (Digit: required) or this script (unset: stage 1)"""
    teacher_timesteps: int = 1_000_000
    """not Digit: environment steps of stage-1 SAC training when no --teacher-checkpoint is given"""
    buffer_size: int = 1_000_000
    """not Digit, stage 1: the replay memory buffer size"""
    gamma: float = 0.99
    """not Digit, stage 1: the discount factor gamma"""
    tau: float = 0.005
    """not Digit, stage 1: target smoothing coefficient"""
    batch_size: int = 256
    """not Digit, stage 1: the batch size sampled from the replay memory"""
    learning_starts: int = 5_000
    """not Digit, stage 1: environment steps of uniformly random actions before learning starts"""
    policy_lr: float = 3e-4
    """not Digit, stage 1: the learning rate of the teacher's actor"""
    q_lr: float = 1e-3
    """not Digit, stage 1: the learning rate of the teacher's critic and temperature"""
    policy_frequency: int = 2
    """not Digit, stage 1: `policy_frequency` actor updates every `policy_frequency` steps"""
    hidden_dim: int = 256
    """not Digit: width of the two hidden layers of a stage-1 teacher and critic (the student takes its teacher's)"""

    # Stage 2: the student
    method: str = "dagger"
    """`bc` (the teacher executes every action: the paper's BC agent) or `dagger` (teacher with probability beta)"""
    student_loss: Optional[str] = None
    """`l1`, `l2` (mean actions) or `nll` (-log pi_s(a_teacher | o)); default `l1`, on Digit `l2` (paper 2's Eq. 3)"""
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
    """minibatch size of the student's imitation updates in steps (Digit: whole sequences of --seq-len, at least one)"""
    student_lr: float = 3e-4
    """the learning rate of the student"""
    curriculum: bool = False
    """raise the training noise linearly from 0 (first round) to alpha (last round); evaluation stays at alpha"""

    # Digit only (--env-id l2t/Digit-v3): the env as in l2t_ppo_digit.py, the student's sequences
    terrain: str = "rough"
    """Digit only: `rough` (the terrain grid with its curriculum, the paper's task) or `flat` (a floor plane)"""
    max_episode_steps: int = 1000
    """Digit only: episode length in policy steps of 20 ms (1000 = the paper's 20 s); a time-out is a truncation"""
    num_workers: int = 2
    """Digit only: worker processes that step the envs (0: all in this process); must divide --num-envs"""
    backend: str = "mujoco"
    """Digit only: the physics, `mujoco` (CPU worker processes) or `warp` (MuJoCo Warp worlds on --device)"""
    device: str = ""
    """torch device of the networks, and with `--backend warp` of the physics (empty: cuda if available)"""
    seq_len: int = 24
    """Digit only: length of the stored sequences, the student's truncated-BPTT length (l2t_ppo_digit.py's rollout)"""
    dataset_capacity: int = 240_000
    """Digit only: bound of the aggregated dataset in steps; when full, reservoir sampling keeps a uniform sample"""

    # Evaluation, checkpoints
    eval_episodes: int = 5
    """episodes per evaluation, deterministic actions"""
    checkpoint_frequency: int = 100_000
    """not Digit, stage 1: write stage1_checkpoint.pt every this many steps and at its end (0: only at the end)"""
    resume: Optional[str] = None
    """a stage1_checkpoint.pt (continues stage 1) or a stage-2 checkpoint.pt (continues with the next round)"""


DIGIT_ONLY_FLAGS = ("terrain", "max_episode_steps", "num_workers", "seq_len", "dataset_capacity", "backend")
NOT_DIGIT_FLAGS = (
    "teacher_timesteps",
    "buffer_size",
    "gamma",
    "tau",
    "batch_size",
    "learning_starts",
    "policy_lr",
    "q_lr",
    "policy_frequency",
    "hidden_dim",
    "checkpoint_frequency",
    "capture_video",
)


# ---------------------------------------------------------------------------------------------------------------------
# Stage 2: DAgger (Ross et al. 2011, section 3, Algorithm 3.1). The student and its dataset are the only parts that
# depend on the env family: MLPStudent + TransitionDataset, or LSTMStudent + SequenceDataset (Digit).
def dagger(
    args, run, envs, to_env, teacher, student, dataset, optimizer, evaluate_student, rng, global_step, first_round
):
    """Rounds `first_round`..R-1 of stage 2; every round ends with an evaluation and a checkpoint. Returns the step."""
    N, R, T = args.num_envs, args.dagger_rounds, steps_per_round(args)
    obs, _ = envs.reset(seed=args.seed + 1 + first_round)
    memory = student.initial_memory(N, run.device)  # the LSTM's (h, c); None for the MLP
    for i in range(first_round, R):
        # pi_i = beta_i * teacher + (1 - beta_i) * student, drawn per env and per step; bc: the teacher always
        beta = 1.0 if args.method == "bc" else beta_schedule(args.beta_schedule, i, R, args.beta_decay)
        dataset.begin_round(T, N)
        gap, teacher_steps_taken, start = torch.zeros(()), 0, time.time()
        for t in range(T):
            if args.curriculum and t == T - 1 and i + 1 < R:
                # the observation this last step returns is the next round's first: draw it at the next alpha, so
                # that every observation of round i has round i's noise (in every sub-env, or this raises)
                set_noise_alpha(envs, round_alpha(args, i + 1))
            state = torch.as_tensor(obs["state"], dtype=torch.float32, device=run.device)
            o = student.observation(obs, run.device)
            label = teacher.act(state)  # pi*(s): the teacher labels every visited state, from the CLEAN state
            if not torch.isfinite(label).all():  # before it is executed or fed to the student's normaliser
                fail(
                    f"non-finite teacher action at global_step={global_step} (round {i}): the teacher in "
                    f"'{args.teacher_checkpoint or args.resume}' is broken"
                )
            memory_before = memory
            action_s, memory = student.collect(o, memory)  # the student's action (its LSTM advances whoever acts)
            teacher_acts = rng.random(N) < beta
            action = torch.where(torch.as_tensor(teacher_acts, device=run.device)[:, None], label, action_s)
            obs, _, terminated, truncated, infos = envs.step(to_env(action))
            ended = np.logical_or(terminated, truncated)
            memory = student.forget(memory, ended)  # a new episode starts from a zero hidden state
            dataset.record(t, o, state, label, ended, teacher_acts, memory_before)  # D_i: (o, pi*(s)) per step
            gap += (action_s - label).pow(2).sum(-1).mean().cpu()
            teacher_steps_taken += int(teacher_acts.sum())
            global_step += N
            log_episodes(run.writer, infos, global_step, run.progress)
            run.progress.update(global_step, where=f"stage 2, round {i + 1}/{R}")
            if run.session is not None and run.session.stop_requested:  # SIGINT / SIGTERM: back to the round's start
                run.session.exit_stopped(
                    f"global_step={global_step} in round {i + 1}/{R} (its {(t + 1) * N} steps so far are dropped)",
                    os.path.join(run.dir, "checkpoint.pt"),
                    resume_hint(args, os.path.join(run.dir, "checkpoint.pt"), f"round {i + 1}"),
                )
        sps = T * N / (time.time() - start)
        dataset.end_round()  # D <- D u D_i

        losses = train_student(args, run, student, optimizer, dataset, i)  # pi_{i+1}: trained on the whole of D
        try:
            result = evaluate_student(i)  # the student alone, on the noisy observation at alpha
        except FloatingPointError:
            fail(f"non-finite student action at global_step={global_step} (evaluation after round {i})")
        except Exception as e:  # (a video that cannot be written, ...): the round's training is kept
            save_checkpoint(run, args, i + 1, global_step, student, optimizer, dataset, rng)
            fail(
                f"the evaluation after round {i + 1} failed ({type(e).__name__}: {first_line(e)}); the round is "
                f"saved in {os.path.join(run.dir, 'checkpoint.pt')}"
            )

        w = run.writer
        for key, values in result.items():
            w.add_scalar(f"eval/student_{key}", values.mean(), global_step)
        w.add_scalar("charts/stage2_samples", global_step - run.teacher_steps, global_step)
        for key, value in dataset.metrics().items():  # dataset_size (steps held), ...
            w.add_scalar(f"charts/{key}", value, global_step)
        w.add_scalar("charts/beta", beta, global_step)
        w.add_scalar("charts/noise_alpha", round_alpha(args, i), global_step)
        w.add_scalar("charts/teacher_action_fraction", teacher_steps_taken / (T * N), global_step)
        w.add_scalar("charts/SPS", sps, global_step)  # collection only
        for key, value in losses.items():
            w.add_scalar(f"losses/{key}", value, global_step)
        # paper 2, Fig. 4a: squared L2 between the student's and the teacher's actions on the round's steps
        w.add_scalar("losses/imitation_gap", gap.item() / T, global_step)
        run.progress.evaluation("student", result["return"].mean(), result["length"].mean())
        run.progress.update(
            global_step,
            where=f"round {i + 1}/{R} done",
            force=True,
            extra=f"beta {beta:.3f}, "
            f"dataset loss {losses['dataset_loss_before']:.4f} -> {losses['dataset_loss_after']:.4f}",
        )
        save_checkpoint(run, args, i + 1, global_step, student, optimizer, dataset, rng)
        if run.session is not None and run.session.stop_requested and i + 1 < R:
            run.session.exit_stopped(
                f"global_step={global_step}, after round {i + 1}/{R}",
                os.path.join(run.dir, "checkpoint.pt"),
                resume_hint(args, os.path.join(run.dir, "checkpoint.pt"), f"round {i + 2}"),
            )
    return global_step


def train_student(args, run, student, optimizer, dataset, round_index):
    """Retrain the student on the WHOLE aggregated dataset, continuing from its current weights: --epochs-per-round
    passes of minibatches in random order. Returns the losses to log."""
    batch = dataset.minibatch(args.student_batch_size)
    loss_before = dataset_loss(args.student_loss, student, dataset, batch, run.device)
    epoch_losses = []
    for _ in range(args.epochs_per_round):
        total = 0.0
        for idx in torch.randperm(dataset.size).split(batch):
            loss = student.loss(args.student_loss, *dataset.batch(idx, run.device))
            if not torch.isfinite(loss):  # checked before the step: the saved student is still finite
                path = os.path.join(run.dir, f"nonfinite_round{round_index}.pt")
                save_file({"student": student.state_dict(), "round": round_index}, path)
                fail(f"non-finite student loss in round {round_index}; student saved to {path}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if student.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(student.parameters(), student.max_grad_norm)
            optimizer.step()
            total += loss.item() * len(idx)
        epoch_losses.append(total / dataset.size)
    return {
        "student_loss": epoch_losses[-1],
        "student_loss_first_epoch": epoch_losses[0],  # means over an epoch
        "dataset_loss_before": loss_before,  # the whole aggregate, no gradient
        "dataset_loss_after": dataset_loss(args.student_loss, student, dataset, batch, run.device),
    }


@torch.no_grad()
def dataset_loss(kind, student, dataset, batch, device):
    """The student's loss over the whole aggregated dataset (Digit: every sequence from its stored hidden state)."""
    total = 0.0
    for idx in torch.arange(dataset.size).split(batch):
        total += student.loss(kind, *dataset.batch(idx, device)).item() * len(idx)
    return total / max(dataset.size, 1)


def beta_schedule(kind: str, round_index: int, rounds: int, decay: float) -> float:
    """DAgger's probability that the TEACHER executes the action in round r = 0, 1, ...

    linear: beta_r = max(0, (R - r) / R), from 1 in the first round down to 1/R in the last;
    exponential: beta_r = p^r, also 1 in the first round (Ross et al. 2011, section 3: beta_i = p^(i-1))."""
    if kind == "linear":
        return max(0.0, (rounds - round_index) / rounds)
    return decay**round_index


def round_alpha(args, round_index):
    """The training noise of a round: linear from 0 (first round) to alpha (last) with --curriculum, else alpha."""
    return args.alpha * round_index / max(args.dagger_rounds - 1, 1) if args.curriculum else args.alpha


def steps_per_round(args):
    """Vector-env steps of one round (Digit: rounded down to whole sequences of --seq-len)."""
    steps = args.stage2_timesteps // args.dagger_rounds // args.num_envs
    return steps // args.seq_len * args.seq_len if args.env_id == DIGIT_ENV_ID else steps


# ---------------------------------------------------------------------------------------------------------------------
# Student and dataset, Gymnasium envs: the teacher's architecture on o, trained on single transitions.
# Actions are normalised to [-1, 1] everywhere and rescaled to the env's bounds only when sent to the env.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


# `Actor` and `TwinQ` are l2t_sac_mujoco.py's, byte for byte (tests/test_identical_blocks.py), so teachers load
# across the two scripts
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


class MLPStudent(Actor):
    """The student on Gymnasium envs: an Actor of its teacher's width on the whole noisy observation o, memoryless
    (its state dict is an Actor's, as l2t_sac_mujoco.py's student)."""

    max_grad_norm = None  # no gradient clipping

    def observation(self, obs, device):
        return torch.as_tensor(obs["observation"], dtype=torch.float32, device=device)

    def initial_memory(self, n, device):
        return None

    def collect(self, o, memory):
        return self.act(o), None

    def forget(self, memory, ended):
        return memory

    def loss(self, kind, obs, label):
        return imitation_loss(kind, self, obs, label)

    def optimizer(self, lr):
        return torch.optim.Adam(self.parameters(), lr=lr, fused=True)


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


def squashed_log_prob(u, mean, log_std):
    """log-density of a = tanh(u), u ~ N(mean, std): the Gaussian's minus log(1 - tanh(u)^2), in a stable form."""
    log_prob = (-0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    return log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


class TransitionDataset:
    """The aggregated stage-2 data on Gymnasium envs, one row per env step: noisy observation o (the student's
    input), the teacher's label a_t = teacher(s) on the clean state s (s itself is not kept: DAgger needs (o, a_t)),
    and whether the teacher executed that step. Rows are only ever added (D <- D u D_i), in step order, env by env
    within a step."""

    def __init__(self, capacity: int, state_dim: int, action_dim: int):
        self.obs = torch.zeros(capacity, state_dim)
        self.label = torch.zeros(capacity, action_dim)
        self.teacher_acted = torch.zeros(capacity, dtype=torch.bool)
        self.size = 0

    def begin_round(self, steps, num_envs):
        pass

    def record(self, t, obs, state, label, done, teacher_acted, memory):
        n = len(obs)
        for name, value in (("obs", obs), ("label", label), ("teacher_acted", teacher_acted)):
            getattr(self, name)[self.size : self.size + n] = torch.as_tensor(value).cpu()
        self.size += n

    def end_round(self):
        pass

    def minibatch(self, steps):
        return steps

    def batch(self, idx, device):
        return self.obs[idx].to(device), self.label[idx].to(device)

    def metrics(self):
        return {"dataset_size": self.size}

    def state_dict(self):
        return {k: getattr(self, k)[: self.size].clone() for k in ("obs", "label", "teacher_acted")}

    def load_state_dict(self, d):
        self.size = len(d["obs"])
        for k in ("obs", "label", "teacher_acted"):  # (older checkpoints also hold "state": unused)
            getattr(self, k)[: self.size] = d[k]


# ---------------------------------------------------------------------------------------------------------------------
# Student and dataset, Digit (paper 2): l2t_ppo_digit.py's LSTM student, trained on fixed-length sequences, after that
# script's PPO teacher. `mlp`, `EmpiricalNormalization`, `Teacher` and `Student` are l2t_ppo_digit.py's, byte for byte,
# docstrings included (copied, since scripts never import each other; tests/test_identical_blocks.py), so that its
# checkpoints load with strict state_dict loading and the student here is the L2T student's architecture.
DIGIT_ACTION_DIM = ACTION_DIM  # envs.digit: one PD target per motor
HIDDEN_SIZES = (512, 256, 128)  # paper 2, Fig. 2: teacher MLP, student MLP after the LSTM (l2t_ppo_digit.py's name)
STUDENT_MAX_GRAD_NORM = 1.0  # the gradient-norm clip of the Digit student (l2t_ppo_digit.py's --max-grad-norm)


def mlp(in_dim: int, out_dim: int, hidden=HIDDEN_SIZES) -> nn.Sequential:
    layers, last = [], in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), nn.ELU()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class EmpiricalNormalization(nn.Module):
    """Running mean and variance of the inputs (rsl_rl's EmpiricalNormalization): y = (x - mean) / (std + eps).

    `update(x)` merges a batch into the statistics (Chan et al.); `forward` only normalises. Disabled, it is the
    identity (mean 0, std 1, eps 0), so that every code path and the exported student are the same. An input given a
    `fixed` centre c (not NaN) is y = x - c whatever the statistics say (see `fixed_inputs`); a state dict saved
    without `fixed` normalised every input by its statistics, and loads so.
    """

    def __init__(self, dim: int, enabled: bool = True, eps: float = 1e-2, keep=None, fixed=None):
        super().__init__()
        self.enabled = enabled
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("eps", torch.tensor(eps if enabled else 0.0))
        # 1 = an input the network sees, 0 = one it never sees (zeroed after normalising; see `input_keep_mask`)
        self.register_buffer("keep", torch.ones(dim) if keep is None else torch.as_tensor(keep, dtype=torch.float32))
        # `fixed` (NaN: running statistics) as a 0/1 mask `fixed` and the centres `centre` (0 where running)
        fixed = torch.full((dim,), float("nan")) if fixed is None or not enabled else torch.as_tensor(fixed).float()
        self.register_buffer("fixed", (~torch.isnan(fixed)).float())
        self.register_buffer("centre", torch.nan_to_num(fixed, nan=0.0))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, *args):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, *args)
        for name in ("fixed", "centre"):
            if prefix + name in missing_keys:  # saved before fixed inputs existed: every input running
                missing_keys.remove(prefix + name)
                getattr(self, name).zero_()

    @torch.no_grad()
    def update(self, x: torch.Tensor):
        if not self.enabled:
            return
        n = x.shape[0]
        batch_mean, batch_var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        rate = (n / total).to(self.mean.dtype)  # a tensor on the data's device: no host synchronisation
        delta = batch_mean - self.mean
        self.mean += rate * delta
        self.var += rate * (batch_var - self.var + delta * (batch_mean - self.mean))
        self.count.copy_(total)

    def forward(self, x):
        fixed = self.fixed.bool()
        centre = torch.where(fixed, self.centre, self.mean)
        scale = torch.where(fixed, torch.ones_like(self.var), self.var.sqrt() + self.eps)
        return (x - centre) / scale * self.keep


class Teacher(nn.Module):
    """pi_t(a|s): Gaussian with an MLP [512, 256, 128] ELU mean on the privileged state and a state-independent std."""

    def __init__(self, in_dim: int, action_dim: int, init_std: float):
        super().__init__()
        self.actor = mlp(in_dim, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def forward(self, state):
        """Mean and log-std (broadcast to the mean's shape)."""
        mean = self.actor(state)
        return mean, self.log_std.expand_as(mean)


class Student(nn.Module):
    """pi_s(a|o_1..o_t): LSTM(94 -> 128, one layer), then an MLP [512, 256, 128] ELU to the mean action (Fig. 2).

    The std is state-independent: its own parameter `log_std` (trained by `kl` only), see `student_log_std`.
    Hidden state: a tuple (h, c), each (batch, hidden); zero at an episode's start. The LSTM is an `nn.LSTMCell`
    (the same one-layer LSTM; 2.5x faster than `nn.LSTM` stepped one step at a time on this CPU).
    """

    def __init__(self, in_dim: int, action_dim: int, hidden: int, init_std: float):
        super().__init__()
        self.lstm = nn.LSTMCell(in_dim, hidden)
        self.head = mlp(hidden, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def initial_hidden(self, batch: int, device=None):
        zeros = torch.zeros(batch, self.lstm.hidden_size, device=device)
        return zeros, zeros.clone()

    def step(self, obs, hidden):
        """One time step for a batch: obs (batch, 94) normalised -> (mean (batch, 20), new hidden)."""
        hidden = self.lstm(obs, hidden)
        return self.head(hidden[0]), hidden

    def sequence(self, obs, hidden, dones):
        """A rollout segment: obs (T, batch, 94), hidden at its first step, dones (T, batch) -> means (T, batch, 20).

        The computation of the rollout, step by step: after step t, the hidden state of every env whose episode
        ended at t is zeroed, so the next step starts the new episode from a zero state. Gradients flow back
        through the whole segment (truncated BPTT over T = num_steps), not into the given initial state. The MLP
        head runs once on all T steps (bitwise the same outputs as step by step here, and faster).
        """
        outs = []
        for t in range(obs.shape[0]):
            hidden = self.lstm(obs[t], hidden)
            outs.append(hidden[0])
            keep = (1.0 - dones[t]).unsqueeze(-1)
            hidden = (hidden[0] * keep, hidden[1] * keep)
        return self.head(torch.stack(outs))


class LSTMStudent(nn.Module):
    """The student on Digit: the student part of l2t_ppo_digit.L2TNets, `student` and its own `obs_norm` (the same
    attribute names; fitted here from scratch on the stage-2 observations, updated with every collected step as
    l2t_ppo_digit.py updates its own). It reads o[:94] and acts its mean action (executed clipped to [-1, 1])."""

    max_grad_norm = STUDENT_MAX_GRAD_NORM

    def __init__(self, student_dim: int, lstm_hidden: int, obs_normalization: bool):
        super().__init__()
        self.student = Student(student_dim, DIGIT_ACTION_DIM, lstm_hidden, 1.0)
        self.obs_norm = EmpiricalNormalization(student_dim, obs_normalization)

    def observation(self, obs, device):
        return torch.as_tensor(
            obs["observation"][:, : self.student.lstm.input_size], dtype=torch.float32, device=device
        )

    def initial_memory(self, n, device):
        return self.student.initial_hidden(n, device)

    @torch.no_grad()
    def collect(self, o, hidden):
        self.obs_norm.update(o)  # as l2t_ppo_digit.py: update with the new data, then normalise
        return self.student.step(self.obs_norm(o), hidden)

    def forget(self, hidden, ended):
        if not ended.any():
            return hidden
        keep = torch.as_tensor(~ended, dtype=torch.float32, device=hidden[0].device)[:, None]
        return hidden[0] * keep, hidden[1] * keep

    def loss(self, kind, obs, label, done, hidden):
        mean = self.student.sequence(self.obs_norm(obs), hidden, done)
        return digit_imitation_loss(kind, mean, self.student.log_std, label)

    def optimizer(self, lr):
        return torch.optim.Adam(self.student.parameters(), lr=lr)


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


class SequenceDataset:
    """The aggregated stage-2 data on Digit, as fixed-length sequences of `seq_len` steps of one env.

    Per sequence: the raw noisy observations o[:94] (normalised when trained on, with the student's current
    normaliser), the teacher's labels (its mean action on the clean state), the done flags (1 where an episode ended
    at that step: the student's hidden state is zeroed after it), who executed each step, and the student's hidden
    state (h, c) BEFORE the first step, as the collecting student computed it. Bounded: at most `capacity`
    sequences; when full, reservoir sampling keeps a uniform random sample of ALL sequences collected so far
    (docs/tsl_dagger_baseline.md)."""

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
        self.round = None

    def begin_round(self, steps, num_envs):
        """Buffers for one round of `steps` (a multiple of seq_len) steps of `num_envs` envs."""
        L, (obs_dim, action_dim, hidden) = self.seq_len, (self.obs.shape[-1], self.label.shape[-1], self.h0.shape[-1])
        self.round = {
            "obs": torch.zeros(steps, num_envs, obs_dim),
            "label": torch.zeros(steps, num_envs, action_dim),
            "done": torch.zeros(steps, num_envs),
            "teacher_acted": torch.zeros(steps, num_envs, dtype=torch.bool),
            "h0": torch.zeros(steps // L, num_envs, hidden),
            "c0": torch.zeros(steps // L, num_envs, hidden),
        }

    def record(self, t, obs, state, label, done, teacher_acted, hidden):
        """Step t of the round; `hidden` is the student's state before it (kept where a sequence starts)."""
        r = self.round
        r["obs"][t], r["label"][t] = obs.cpu(), label.cpu()
        r["done"][t] = torch.as_tensor(done, dtype=torch.float32)
        r["teacher_acted"][t] = torch.as_tensor(teacher_acted)
        if t % self.seq_len == 0:
            r["h0"][t // self.seq_len], r["c0"][t // self.seq_len] = hidden[0].cpu(), hidden[1].cpu()

    def end_round(self):
        r, self.round = self.round, None
        self.add(r["obs"], r["label"], r["done"], r["teacher_acted"], r["h0"], r["c0"])

    def add(self, obs, label, done, teacher_acted, h0, c0):
        """One round: obs (T, N, 94), label (T, N, 20), done and teacher_acted (T, N), h0 / c0 (T / seq_len, N, H) the
        hidden states at the starts of the segments; T a multiple of seq_len. Segment k of env i is one sequence."""
        L = self.seq_len
        for k in range(obs.shape[0] // L):
            for i in range(obs.shape[1]):
                if self.size < self.capacity:
                    slot = self.size
                    self.size += 1
                else:  # Vitter's algorithm R, per sequence
                    slot = int(self.rng.integers(0, self.seen + 1))
                self.seen += 1
                if slot >= self.capacity:
                    continue
                steps = slice(k * L, (k + 1) * L)
                self.obs[slot], self.label[slot] = obs[steps, i], label[steps, i]
                self.done[slot], self.teacher_acted[slot] = done[steps, i], teacher_acted[steps, i]
                self.h0[slot], self.c0[slot] = h0[k, i], c0[k, i]

    def minibatch(self, steps):
        """Sequences per minibatch: --student-batch-size steps rounded down to whole sequences, at least one."""
        return max(1, steps // self.seq_len)

    def batch(self, idx, device):
        """Sequences idx, time-major: obs (T, B, 94), label (T, B, 20), done (T, B), hidden ((B, H), (B, H))."""
        return (
            self.obs[idx].transpose(0, 1).to(device),
            self.label[idx].transpose(0, 1).to(device),
            self.done[idx].transpose(0, 1).to(device),
            (self.h0[idx].to(device), self.c0[idx].to(device)),
        )

    def metrics(self):
        return {"dataset_size": self.size * self.seq_len, "dataset_steps_seen": self.seen * self.seq_len}

    def state_dict(self):
        d = {k: getattr(self, k)[: self.size].clone() for k in ("obs", "label", "done", "teacher_acted", "h0", "c0")}
        d.update(seen=self.seen, rng=self.rng.bit_generator.state)
        return d

    def load_state_dict(self, d):
        self.size, self.seen = len(d["obs"]), d["seen"]
        for k in ("obs", "label", "done", "teacher_acted", "h0", "c0"):
            getattr(self, k)[: self.size] = d[k]
        self.rng.bit_generator.state = d["rng"]


class DigitTeacher(nn.Module):
    """The teacher part of l2t_ppo_digit.L2TNets: `teacher` and `state_norm` (the same attribute names, so the
    checkpoint's "teacher.*" and "state_norm.*" entries load strictly). Frozen: the normaliser is not updated here."""

    def __init__(self, obs_dim: int, obs_normalization: bool):
        super().__init__()
        self.teacher = Teacher(obs_dim, DIGIT_ACTION_DIM, 1.0)
        self.state_norm = EmpiricalNormalization(obs_dim, obs_normalization)

    @torch.no_grad()
    def act(self, state):
        """The deterministic action: the teacher's MEAN on the clean state (the label; executed clipped to [-1, 1])."""
        return self.teacher(self.state_norm(state))[0]


# ---------------------------------------------------------------------------------------------------------------------
# Stage 1 (not on Digit): SAC on the clean state (CleanRL's SAC; l2t_sac_mujoco.py's update without a student).
# The teacher's two critics: l2t_sac_mujoco.py's TwinQ, byte for byte; stage 1 only.
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


def train_teacher(args, writer, device, run_dir, progress, resume=None, session=None):
    """Stage 1: SAC for --teacher-timesteps steps of one env. Writes stage1_checkpoint.pt (networks, optimisers,
    temperature, replay buffer, step, RNG states) every --checkpoint-frequency steps and at the end; `resume` (such a
    checkpoint) continues from its step with fresh episodes; `session` (envs/guard.py): SIGINT / SIGTERM end the
    stage after the current step with its checkpoint. Returns the teacher and the environment steps it cost."""
    envs = gym.vector.SyncVectorEnv(
        [make_env(args.env_id, 0.0, args.noise, args.seed)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
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
    modules = {
        "teacher": teacher,
        "critic": critic,
        "target_critic": target_critic,
        "q_optimizer": q_optimizer,
        "actor_optimizer": actor_optimizer,
        "ent_optimizer": ent_optimizer,
    }
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
        set_rng_state(resume["rng"])

    def save_stage1(step):
        state = {key: module.state_dict() for key, module in modules.items()}
        state.update(
            format=STAGE1_FORMAT,
            args=asdict(args),
            global_step=step,
            log_ent_coef=log_ent_coef.detach().cpu(),
            storage=storage[:size].cpu().clone(),
            size=size,
            pos=pos,
            rng=rng_state(),
        )
        save_file(state, os.path.join(run_dir, "stage1_checkpoint.pt"))

    def stop_nonfinite(what, step):
        path = os.path.join(run_dir, f"nonfinite_stage1_step{step}.pt")
        save_file({"teacher": teacher.state_dict(), "critic": critic.state_dict(), "global_step": step}, path)
        fail(f"stage 1: non-finite {what} at step {step}; teacher and critic saved to {path}")

    obs, _ = envs.reset(seed=args.seed + start)
    start_time = time.time()
    print(f"stage 1: SAC teacher on the clean state for {args.teacher_timesteps} steps", flush=True)
    progress.restart(args.teacher_timesteps, start)
    for global_step in range(start + 1, args.teacher_timesteps + 1):
        if global_step <= args.learning_starts:
            action = np.random.uniform(-1.0, 1.0, size=(1, action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
                action = teacher.sample(state)[0].cpu().numpy()
        next_obs, reward, terminated, truncated, infos = envs.step(to_env_action(action, low, high))
        log_episodes(writer, infos, global_step, progress)
        real_next = real_next_observation(next_obs, infos)
        row = np.concatenate([obs["state"], action, reward[:, None], real_next["state"], terminated[:, None]], 1)
        storage[pos] = torch.as_tensor(row[0], dtype=torch.float32, device=device)
        pos, size = (pos + 1) % len(storage), min(size + 1, len(storage))
        obs = next_obs

        if global_step > args.learning_starts:
            rows = storage[torch.randint(0, size, (args.batch_size,), device=device)]
            s, a, r = rows[:, :state_dim], rows[:, state_dim : state_dim + action_dim], rows[:, -state_dim - 2]
            s2, done = rows[:, -state_dim - 1 : -1], rows[:, -1]
            ent_coef = log_ent_coef.exp().detach()
            with torch.no_grad():  # SAC's soft Bellman target; no bootstrap past a termination
                a2, logp2 = teacher.sample(s2)[:2]
                target_q = r + args.gamma * (1 - done) * (target_critic(s2, a2).min(0).values - ent_coef * logp2)
            q_loss = (critic(s, a) - target_q).pow(2).mean(1).sum()
            if not torch.isfinite(q_loss):  # checked before the step: the saved networks are still finite
                stop_nonfinite("critic loss", global_step)
            q_optimizer.zero_grad(set_to_none=True)
            q_loss.backward()
            q_optimizer.step()
            if global_step % args.policy_frequency == 0:
                for _ in range(args.policy_frequency):
                    a_pi, logp = teacher.sample(s)[:2]
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
        progress.update(global_step, where="stage 1")
        if session is not None and session.stop_requested and global_step < args.teacher_timesteps:
            path = os.path.join(run_dir, "stage1_checkpoint.pt")
            if not (args.checkpoint_frequency > 0 and global_step % args.checkpoint_frequency == 0):
                save_stage1(global_step)
            envs.close()
            session.exit_stopped(f"stage 1, step {global_step}", path, resume_hint(args, path, "stage 1"))
    save_stage1(args.teacher_timesteps)
    envs.close()
    return teacher, args.teacher_timesteps


# ---------------------------------------------------------------------------------------------------------------------
# main: everything built once, by env family; then stage 1 (if any) and the DAgger loop
def main(args: Args):
    """Both stages. SIGINT or SIGTERM stops the run after the current step with a checkpoint and exit status 130; a
    second one quits at once (envs/guard.py)."""
    with guard.Session(os.path.basename(__file__)) as session:
        return train(args, session)


def train(args: Args, session):
    args = resolve_defaults(args)
    check_args(args)
    digit = args.env_id == DIGIT_ENV_ID
    quiet_known_warnings()
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.torch_threads > 0 or digit:
        torch.set_num_threads(args.torch_threads if args.torch_threads > 0 else 1)  # Digit: 1, as l2t_ppo_digit.py
    device = torch_device(args)
    rng = np.random.default_rng(args.seed)  # who executes each step (DAgger's beta coin)

    # Every file is read before any env is built: a stage-2 (or, not on Digit, a stage-1) checkpoint, the teacher
    ckpt, stage1_ckpt, first_round = read_resume(args)
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if args.resume is not None else None  # new: open_run
    if run_dir is not None and not session.lock(run_dir):
        fail(f"--resume: another process is running in the folder of '{args.resume}' (it holds the folder's lock)")
    teacher_path, teacher_flag = (
        (os.path.join(run_dir, "teacher.pt"), "--resume")
        if ckpt is not None
        else (args.teacher_checkpoint, "--teacher-checkpoint")
    )
    saved = None  # the teacher's file, when one is given
    if digit:
        teacher, saved = load_digit_teacher(teacher_path, teacher_flag)
        if saved.get("terrain") != args.terrain:  # the teacher reads the terrain through its height scan
            fail(
                f"--terrain: the teacher was trained on terrain={saved.get('terrain')!r}, this run has "
                f"{args.terrain!r}; pass --terrain {saved.get('terrain')}"
            )
    elif teacher_path is not None and stage1_ckpt is None:
        saved = read_teacher(teacher_path, args.env_id, teacher_flag)  # its sizes are checked against the envs below

    task = digit_task(args, saved) if digit else None  # the teacher's own task settings
    envs, to_env, state_dim, action_dim = make_train_envs(args, round_alpha(args, first_round), task)
    eval_envs, run = None, None
    try:
        stage1 = not digit and (teacher_path is None or stage1_ckpt is not None)
        check_memory(args, state_dim, action_dim, saved, stage1, device)
        run = open_run(args, run_dir, device, (ckpt or stage1_ckpt or {}).get("global_step"), session)
        run_dir = run.dir

        # Stage 1: the teacher, and what it cost in environment steps (read or counted, never assumed)
        if digit:
            teacher_steps = int(saved["global_step"])
            teacher_file = {k: v for k, v in saved.items() if k not in ("optimizers", "rng")}  # = its --save-model
        else:
            if teacher_path is not None and stage1_ckpt is None:
                teacher, teacher_steps, hidden = load_teacher(saved, teacher_path, state_dim, action_dim, teacher_flag)
            else:
                teacher, teacher_steps = train_teacher(
                    args, run.writer, device, run_dir, run.progress, stage1_ckpt, session
                )
                hidden = args.hidden_dim
            sizes = {"state_dim": state_dim, "action_dim": action_dim, "hidden_dim": hidden}
            teacher_file = {"format": TEACHER_FORMAT, "env_id": args.env_id, **sizes, "global_step": teacher_steps}
        teacher = teacher.to(device)
        teacher.requires_grad_(False)
        run.teacher_steps = teacher_steps
        if ckpt is None:  # this run's teacher, for resuming (and, not on Digit, in l2t_sac_mujoco.py's model format)
            save_file(
                teacher_file if digit else {**teacher_file, "teacher": teacher.state_dict()},
                os.path.join(run_dir, "teacher.pt"),
            )

        # Stage 2: the student from scratch on o, its dataset, and how each is evaluated
        R, N, T = args.dagger_rounds, args.num_envs, steps_per_round(args)
        if digit:
            from envs.digit.env import STUDENT_DIM  # imported here: other envs never load the Digit model

            lstm_hidden = int(saved["lstm_hidden"])
            sizes = {"lstm_hidden": lstm_hidden, "obs_normalization": bool(saved["obs_normalization"])}
            student = LSTMStudent(STUDENT_DIM, lstm_hidden, sizes["obs_normalization"]).to(device)
            dataset = SequenceDataset(
                min(args.dataset_capacity // args.seq_len, T // args.seq_len * N * R),
                args.seq_len,
                STUDENT_DIM,
                DIGIT_ACTION_DIM,
                lstm_hidden,
                args.seed,
            )
        else:
            student = MLPStudent(state_dim, action_dim, hidden).to(device)  # the teacher's architecture, on o
            dataset = TransitionDataset(T * N * R, state_dim, action_dim)
        optimizer = student.optimizer(args.student_lr)
        global_step = (
            teacher_steps if ckpt is None else restore_stage2(ckpt, student, optimizer, dataset, rng, args, first_round)
        )
        evaluate_teacher, evaluate_student, eval_envs = make_evaluators(args, teacher, student, run_dir, device, task)
        if ckpt is None:
            try:
                result = evaluate_teacher()
            except FloatingPointError:
                fail(
                    f"non-finite teacher action at global_step={teacher_steps} (evaluation): the teacher in "
                    f"'{args.teacher_checkpoint or args.resume}' is broken"
                )
            for key, values in result.items():  # once: the teacher does not change
                run.writer.add_scalar(f"eval/teacher_{key}", values.mean(), teacher_steps)
            run.progress.evaluation("teacher", result["return"].mean(), result["length"].mean())
            print(
                f"teacher: {teacher_steps} environment steps, eval/teacher_return={result['return'].mean():.1f}",
                flush=True,
            )
        if ckpt is None:  # stage 2's start: a SIGINT in the first round resumes from here
            save_checkpoint(run, args, 0, global_step, student, optimizer, dataset, rng)
        print(f"stage 2: {args.method}, rounds {first_round + 1}..{R}, {T * N} steps each", flush=True)
        run.progress.restart(teacher_steps + R * T * N, global_step)
        global_step = dagger(
            args,
            run,
            envs,
            to_env,
            teacher,
            student,
            dataset,
            optimizer,
            evaluate_student,
            rng,
            global_step,
            first_round,
        )

        if args.save_model:
            save_model(args, run, teacher, student, global_step, sizes)
    finally:
        if run is not None:
            run.writer.close()
        envs.close()
        if eval_envs is not None:
            eval_envs.close()
    return run_dir


# ---------------------------------------------------------------------------------------------------------------------
# Plumbing: environments and evaluation
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


def make_digit_envs(num_envs, num_workers, seed, alpha, noise, task, backend="mujoco", device="cpu"):
    """The vectorised Digit env, as l2t_ppo_digit.py builds it (SAME_STEP autoreset; obs = {"state": s,
    "observation": o}, both (N, OBS_DIM); the student reads o[:, :94]). `backend="warp"`: MuJoCo Warp on `device`
    (envs/digit/warp_vector.py) behind the same numpy interface (`HostArrays`: one host copy each way per step;
    the DAgger loop's dataset and bookkeeping are numpy). `task`: (env kwargs, terrain_columns) of the teacher's
    run (`envs.digit.env.task_from_run_args`), so the student learns on the task its teacher learnt."""
    env_kwargs, columns = task
    if backend == "warp":
        from envs.digit.warp_vector import DigitWarpVectorEnv, HostArrays

        return HostArrays(
            DigitWarpVectorEnv(
                num_envs=num_envs,
                device=str(device),
                seed=seed,
                alpha=alpha,
                noise=noise,
                env_kwargs=env_kwargs,
                terrain_columns=columns,
            )
        )
    from envs.digit.vector import DigitVectorEnv  # imported here so that a test can stand in a spy

    return DigitVectorEnv(
        num_envs=num_envs,
        num_workers=num_workers,
        seed=seed,
        alpha=alpha,
        noise=noise,
        env_kwargs=env_kwargs,
        terrain_columns=columns,
    )


def torch_device(args):
    """--device, else cuda when available and --cuda, else cpu."""
    return torch.device(args.device or ("cuda" if torch.cuda.is_available() and args.cuda else "cpu"))


def digit_task(args, teacher_file):
    """(env kwargs, terrain_columns): the task of the teacher's run (its saved flags), with this run's
    --max-episode-steps."""
    try:
        kwargs, columns = task_from_run_args(teacher_file.get("args", {}))
    except ValueError as e:
        fail(f"--teacher-checkpoint: {e}")
    return {**kwargs, "max_episode_steps": args.max_episode_steps}, columns


def make_train_envs(args, alpha, task=None):
    """Stage 2's vector env at noise `alpha`, and how an action in [-1, 1] is sent to it: (envs, to_env, state_dim,
    action_dim); the dimensions only for Gymnasium envs (a teacher must fit them)."""
    if args.env_id == DIGIT_ENV_ID:
        try:
            envs = make_digit_envs(
                args.num_envs,
                args.num_workers,
                args.seed + 1,
                alpha,
                args.noise,
                task,
                args.backend,
                torch_device(args),
            )
        except Exception as e:
            fail(f"cannot create the Digit envs ({type(e).__name__}: {first_line(e)})")
        return envs, lambda action: action.clamp(-1.0, 1.0).cpu().numpy(), None, None
    try:
        envs = gym.vector.SyncVectorEnv(
            [make_env(args.env_id, alpha, args.noise, args.seed + 1 + i) for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    except Exception as e:
        fail(f"--env-id: cannot create '{args.env_id}' ({type(e).__name__}: {first_line(e)})")
    if not isinstance(envs.single_action_space, gym.spaces.Box):
        fail(f"--env-id: '{args.env_id}' has {envs.single_action_space}; only continuous (Box) actions are supported")
    low, high = envs.single_action_space.low, envs.single_action_space.high
    return (
        envs,
        lambda action: to_env_action(action.cpu().numpy(), low, high),
        envs.single_observation_space["state"].shape[0],
        envs.single_action_space.shape[0],
    )


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


def log_episodes(writer, infos, global_step, progress):
    """Log the training episodes that ended at this step (and hand them to the progress line). Gymnasium's vector
    envs keep their statistics in infos["final_info"], DigitVectorEnv in infos (with the terrain level and success)."""
    info = infos.get("final_info", infos)
    if "episode" in info:
        ep = info["episode"]
        for i in np.flatnonzero(info["_episode"]):
            writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
            writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)
            if "terrain_level" in ep:
                writer.add_scalar("charts/terrain_level", ep["terrain_level"][i], global_step)
                writer.add_scalar("charts/success_rate", ep["success"][i], global_step)
            progress.episode(ep["r"][i], ep["l"][i])


def evaluate(actor, key, env_fns, seed, device):
    """Run each env of `env_fns` for one episode with deterministic actions on obs[key]; returns arrays over the
    episodes: return, length. A non-finite action raises FloatingPointError (the caller turns it into one line)."""
    envs = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    try:
        obs, _ = envs.reset(seed=seed)
        n = envs.num_envs
        returns, lengths, done = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        low, high = envs.single_action_space.low, envs.single_action_space.high
        while not done.all():
            action = actor.act(torch.as_tensor(obs[key], dtype=torch.float32, device=device))
            if not torch.isfinite(action).all():
                raise FloatingPointError(f"non-finite action on {key}")
            obs, reward, terminated, truncated, _ = envs.step(to_env_action(action.cpu().numpy(), low, high))
            returns += reward * ~done
            lengths += ~done
            done |= terminated | truncated
    finally:
        envs.close()
    return {"return": returns, "length": lengths}


@torch.no_grad()
def evaluate_digit(envs, teacher, student, who, seed, device):
    """One episode in each env with deterministic (mean) actions, clipped to [-1, 1]: the teacher on the clean state
    s, the student ALONE on the noisy observation o (its LSTM from a zero state). As l2t_ppo_digit.evaluate; returns
    arrays over the episodes: return, length, success, distance."""
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    done = np.zeros(n, dtype=bool)
    out = {k: np.zeros(n) for k in ("return", "length", "success", "distance")}
    hidden = student.initial_memory(n, device)
    while not done.all():
        if who == "teacher":
            action = teacher.act(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))
        else:
            o = student.observation(obs, device)
            action, hidden = student.student.step(student.obs_norm(o), hidden)
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


def make_evaluators(args, teacher, student, run_dir, device, task=None):
    """(evaluate_teacher(), evaluate_student(round), eval envs to close or None): one episode per --eval-episodes,
    deterministic actions, the same seeds every time; the student alone on o at alpha, the teacher on s."""
    seed = args.seed + 10_000
    if args.env_id == DIGIT_ENV_ID:
        workers = max([w for w in range(1, args.num_workers + 1) if args.eval_episodes % w == 0], default=0)
        envs = make_digit_envs(args.eval_episodes, workers, seed, args.alpha, args.noise, task, args.backend, device)
        return (
            lambda: evaluate_digit(envs, teacher, student, "teacher", seed, device),
            lambda round_index: evaluate_digit(envs, teacher, student, "student", seed, device),
            envs,
        )

    def evaluate_student(round_index):
        video = os.path.join(run_dir, "videos")
        return evaluate(
            student,
            "observation",
            [
                make_env(
                    args.env_id,
                    args.alpha,
                    args.noise,
                    seed + i,
                    args.capture_video and i == 0,
                    video,
                    f"student-round{round_index}",
                )
                for i in range(args.eval_episodes)
            ],
            seed,
            device,
        )

    return (
        lambda: evaluate(
            teacher,
            "state",
            [make_env(args.env_id, 0.0, args.noise, seed + i) for i in range(args.eval_episodes)],
            seed,
            device,
        ),
        evaluate_student,
        None,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Plumbing: errors, defaults, argument checks
def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


def option(name: str) -> str:
    """The command-line spelling of an Args field: `student_lr` -> `--student-lr`."""
    return f"--{name.replace('_', '-')}"


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def resolve_defaults(args: Args) -> Args:
    """Fill in the env-dependent defaults (None on the command line): --alpha and --student-loss."""
    digit = args.env_id == DIGIT_ENV_ID
    alpha = (0.1 if digit else 0.4) if args.alpha is None else args.alpha
    student_loss = ("l2" if digit else "l1") if args.student_loss is None else args.student_loss
    return dataclasses.replace(args, alpha=alpha, student_loss=student_loss)


def run_name(args: Args) -> str:
    """The run folder's name ("/" of a namespaced id would nest folders)."""
    family = f"Digit-{args.terrain}" if args.env_id == DIGIT_ENV_ID else args.env_id.replace("/", "_")
    return f"{family}__{args.exp_name}__{args.method}__{args.seed}__{int(time.time())}"


def resume_hint(args: Args, ckpt_path: str, where: str) -> str:
    """How to continue a stopped run: its command line with --resume (a resumed run reads its teacher from the run
    folder's teacher.pt)."""
    return f"{guard.resume_command(__file__, args, ckpt_path)} (continues with {where})"


def check_memory(args: Args, state_dim, action_dim, saved, stage1: bool, device):
    """Refuse, before allocating, buffers, datasets and networks larger than the memory free now."""
    parts = []
    R, N, T = args.dagger_rounds, args.num_envs, steps_per_round(args)
    if args.env_id == DIGIT_ENV_ID:
        from envs.digit.env import STUDENT_DIM  # imported here: other envs never load the Digit model

        hidden = int(saved["lstm_hidden"])
        sequences = min(args.dataset_capacity // args.seq_len, T // args.seq_len * N * R)
        per_sequence = 4 * args.seq_len * (STUDENT_DIM + DIGIT_ACTION_DIM + 1) + args.seq_len + 8 * hidden
        round_bytes = T * N * (4 * (STUDENT_DIM + DIGIT_ACTION_DIM + 1) + 1) + 8 * (T // args.seq_len) * N * hidden
        parts.append(("dataset", "--dataset-capacity", 2 * sequences * per_sequence + round_bytes))
        student = guard.module_bytes(lambda: LSTMStudent(STUDENT_DIM, hidden, True))
    else:
        hidden = int(saved["hidden_dim"]) if saved is not None else args.hidden_dim
        rows = T * N * R  # TransitionDataset: o, the teacher's label, who acted; copied into each checkpoint
        parts.append(("dataset", "--stage2-timesteps", 2 * rows * (4 * (state_dim + action_dim) + 1)))
        student = guard.module_bytes(lambda: MLPStudent(state_dim, action_dim, hidden))
        if stage1:
            rows = min(args.buffer_size, args.teacher_timesteps)  # (s, a, r, s', terminated), copied at checkpoints
            nets = (
                guard.module_bytes(lambda: Actor(state_dim, action_dim, args.hidden_dim))
                + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim))
                + guard.module_bytes(lambda: TwinQ(state_dim + action_dim, args.hidden_dim), trainable=False)
                + 4 * 32 * args.batch_size * args.hidden_dim
            )
            parts += [
                ("replay buffer", "--buffer-size", 2 * rows * 4 * (2 * state_dim + action_dim + 2)),
                ("stage-1 networks", "--hidden-dim", nets),
            ]
    parts.append(("student", "--student-batch-size", student + 4 * 32 * args.student_batch_size * hidden))
    guard.check_memory(parts, device, fail)


def check_args(args: Args):
    """One-line errors for every flag that could otherwise fail deep inside gymnasium or torch."""
    digit = args.env_id == DIGIT_ENV_ID
    for field in dataclasses.fields(args):  # every real-valued flag: nan and inf are never meant
        value = getattr(args, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"{option(field.name)} must be a finite number, got {value}")
    if args.device:
        guard.check_device(args.device, fail)
    refused = NOT_DIGIT_FLAGS if digit else DIGIT_ONLY_FLAGS  # a flag of the other env family is refused, not ignored
    for field in dataclasses.fields(args):
        if field.name in refused and getattr(args, field.name) != field.default:
            why = (
                "benchmarks/render_digit.py renders Digit"
                if field.name == "capture_video"
                else "on Digit, stage 1 is l2t_ppo_digit.py's and the student's sizes come from its checkpoint"
            )
            fail(
                f"{option(field.name)} does not apply to --env-id {DIGIT_ENV_ID} ({why})"
                if digit
                else f"{option(field.name)} applies to --env-id {DIGIT_ENV_ID} only, not {args.env_id}"
            )
    for name in ("policy_lr", "q_lr", "student_lr"):
        if not getattr(args, name) > 0:
            fail(f"{option(name)} must be positive, got {getattr(args, name)}")
        if getattr(args, name) > MAX_LEARNING_RATE:
            fail(
                f"{option(name)} must be at most {MAX_LEARNING_RATE:g}: Adam moves every weight by about the rate at "
                f"each step, so a larger one throws the networks away; got {getattr(args, name)}"
            )
    if not (0 < args.gamma <= 1 and 0 < args.tau <= 1):
        fail(f"--gamma and --tau must be in (0, 1], got {args.gamma} and {args.tau}")
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        fail(f"--alpha must be a finite number >= 0, got {args.alpha}")
    if args.alpha > MAX_NOISE_ALPHA:
        fail(
            f"--alpha must be at most {MAX_NOISE_ALPHA:g}: noise {MAX_NOISE_ALPHA:g} times the state's own size "
            f"already hides the state, and beyond it float32 observations overflow; got {args.alpha}"
        )
    guard.check_seed(args.seed, fail)
    guard.check_threads({"--torch-threads": args.torch_threads}, fail)
    guard.check_name("--exp-name", args.exp_name, fail)
    for name, value, choices in (
        ("noise", args.noise, NOISE_TYPES),
        ("method", args.method, METHODS),
        ("student_loss", args.student_loss, STUDENT_LOSSES),
        ("beta_schedule", args.beta_schedule, BETA_SCHEDULES),
    ):
        if value not in choices:
            fail(f"{option(name)} must be one of {', '.join(choices)}, got '{value}'")
    if not 0 <= args.beta_decay <= 1:
        fail(f"--beta-decay must be in [0, 1], got {args.beta_decay}")
    if args.checkpoint_frequency < 0:
        fail(f"--checkpoint-frequency must be >= 0, got {args.checkpoint_frequency}")
    for name in (
        "stage2_timesteps",
        "num_envs",
        "dagger_rounds",
        "epochs_per_round",
        "student_batch_size",
        "eval_episodes",
        "buffer_size",
        "batch_size",
        "policy_frequency",
        "hidden_dim",
    ):
        if getattr(args, name) <= 0:
            fail(f"{option(name)} must be positive, got {getattr(args, name)}")
    if digit:
        check_digit_args(args)
    if args.stage2_timesteps < args.dagger_rounds * args.num_envs:
        fail(
            f"--stage2-timesteps ({args.stage2_timesteps}) must allow one step per env in each of the "
            f"--dagger-rounds ({args.dagger_rounds}) with --num-envs {args.num_envs}"
        )
    if args.teacher_checkpoint is None and args.resume is None and args.teacher_timesteps <= args.learning_starts:
        fail(f"--teacher-timesteps ({args.teacher_timesteps}) must exceed --learning-starts ({args.learning_starts})")
    if args.learning_starts < args.batch_size:
        fail(f"--learning-starts ({args.learning_starts}) must be at least --batch-size ({args.batch_size})")
    if not digit and args.teacher_checkpoint is None:  # stage 1 trains (or may, on --resume)
        if min(args.buffer_size, args.teacher_timesteps) < args.batch_size:
            fail(f"--buffer-size ({args.buffer_size}) must hold at least one batch (--batch-size {args.batch_size})")
        # stage 1 trains from step --learning-starts + 1 on and updates its actor at the multiples of
        # --policy-frequency
        if (args.learning_starts // args.policy_frequency + 1) * args.policy_frequency > args.teacher_timesteps:
            fail(
                f"--teacher-timesteps ({args.teacher_timesteps}) leaves no actor update of stage 1 after "
                f"--learning-starts ({args.learning_starts}): it comes every --policy-frequency "
                f"({args.policy_frequency}) steps"
            )
    try:
        gym.spec(args.env_id)
    except gym.error.Error as e:
        fail(f"--env-id: unknown environment '{args.env_id}' ({first_line(e)})")
    if args.teacher_checkpoint is not None and not os.path.isfile(args.teacher_checkpoint):
        fail(f"--teacher-checkpoint: no file at '{args.teacher_checkpoint}'")
    if args.resume is not None:
        guard.check_resume_file("--resume", args.resume, fail)
    else:  # every output path, tried before any work
        guard.check_run_folder(
            "--runs-dir",
            args.runs_dir,
            run_name(args),
            (
                "checkpoint.pt",
                "stage1_checkpoint.pt",
                "teacher.pt",
                f"{args.exp_name}.cleanrl_model",
                f"nonfinite_round{args.dagger_rounds}.pt",
                f"nonfinite_stage1_step{args.teacher_timesteps}.pt",
            ),
            fail,
        )
    if args.capture_video:
        guard.check_rendering(fail)


def check_digit_args(args: Args):
    """The flags only Digit uses."""
    if args.teacher_checkpoint is None and args.resume is None:
        fail(
            f"--teacher-checkpoint is required with --env-id {DIGIT_ENV_ID}: this script trains no teacher on Digit "
            "(stage 1 is a PPO teacher of l2t_ppo_digit.py, e.g. `python l2t_ppo_digit.py --student-loss none "
            "--alpha-mix 0`, whose runs/<run>/checkpoint.pt is the teacher checkpoint)"
        )
    if args.terrain not in ("rough", "flat"):
        fail(f"--terrain must be rough or flat, got '{args.terrain}'")
    for name in ("max_episode_steps", "seq_len", "dataset_capacity"):
        if getattr(args, name) <= 0:
            fail(f"{option(name)} must be positive, got {getattr(args, name)}")
    if args.num_workers < 0:
        fail(f"--num-workers must be >= 0, got {args.num_workers}")
    if args.backend not in ("mujoco", "warp"):
        fail(f"--backend must be mujoco or warp, got {args.backend!r}")
    if args.backend == "warp" and importlib.util.find_spec("mujoco_warp") is None:
        fail("--backend warp needs mujoco-warp and warp-lang: pip install -r requirements.txt")
    if args.backend == "mujoco" and args.num_workers > 0 and args.num_envs % args.num_workers != 0:
        fail(f"--num-envs ({args.num_envs}) must be a multiple of --num-workers ({args.num_workers})")
    if args.dataset_capacity < args.seq_len:
        fail(
            f"--dataset-capacity ({args.dataset_capacity}) must hold at least one sequence of --seq-len "
            f"({args.seq_len}) steps"
        )
    if steps_per_round(args) < 1:
        fail(
            f"--stage2-timesteps ({args.stage2_timesteps}) must allow one sequence of --seq-len ({args.seq_len}) "
            f"steps per env in each of the --dagger-rounds ({args.dagger_rounds}) with --num-envs {args.num_envs}"
        )


# ---------------------------------------------------------------------------------------------------------------------
# Plumbing: teacher files, checkpoints, RNG states, resume
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


def load_digit_teacher(path, flag="--teacher-checkpoint"):
    """A teacher saved by l2t_ppo_digit.py (checkpoint.pt or .cleanrl_model): (DigitTeacher, the file's dict).

    Refuses, in one line, a file that is not such a checkpoint, has other dimensions, or does not load strictly."""
    from envs.digit.env import OBS_DIM, STUDENT_DIM  # imported here: other envs never load the Digit model

    try:
        saved = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"{flag}: {e}")
    if not isinstance(saved, dict) or saved.get("format") != DIGIT_TEACHER_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        fail(
            f"{flag}: '{path}' is not a checkpoint of l2t_ppo_digit.py (format {found!r}, expected "
            f"{DIGIT_TEACHER_FORMAT!r}), which --env-id {DIGIT_ENV_ID} needs"
        )
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
        fail(
            f"{flag}: '{path}' does not fit l2t_ppo_digit.py's teacher ({type(e).__name__}: "
            f"{detail[:300] + ' ...' if len(detail) > 300 else detail})"
        )
    return teacher, saved


RESUME_KEYS = (
    "env_id",
    "method",
    "dagger_rounds",
    "stage2_timesteps",
    "num_envs",
    "student_loss",
    "curriculum",
    "seq_len",
    "dataset_capacity",
    "terrain",
    "max_episode_steps",
)  # a resumed run must repeat these


def read_resume(args):
    """--resume read before any work: (stage-2 checkpoint or None, stage-1 checkpoint or None, first round)."""
    if args.resume is None:
        return None, None, 0
    try:
        ckpt = checkpoint_file.load(args.resume)
    except checkpoint_file.CheckpointError as e:
        fail(f"--resume: {e}")
    digit = args.env_id == DIGIT_ENV_ID
    if not digit and isinstance(ckpt, dict) and ckpt.get("format") == STAGE1_FORMAT:  # an interrupted stage 1
        if ckpt["args"]["env_id"] != args.env_id:
            fail(f"--resume: checkpoint has env_id={ckpt['args']['env_id']!r}, this run has {args.env_id!r}")
        if ckpt["global_step"] >= args.teacher_timesteps:
            fail(
                f"--resume: stage 1 finished at step {ckpt['global_step']}; resume from the run's "
                f"teacher with --teacher-checkpoint {os.path.join(os.path.dirname(args.resume), 'teacher.pt')}"
            )
        return None, ckpt, 0
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        fail(
            f"--resume: '{args.resume}' is not a {CHECKPOINT_FORMAT} checkpoint (on Digit only stage 2 runs here)"
            if digit
            else f"--resume: '{args.resume}' is not a {CHECKPOINT_FORMAT} or {STAGE1_FORMAT} checkpoint"
        )
    for key in RESUME_KEYS:
        if ckpt["args"].get(key) != getattr(args, key):
            fail(f"--resume: checkpoint has {key}={ckpt['args'].get(key)!r}, this run has {getattr(args, key)!r}")
    if ckpt["round"] >= args.dagger_rounds:
        fail(f"--resume: '{args.resume}' has finished all {args.dagger_rounds} rounds")
    return ckpt, None, ckpt["round"]


def rng_state(beta_coin=None):
    """torch's, numpy's and python's generators (envs/checkpoint.py), and DAgger's beta coin if given."""
    state = checkpoint_file.rng_state()
    if beta_coin is not None:
        state["beta_coin"] = beta_coin.bit_generator.state
    return state


def set_rng_state(state, beta_coin=None):
    checkpoint_file.set_rng_state(state)
    if beta_coin is not None:
        beta_coin.bit_generator.state = state["beta_coin"]


def save_file(obj, path):
    """checkpoint_file.save (atomic, with a digest); a write the disk refuses stops the run in one line, the
    previous file kept."""
    try:
        checkpoint_file.save(obj, path)
    except checkpoint_file.WriteError as e:
        fail(str(e))


def save_checkpoint(run, args, next_round, global_step, student, optimizer, dataset, rng):
    """checkpoint.pt after every round (atomic, with a digest: envs/checkpoint.py)."""
    save_file(
        {
            "format": CHECKPOINT_FORMAT,
            "args": asdict(args),
            "round": next_round,
            "global_step": global_step,
            "teacher_steps": run.teacher_steps,
            "student": student.state_dict(),
            "optimizer": optimizer.state_dict(),
            "dataset": dataset.state_dict(),
            "rng": rng_state(rng),
        },
        os.path.join(run.dir, "checkpoint.pt"),
    )


def save_model(args, run, teacher, student, global_step, sizes):
    """--save-model: the final student and its teacher (not on Digit: l2t_sac_mujoco.py's model format)."""
    path = os.path.join(run.dir, f"{args.exp_name}.cleanrl_model")
    save_file(
        {
            "format": DIGIT_MODEL_FORMAT if args.env_id == DIGIT_ENV_ID else TEACHER_FORMAT,
            "env_id": args.env_id,
            **sizes,
            "global_step": global_step,
            "teacher": teacher.state_dict(),
            "student": student.state_dict(),
        },
        path,
    )
    print(f"model saved to {path}")


def restore_stage2(ckpt, student, optimizer, dataset, rng, args, first_round):
    """Load a stage-2 checkpoint's student, optimiser, dataset and RNG states; returns its global step."""
    student.load_state_dict(ckpt["student"])
    optimizer.load_state_dict(ckpt["optimizer"])
    dataset.load_state_dict(ckpt["dataset"])
    set_rng_state(ckpt["rng"], rng)
    print(f"resumed from {args.resume} at round {first_round}, global_step={ckpt['global_step']}", flush=True)
    return ckpt["global_step"]


# ---------------------------------------------------------------------------------------------------------------------
# Plumbing: the run's folder, writer and progress lines
def open_run(args, run_dir, device, resumed_step, session=None):
    """The run folder (a resumed run's `run_dir`, or a new folder of its own, locked while this run lives), its
    TensorBoard writer (envs/checkpoint.py: a resumed run drops the events logged after its checkpoint's step) and
    stale temporary files removed (left by a run killed while writing)."""
    if run_dir is None:
        try:
            run_dir = guard.new_run_dir(args.runs_dir, run_name(args))
        except OSError as e:
            fail(f"--runs-dir: cannot create a run folder in '{args.runs_dir}' ({e.strerror or first_line(e)})")
        if session is not None:
            session.lock(run_dir)
    else:
        checkpoint_file.remove_stale_temps_in(run_dir)
    writer = checkpoint_file.open_writer(run_dir, args, resumed_step or 0)
    # a progress line every 20 s (envs/console.py); each stage restarts it with its own final step
    return Run(run_dir, writer, device, Progress(args.teacher_timesteps, resumed_step or 0), session=session)


@dataclass
class Run:
    dir: str
    writer: object  # torch.utils.tensorboard.SummaryWriter
    device: torch.device
    progress: Progress
    teacher_steps: int = 0
    session: object = None  # envs/guard.Session: SIGINT / SIGTERM requests


if __name__ == "__main__":
    main(tyro.cli(Args))
