# L2T-RL with PPO on Digit (paper 2): an MLP teacher trained by PPO on the privileged state s and an LSTM
# student on the noisy observation o, trained in ONE loop on the rollouts the two of them collect together
# (sample mixing). Read next to "Learn to Teach: Sample-Efficient Privileged Learning for Humanoid Locomotion
# over Real-World Uneven Terrain" (paper 2, Wu et al.): section III, Fig. 2, Eqs. (1)-(5), Algorithm 1.
# The file reads top to bottom: flags, envs, networks, the rollout (Eq. 1), GAE and the losses (Eqs. 2-5), the
# training loop with the whole update in view, deployment (TorchScript export), and last the plumbing.
#
# One iteration (Algorithm 1, on-policy form):
#   1. roll out `num_steps` steps in every env; in each step and each env the executed action comes from the
#      student with probability alpha_mix, else from the teacher (Eq. 1); the student's LSTM advances every step;
#   2. the teacher's critic and policy take PPO steps on the rollout (Eq. 2 solved by PPO, rsl_rl's defaults);
#   3. the student takes a step on the SAME rollout after each teacher step (Eq. 3, 4 or 3 + 5), on whole
#      per-env sequences (truncated backprop through the rollout).
# The student's samples are free: every step stores both s (teacher) and o (student) (section III).
import copy
import importlib.util
import math
import os
import random
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro

from envs import checkpoint as checkpoint_file
from envs import guard
from envs import terrain as terrain_mod
from envs.console import Progress, quiet_known_warnings
from envs.digit import ACTION_DIM
from envs.digit.env import (
    CURRICULUM_RULES,
    DIGIT_NOISY_MASK,
    ENV_ID,
    HEIGHT_SCAN_CENTRE,
    OBS_DIM,
    OBS_SLICES,
    STUDENT_DIM,
    DigitEnv,
)
from envs.digit.rewards import REWARD_WEIGHT_SETS
from envs.digit.symmetry import ACTION_MAP, STATE_MAP, mirror
from envs.digit.warp_backend import WarpOverflowError
from envs.noise import NOISE_TYPES, NoisyObservation

STUDENT_LOSSES = ("il", "kl", "il+asym", "none")
CHECKPOINT_FORMAT = "l2t_ppo_digit/2"  # /2: the critic has its own optimiser
HIDDEN_SIZES = (512, 256, 128)  # Fig. 2: teacher MLP, student MLP after the LSTM, and the critic
COLUMN_TYPES = terrain_mod.column_types(terrain_mod.NUM_COLS)  # terrain type of each column of the rough grid
# The curriculum's start, not a flag: every env starts on the easiest row, and env i always plays the same terrain
# column (Isaac Lab's rule). Saved with the flags in checkpoints, so that whoever reads a run knows its task.
CURRICULUM_START = {"max_init_level": 0, "terrain_columns": "fixed"}
SCAN_STANDING = 0.5  # the height scan's value under a torso at the standing height, 1.0 m: 1.0 - 0 - 0.5


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
    device: str = ""
    """torch device of the networks, and with `--backend warp` of the physics (empty: cuda if available)"""
    backend: str = "mujoco"
    """Digit's physics: `mujoco` (CPU worker processes) or `warp` (MuJoCo Warp worlds on --device, for a GPU)"""
    torch_threads: int = 1
    """torch CPU threads during the rollout, while the env workers step (0: torch's default)"""
    update_threads: int = 2
    """torch CPU threads during the update, while the env workers wait (0: as --torch-threads)"""
    student_thread: bool = True
    """with 2 or more update threads: the student's steps run on half of them beside the teacher's (same arithmetic)"""
    flush_denormal: bool = True
    """flush denormal floats to zero (a trained critic's ELUs make them, and the CPU is slow on them)"""
    capture_video: bool = False
    """record one teacher and one student evaluation episode as MP4 to `runs/{run_name}/videos` (MUJOCO_GL=egl)"""
    save_model: bool = False
    """save the final networks and normalisers to `runs/{run_name}/{exp_name}.cleanrl_model`"""
    runs_dir: str = "runs"
    """folder that holds one sub-folder per run (TensorBoard events, checkpoints)"""

    # Environment (envs/digit: l2t/Digit-v3 in DigitVectorEnv) and observation noise (paper 2, section IV-A)
    terrain: str = "rough"
    """`rough` (the terrain grid with its curriculum, the paper's task) or `flat` (a floor plane, cheaper)"""
    reward_weights: str = "v2"
    """the env's reward weights: `v2` (the recipe's), `v1`, or `paper` (Table II as printed)"""
    gravity_axes: str = "z"
    """randomised gravity axes: `z` (Isaac Lab) or `xyz` (Table III read per axis)"""
    curriculum: str = "tracking"
    """terrain level rule: `tracking` (down after a fall or poor tracking, up after 2 m of good tracking) or `isaac`"""
    terrain_preset: str = "gentle"
    """rough tiles: `gentle` (stairs and stone gaps from 0: row 0 flat but for random rough), `isaac`, `gentle_v2`"""
    max_episode_steps: int = 1000
    """episode length in policy steps of 20 ms (1000 = the paper's 20 s); a time-out is a truncation"""
    alpha: float = 0.1
    """noise scale alpha >= 0 of the student's sensor terms (the authors' Digit runs used 0.1)"""
    noise: str = "uniform"
    """noise model: `uniform` (o = s + alpha*eps, eps_i ~ U[-|s_i|, |s_i|]) or `gaussian` (o = s + N(0, alpha^2))"""
    num_envs: int = 64
    """number of parallel environments (the paper: 4096 on a GPU)"""
    num_workers: int = 2
    """worker processes that step the envs (0: all in this process); must divide --num-envs"""

    # Teacher: PPO (rsl_rl's defaults and Isaac Lab's Digit rough config)
    total_timesteps: int = 30_000_000
    """total environment steps (all envs together), rounded up to whole iterations"""
    num_steps: int = 24
    """steps per env per iteration (rollout length; also the student's backprop-through-time length)"""
    learning_rate: float = 1e-3
    """the teacher's initial learning rate (its actor's Adam; adapted by `--lr-schedule`)"""
    critic_lr: float = 1e-3
    """the critic's learning rate (its own Adam, fixed; rsl_rl shares the actor's adaptive rate)"""
    lr_schedule: str = "adaptive"
    """`adaptive` (rsl_rl: divide/multiply the lr by 1.5 when the teacher's KL leaves [kl/2, 2 kl]) or `fixed`"""
    desired_kl: float = 0.05
    """the KL target of the adaptive learning rate (rsl_rl: 0.01)"""
    update_epochs: int = 5
    """PPO epochs over each rollout"""
    num_minibatches: int = 4
    """minibatches per epoch (the teacher: random quarters of the transitions; the student: of the envs)"""
    gamma: float = 0.99
    """the discount factor gamma"""
    gae_lambda: float = 0.95
    """the lambda of generalised advantage estimation"""
    clip_coef: float = 0.2
    """the PPO ratio clip, also the value clip"""
    clip_vloss: bool = True
    """clipped value loss (rsl_rl's default)"""
    vf_coef: float = 1.0
    """weight of the value loss"""
    ent_coef: float = 0.0
    """weight of the teacher's entropy bonus (Isaac Lab's Digit rough config: 0.01, under which our std grows)"""
    max_grad_norm: float = 1.0
    """gradient-norm clip of each network (teacher actor, critic, student)"""
    adv_norm: str = "rollout"
    """advantage normalisation: `rollout` (rsl_rl's default: once over the rollout), `minibatch` (CleanRL's), `none`"""
    init_noise_std: float = 0.05
    """initial std of the teacher's Gaussian in action units of 0.5 rad (rsl_rl: 1.0; larger topples Digit)"""
    actor_init_scale: float = 0.01
    """scale of the mean networks' last layer at initialisation, so both policies start near standing"""
    randomization_ramp_steps: int = 2_000_000
    """steps over which Table III's randomisation strength rises from 0 to 1 (0: full from the start)"""
    symmetry: bool = False
    """left-right symmetry: each update also trains the teacher and critic on the rollout's mirror images"""
    obs_normalization: bool = True
    """empirical normalisation of s (teacher, critic) and o (student): running mean/var, saved and exported"""

    # Student (paper 2, Fig. 2, Eqs. 3-5)
    student_loss: str = "il"
    """`il` (Eq. 3: squared L2 between mean actions; best in the paper), `kl` (Eq. 4), `il+asym` (Eq. 3 + 5), `none`"""
    student_lr: float = 1e-3
    """the student's learning rate (fixed, Adam)"""
    lstm_hidden: int = 128
    """hidden units of the student's LSTM (Fig. 2: 128)"""
    asym_coef: float = 1.0
    """weight of the asymmetric term (Eq. 5) in `il+asym`"""

    # Sample mixing (Eq. 1)
    alpha_mix: float = 0.2
    """final probability alpha_mix in [0, 1] that the student's action is executed (per step, per env; paper: 0.2)"""
    mix_schedule_fraction: float = 1.0
    """alpha_mix rises linearly from 0 over this fraction of --total-timesteps (0: constant)"""

    # Evaluation, logging, checkpoints
    eval_frequency: int = 200
    """evaluate teacher and student every this many iterations (0: only at the end)"""
    eval_episodes: int = 10
    """episodes per evaluation (in parallel, deterministic actions, the same seeds every time)"""
    checkpoint_frequency: int = 100
    """write `runs/{run_name}/checkpoint.pt` every this many iterations and at the end (0: only at the end)"""
    resume: Optional[str] = None
    """path of a checkpoint.pt to continue from (same flags; `--total-timesteps` may be raised)"""
    export_student: Optional[str] = None
    """at the end, write the student with its observation normalisation as TorchScript to this path"""


def make_envs(
    num_envs, num_workers, seed, alpha, noise, env_kwargs, terrain_columns="fixed", backend="mujoco", device="cpu"
):
    """The vectorised Digit env (SAME_STEP autoreset; obs = {"state": s, "observation": o}, both (N, OBS_DIM)):
    numpy arrays from `DigitVectorEnv` (MuJoCo on the CPU), torch tensors on `device` from `DigitWarpVectorEnv`
    (MuJoCo Warp; its `on_device` is True). Both run the same task code (envs/digit/task.py)."""
    if backend == "warp":
        from envs.digit.warp_vector import DigitWarpVectorEnv

        return DigitWarpVectorEnv(
            num_envs=num_envs,
            device=str(device),
            seed=seed,
            alpha=alpha,
            noise=noise,
            env_kwargs=env_kwargs,
            terrain_columns=terrain_columns,
        )
    from envs.digit.vector import DigitVectorEnv  # imported here so that a test can stand in a fake env

    return DigitVectorEnv(
        num_envs=num_envs,
        num_workers=num_workers,
        seed=seed,
        alpha=alpha,
        noise=noise,
        env_kwargs=env_kwargs,
        terrain_columns=terrain_columns,
    )


# ALGO LOGIC: networks (Fig. 2). Actions are the env's normalised targets; the env clips them to [-1, 1] and
# so do we before sending, but the Gaussian samples are stored unclipped (rsl_rl), so log-probabilities are exact.
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


def input_keep_mask(terrain: str) -> torch.Tensor:
    """Which of the privileged state's OBS_DIM inputs the teacher and the critic see (1) or not (0).

    On flat ground the 187 height-scan values are one number (torso height - 0.5) repeated: each copy, normalised
    to unit variance, would move the networks' first layer 187 times as much as one input does (ours: zeroing the
    copies cut the one-step change of the untrained teacher's action 4.2x). So on flat ground they see the scan's
    centre point only; on rough ground all of it. The layout (and so a checkpoint's shapes) stays the same.
    """
    keep = torch.ones(OBS_DIM)
    if terrain == "flat":
        keep[OBS_SLICES["height_scan"]] = 0.0
        keep[HEIGHT_SCAN_CENTRE] = 1.0
    return keep


def fixed_inputs() -> torch.Tensor:
    """The state inputs that the normaliser centres at a fixed value and does not scale (NaN: the others).

    The 187 height-scan values (base_z - ground_z - 0.5, in metres, clipped to [-1, 1]) enter as metres less 0.5, their
    value under a torso at the standing height (1.0 m) on flat ground. Their running std is set by the envs on flat
    tiles (a few cm), so normalised a 3 cm step would read as one unit and the pit beside a stepping stone as tens;
    Isaac Lab and legged_gym feed the scan in metres too (docs/l2t_ppo_digit.md, "The height scan in metres").
    """
    fixed = torch.full((OBS_DIM,), float("nan"))
    fixed[OBS_SLICES["height_scan"]] = SCAN_STANDING
    return fixed


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


class L2TNets(nn.Module):
    """The five learnt parts of one run, in one module so that they move and save together.

    `actor_init_scale` scales the last layer of both mean networks (weights and biases) at initialisation, so that
    both policies start near zero action, i.e. near the standing pose (`--actor-init-scale`).
    """

    def __init__(
        self,
        lstm_hidden: int,
        init_std: float,
        obs_normalization: bool,
        actor_init_scale: float = 1.0,
        terrain: str = "rough",
    ):
        super().__init__()
        self.teacher = Teacher(OBS_DIM, ACTION_DIM, init_std)  # on s: the privileged state, clean
        self.critic = mlp(OBS_DIM, 1)  # V^{pi_t}(s), the teacher's critic on the clean state
        self.student = Student(STUDENT_DIM, ACTION_DIM, lstm_hidden, init_std)  # on o: the sensor terms, noisy
        keep, fixed = input_keep_mask(terrain), fixed_inputs()
        self.state_norm = EmpiricalNormalization(OBS_DIM, obs_normalization, keep=keep, fixed=fixed)
        self.obs_norm = EmpiricalNormalization(STUDENT_DIM, obs_normalization)
        with torch.no_grad():
            for last in (self.teacher.actor[-1], self.student.head[-1]):
                last.weight.mul_(actor_init_scale)
                last.bias.mul_(actor_init_scale)

    def value(self, state_n):
        return self.critic(state_n).squeeze(-1)


def student_log_std(kind, nets):
    """The std the student samples with when it acts (Eq. 1), and of its Gaussian in the asymmetric term.

    `kl` trains the student's own std towards the teacher's (Eq. 4), so it samples with it. `il`/`il+asym` match
    means only (Eq. 3); a state-independent std carries no information about o, so the student explores with the
    teacher's current std: its samples then stay where the teacher's Gaussian has mass, which is what keeps
    pi_t(a_s|s) > 0 for the teacher's PPO (paper, section III).
    """
    return nets.student.log_std.detach() if kind == "kl" else nets.teacher.log_std.detach()


def gaussian_log_prob(x, mean, log_std):
    """log N(x; mean, exp(log_std)^2), summed over the last dimension."""
    return (-0.5 * ((x - mean) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mean_p, log_std_p, mean_q, log_std_q):
    """KL(N_p || N_q) of diagonal Gaussians, summed over the last dimension."""
    var_p, var_q = (2 * log_std_p).exp(), (2 * log_std_q).exp()
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).pow(2)) / (2 * var_q) - 0.5).sum(-1)


def mix_coefficient(global_step, total_timesteps, alpha_mix, schedule_fraction):
    """Eq. (1)'s alpha_mix at `global_step`: linear from 0 to `alpha_mix` over `schedule_fraction` of the run."""
    if schedule_fraction == 0:
        return alpha_mix
    return alpha_mix * min(1.0, global_step / (schedule_fraction * total_timesteps))


def randomization_scale(global_step, ramp_steps):
    """The strength in [0, 1] of the domain randomisation at `global_step`: linear from 0 over `ramp_steps`."""
    return 1.0 if ramp_steps == 0 else min(1.0, global_step / ramp_steps)


def final_obs(infos, key, like):
    """The real last observation of the envs whose episode ended (rows where infos["_final_obs"]), else `like`.

    DigitVectorEnv gives a dict of arrays; gymnasium's vector envs an object array of per-env dicts.
    """
    out = like.copy()
    mask = infos["_final_obs"]
    if isinstance(infos["final_obs"], dict):
        out[mask] = infos["final_obs"][key][mask]
    else:
        for i in np.flatnonzero(mask):
            out[i] = infos["final_obs"][i][key]
    return out


# ALGO LOGIC: the rollout, Eq. (1) sample mixing. Only the teacher's quantities feed its PPO.
@torch.no_grad()
def collect_rollout(
    envs, nets, obs, hidden, alpha_mix, num_steps, gamma, kind, device, use_student=True, symmetry=False
):
    """Step every env `num_steps` times; returns (buffer, next obs, next hidden, ended episodes, seconds in envs).

    In each step and each env, independently, the executed action is a sample of the student pi_s(.|o) with
    probability alpha_mix, else of the teacher pi_t(.|s) (Eq. 1). The student's LSTM advances on every step,
    whoever acts, so its hidden state always summarises its own observations. Whoever acts, the buffer holds the
    TEACHER's log-probability of the executed action and the teacher's value of s, both under the teacher of this
    rollout, so PPO's ratio pi_t(a|s) / pi_t_old(a|s) and GAE are the teacher's (the authors' code stored the
    student's log-prob and value on the student's steps, which corrupts both).
    Off-policy caveat: PPO then treats every sample as the teacher's, as the paper prescribes ("we pool samples
    from both agents to update the teacher policy", Eq. 1). The ratio pi_t / pi_t_old is exactly 1 at the first
    minibatch, but the samples come from the mixture (1 - alpha_mix) pi_t + alpha_mix pi_s, not from pi_t_old, and
    GAE estimates the mixture's values. No importance correction is made: the student's actions are valid but
    low-probability teacher samples while pi_s ~ pi_t (section III), and the ratio clip bounds their pull.
    Buffer (T = num_steps, N envs): states / obs (normalised network inputs), states_raw (before normalising,
    for the mirror images of `--symmetry`), actions (unclipped samples),
    logprobs, values, rewards (time-outs bootstrapped), dones, student_acted, teacher_mean, student_mean,
    student_logprob (the student's log-prob of the executed action, for the asymmetric term), h / c (the student's
    hidden state BEFORE each step), and per-rollout teacher_log_std, student_log_std, last_value.
    """
    n = envs.num_envs
    buf = {
        k: torch.zeros(num_steps, n, d, device=device)
        for k, d in (
            ("states", OBS_DIM),
            ("obs", STUDENT_DIM),
            ("states_raw", OBS_DIM),
            ("actions", ACTION_DIM),
            ("teacher_mean", ACTION_DIM),
            ("student_mean", ACTION_DIM),
            ("h", nets.student.lstm.hidden_size),
            ("c", nets.student.lstm.hidden_size),
        )
    }
    for k in ("logprobs", "values", "rewards", "dones", "student_acted", "student_logprob"):
        buf[k] = torch.zeros(num_steps, n, device=device)
    t_log_std = nets.teacher.log_std.detach().clone()
    s_log_std = student_log_std(kind, nets).clone()
    episodes, sim_time = [], 0.0
    on_device, episode_log = getattr(envs, "on_device", False), []
    for t in range(num_steps):
        state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
        o = torch.as_tensor(obs["observation"][:, :STUDENT_DIM], dtype=torch.float32, device=device)
        # empirical normalisation: update with the new data (and its mirror image, so that the statistics are
        # left-right symmetric when the update uses mirrored samples), then normalise
        nets.state_norm.update(torch.cat([state, mirror(state, STATE_MAP)]) if symmetry else state)
        nets.obs_norm.update(o)
        state_n, o_n = nets.state_norm(state), nets.obs_norm(o)
        mean_t = nets.teacher(state_n)[0]
        action = mean_t + t_log_std.exp() * torch.randn_like(mean_t)  # a ~ pi_t(.|s)
        buf["h"][t], buf["c"][t] = hidden
        if use_student:
            mean_s, hidden = nets.student.step(o_n, hidden)  # the LSTM advances whoever acts
            action_s = mean_s + s_log_std.exp() * torch.randn_like(mean_s)  # a ~ pi_s(.|o)
            # Eq. (1): per env, the student's sample with probability alpha_mix, else the teacher's
            acted = torch.rand(n, device=device) < alpha_mix
            action = torch.where(acted.unsqueeze(-1), action_s, action)
            buf["student_mean"][t], buf["student_acted"][t] = mean_s, acted.float()
            buf["student_logprob"][t] = gaussian_log_prob(action, mean_s, s_log_std)
        buf["states"][t], buf["obs"][t], buf["actions"][t], buf["teacher_mean"][t] = state_n, o_n, action, mean_t
        buf["states_raw"][t] = state
        buf["logprobs"][t] = gaussian_log_prob(action, mean_t, t_log_std)  # the TEACHER's, of the executed action
        buf["values"][t] = nets.value(state_n)

        t0 = time.time()
        if on_device:  # the Warp backend: the env takes and returns tensors on this device, no host copies
            obs, reward, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0))
            sim_time += time.time() - t0  # (launch time: the device runs asynchronously)
            reward, done, hidden = device_step_bookkeeping(
                nets, obs, reward, terminated, truncated, infos, hidden, gamma, episode_log
            )
            buf["rewards"][t], buf["dones"][t] = reward, done
            continue
        obs, reward, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0).cpu().numpy())
        sim_time += time.time() - t0
        reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
        done = np.logical_or(terminated, truncated)
        # a time-out is not a failure: bootstrap with the value of the real last state (rsl_rl adds
        # gamma * V to the reward of a timed-out step; we have the final observation, so we use its value)
        timeout = np.logical_and(truncated, ~np.asarray(terminated))
        if timeout.any():
            last = final_obs(infos, "state", obs["state"])[timeout]
            last_n = nets.state_norm(torch.as_tensor(last, dtype=torch.float32, device=device))
            reward[torch.as_tensor(timeout, device=device)] += gamma * nets.value(last_n)
        buf["rewards"][t], buf["dones"][t] = reward, torch.as_tensor(done, dtype=torch.float32, device=device)
        if done.any():
            keep = torch.as_tensor(~done, dtype=torch.float32, device=device).unsqueeze(-1)
            hidden = (hidden[0] * keep, hidden[1] * keep)  # a new episode starts from a zero hidden state
            if "episode" in infos:
                ep = infos["episode"]
                for i in np.flatnonzero(infos["_episode"]):
                    episodes.append({k: float(v[i]) for k, v in ep.items()})
    if on_device:
        episodes = episodes_from_log(episode_log)
    state_n = nets.state_norm(torch.as_tensor(obs["state"], dtype=torch.float32, device=device))
    buf["last_value"] = nets.value(state_n)
    buf["teacher_log_std"], buf["student_log_std"] = t_log_std, s_log_std
    return buf, obs, hidden, episodes, sim_time


def device_step_bookkeeping(nets, obs, reward, terminated, truncated, infos, hidden, gamma, episode_log):
    """The rollout's per-step bookkeeping when the env lives on the device (`--backend warp`), without a host
    sync: time-outs bootstrapped with V(final state) (masked, not indexed), the LSTM state zeroed where an episode
    ended, and the step's episode statistics kept as tensors until the rollout ends. Returns (reward, done, hidden)."""
    timeout = (truncated & ~terminated).float()
    last = torch.where(infos["_final_obs"].unsqueeze(-1), infos["final_obs"]["state"], obs["state"])
    reward = reward + gamma * nets.value(nets.state_norm(last)) * timeout
    done = (terminated | truncated).float()
    keep = (1.0 - done).unsqueeze(-1)
    episode_log.append((infos["_episode"], infos["episode"]))
    return reward, done, (hidden[0] * keep, hidden[1] * keep)


def episodes_from_log(episode_log):
    """The finished episodes of a rollout on the device as dicts of floats (one host copy per rollout)."""
    if not episode_log:
        return []
    mask = torch.stack([m for m, _ in episode_log]).cpu().numpy()  # (T, N)
    keys = list(episode_log[0][1])
    values = {k: torch.stack([ep[k] for _, ep in episode_log]).float().cpu().numpy() for k in keys}
    return [{k: float(values[k][t, i]) for k in keys} for t, i in zip(*np.nonzero(mask))]


# ALGO LOGIC: left-right symmetry by data augmentation (rsl_rl's symmetry module; Mittal et al., ICRA 2024)
@torch.no_grad()
def symmetric_batch(flat, nets, states_raw):
    """The rollout's transitions followed by their mirror images (envs/digit/symmetry.py): the robot reflected in
    its sagittal plane, left and right limbs swapped. Digit's task is left-right symmetric, so the mirrored
    transition (M s, M a) is one the mirrored policy would have collected with the same reward, advantage and
    return; its behaviour log-probability is the original's, pi_old(M a | M s) under the mirrored policy =
    pi_old(a | s) (so PPO's ratio is pi_t(M a | M s) / pi_old(a | s), as rsl_rl computes it)."""
    out = {k: torch.cat([v, v]) for k, v in flat.items()}  # logprobs, values: the original's
    n = flat["states"].shape[0]
    out["states"][n:] = nets.state_norm(mirror(states_raw, STATE_MAP))
    out["actions"][n:] = mirror(flat["actions"], ACTION_MAP)
    return out


def mirrored_too(idx, n, symmetry):
    """A minibatch's indices and, with symmetry, those of the same transitions' mirror images (at i + n)."""
    return torch.cat([idx, idx + n]) if symmetry else idx


# ALGO LOGIC: GAE and the PPO losses (the teacher's step of Eq. 2, solved as PPO does)
def compute_gae(rewards, values, dones, last_value, gamma, lam):
    """Generalised advantage estimates and returns over a (T, N) rollout.

    dones[t] = 1 if the episode ended at step t (terminated or truncated): no bootstrap across it, because
    SAME_STEP autoreset makes step t+1 the next episode's first step. Time-outs were already bootstrapped
    into the reward (`collect_rollout`). last_value = V(s_T), the state after the rollout.
    """
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(last_value)
    for t in reversed(range(rewards.shape[0])):
        next_value = last_value if t == rewards.shape[0] - 1 else values[t + 1]
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        last_gae = delta + gamma * lam * not_done * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


LOG_RATIO_LIMIT = 20.0  # |log r| beyond this is clamped before exp (`clipped_surrogate`)


def clipped_surrogate(new_logprob, old_logprob, advantages, clip_coef):
    """PPO's clipped surrogate mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))), r = exp(new_logprob - old_logprob).

    Returns (loss, r). log r is clamped to +-LOG_RATIO_LIMIT before exp (ours): value and gradient are unchanged
    wherever |log r| < 20 (r in [2e-9, 5e8], far outside the clip range); past log r = 88 exp overflows to inf, and
    an inf in the branch that torch.max does not select makes a 0 * inf = NaN gradient under a FINITE loss. That is
    how stage C on rough ground lost its teacher at 1.12M steps (log-ratios of up to 15 within one update were
    logged on its replay; the teacher's means reach 5, far past the action bound 1, where nothing holds them).
    """
    ratio = (new_logprob - old_logprob).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT).exp()
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean(), ratio


def ppo_loss_terms(new_logprob, old_logprob, advantages, new_values, old_values, returns, clip_coef, clip_vloss):
    """PPO's clipped surrogate and (clipped) value loss, rsl_rl's form. Returns (policy loss, value loss, clipfrac).

    policy loss: `clipped_surrogate`;
    value loss = mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)) (no factor 1/2, as rsl_rl).
    """
    policy_loss, ratio = clipped_surrogate(new_logprob, old_logprob, advantages, clip_coef)
    value_loss = (new_values - returns).pow(2)
    if clip_vloss:
        clipped = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
        value_loss = torch.max(value_loss, (clipped - returns).pow(2))
    clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return policy_loss, value_loss.mean(), clipfrac


def adapt_learning_rate(lr, kl, desired_kl):
    """rsl_rl's adaptive rule: lr / 1.5 if KL > 2 desired_kl, lr * 1.5 if 0 < KL < desired_kl / 2; kept in
    [1e-5, 1e-2]."""
    if kl > 2.0 * desired_kl:
        return max(1e-5, lr / 1.5)
    if 0.0 < kl < desired_kl / 2.0:
        return min(1e-2, lr * 1.5)
    return lr


# ALGO LOGIC: the student's losses, Eqs. (3)-(5), on one minibatch of whole env sequences
def student_loss_terms(kind, mean_s, log_std_s, mean_t, log_std_t):
    """The imitation part: Eq. (3) for `il`/`il+asym`, Eq. (4) for `kl`. The teacher is a fixed (detached) target.

    Eq. (3) compares MEAN actions: the mean is what both execute at evaluation, and a sampled target would add
    the teacher's exploration noise to the regression target. Squared L2 norm over the 20 action dimensions,
    averaged over steps. Eq. (4): closed-form KL(pi_s(.|o) || pi_t(.|s)) of the two diagonal Gaussians.
    """
    if kind == "kl":
        return gaussian_kl(mean_s, log_std_s, mean_t, log_std_t).mean()
    return (mean_s - mean_t).pow(2).sum(-1).mean()


def asym_loss(mean_s, log_std, actions, old_logprob, advantages, clip_coef):
    """Eq. (5) solved as PPO solves Eq. (2): the student's clipped surrogate with the TEACHER's advantages.

    Eq. (5) is Eq. (2) with p_s(.|o) in place of p_t(.|s) and the teacher's Q^{pi_t}(s, .) kept. Since
    <Q, p> - <V, p> = <A, p> for every distribution p, the teacher's advantage A^{pi_t}(s, a) (its GAE on the clean
    state, the asymmetric critic) gives the same minimiser; the proximity term KL(p_s || pi_s) becomes PPO's ratio
    clip around the rollout-time student, r_s = pi_s(a|o) / pi_s_old(a|o). `log_std` is the fixed std of the
    rollout (`student_log_std`), so only the student's mean moves. Off-policy caveat: most actions were sampled by
    the teacher, so at r_s = 1 the gradient is E_mix[A grad log pi_s(a|o)], the student's policy gradient only
    as far as pi_s ~ pi_t, which the imitation term keeps true.
    """
    return clipped_surrogate(gaussian_log_prob(actions, mean_s, log_std), old_logprob, advantages, clip_coef)[0]


class StudentSteps:
    """The student's steps of one update (Algorithm 1, line 5: Eqs. 3-5), in order, each on the minibatch of whole
    env sequences after the teacher's step, here or on a second thread (`--student-thread`).

    The student's networks, optimiser and inputs (the rollout, the advantages, the teacher's detached target) are
    its own, so its step k can run beside the teacher's step k+1 with the same arithmetic as one after the other:
    two cores busy in the update. `submit` first ends the step in flight, so the steps stay in order; a non-finite
    student step stops the run when it ends, by then the teacher may be one step further than without the thread.
    """

    def __init__(self, nets, optimizer, args, run, threads):
        """`threads`: torch threads of the student's own thread (0: the student steps on the caller's thread)."""
        self.student, self.optimizer, self.args, self.run = nets.student, optimizer, args, run
        self.pending, self.pool = None, None
        if threads > 0:  # torch's thread count and the denormal flag are per thread: set in the new one too
            self.pool = ThreadPoolExecutor(
                1, "student", initializer=student_thread_setup, initargs=(threads, args.flush_denormal)
            )
        run.before_stop.append(self.settle)  # a checkpoint reads the student's weights: none in flight then

    def begin(self, buf, advantages, sums):
        self.buf, self.advantages, self.sums = buf, advantages, sums

    def submit(self, envs_k, target):
        self.wait()
        if self.pool is None:
            self.finish(self.step(envs_k, target))
        else:
            self.pending = self.pool.submit(self.step, envs_k, target)

    def wait(self):
        if self.pending is not None:
            stats, self.pending = self.pending.result(), None
            self.finish(stats)

    def settle(self):
        if self.pending is not None:
            self.pending.exception()  # its outcome is not needed: the run stops
            self.pending = None

    def finish(self, stats):
        self.run.stop_if_nonfinite(stats)
        stats.pop("student_grad_norm", None)
        for name, value in stats.items():
            self.sums[name] = self.sums.get(name, 0.0) + value.detach()

    def step(self, envs_k, target):
        """One student step; returns its statistics, and takes no step when the loss or the gradient is
        non-finite (`finish` then stops the run)."""
        args, buf = self.args, self.buf
        mean_t, log_std_t = target
        hidden0 = (buf["h"][0, envs_k], buf["c"][0, envs_k])
        mean_s = self.student.sequence(buf["obs"][:, envs_k], hidden0, buf["dones"][:, envs_k])
        log_std_s = self.student.log_std.expand_as(mean_s)
        imitation = student_loss_terms(args.student_loss, mean_s, log_std_s, mean_t, log_std_t)
        asym = torch.zeros((), device=mean_s.device)
        if args.student_loss == "il+asym":
            adv_s = self.advantages[:, envs_k]
            if args.adv_norm == "minibatch":
                adv_s = (adv_s - adv_s.mean()) / (adv_s.std() + 1e-8)
            asym = asym_loss(
                mean_s,
                buf["student_log_std"],
                buf["actions"][:, envs_k],
                buf["student_logprob"][:, envs_k],
                adv_s,
                args.clip_coef,
            )
        student_loss = imitation + args.asym_coef * asym  # L_s = L_IL (+ L_Asym)
        stats = {"student_imitation_loss": imitation, "student_asym_loss": asym}
        if not torch.isfinite(student_loss):
            return stats
        self.optimizer.zero_grad(set_to_none=True)
        student_loss.backward()
        # a finite loss can still have non-finite gradients: checked too, before any weight changes
        stats["student_grad_norm"] = nn.utils.clip_grad_norm_(self.student.parameters(), args.max_grad_norm)
        if torch.isfinite(stats["student_grad_norm"]):
            self.optimizer.step()
        return stats

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


def student_thread_setup(threads, flush_denormal):
    set_threads(threads)
    torch.set_flush_denormal(flush_denormal)


@torch.no_grad()
def evaluate(envs, nets, who, seed, device):
    """One episode in each env with deterministic (mean) actions; the teacher reads s, the student o alone.

    Returns a dict of arrays over the episodes: return, length, success, distance (from the env's episode stats).
    """
    obs, _ = envs.reset(seed=seed)
    n = envs.num_envs
    done = np.zeros(n, dtype=bool)
    out = {k: np.zeros(n) for k in ("return", "length", "success", "distance")}
    hidden = nets.student.initial_hidden(n, device)
    while not done.all():
        if who == "teacher":
            state = torch.as_tensor(obs["state"], dtype=torch.float32, device=device)
            action = nets.teacher(nets.state_norm(state))[0]
        else:
            o = torch.as_tensor(obs["observation"][:, :STUDENT_DIM], dtype=torch.float32, device=device)
            action, hidden = nets.student.step(nets.obs_norm(o), hidden)
        if getattr(envs, "on_device", False):  # (evaluation may sync: its loop stops when every env is done)
            obs, _, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0))
            terminated, truncated = terminated.cpu().numpy(), truncated.cpu().numpy()
            if "episode" in infos:
                infos["episode"] = {k: v.cpu().numpy() for k, v in infos["episode"].items()}
        else:
            obs, _, terminated, truncated, infos = envs.step(action.clamp(-1.0, 1.0).cpu().numpy())
        ended = np.logical_or(terminated, truncated) & ~done
        for i in np.flatnonzero(ended):
            ep = infos["episode"]
            out["return"][i], out["length"][i] = ep["r"][i], ep["l"][i]
            out["success"][i], out["distance"][i] = ep["success"][i], ep["distance_walked"][i]
        done |= ended
    return out


def main(args: Args):
    """Train. SIGINT or SIGTERM stops the run after the current iteration with a checkpoint and exit status 130; a
    second one quits at once (envs/guard.py). The env workers ignore both while the run lives: it closes them."""
    with guard.Session(os.path.basename(__file__)) as session:
        return train(args, session)


def train(args: Args, session):
    check_args(args)
    if args.capture_video:
        guard.check_rendering(fail)  # moviepy and offscreen rendering, before any work
    ckpt = load_checkpoint(args.resume, args) if args.resume is not None else None
    if ckpt is not None and not session.lock(os.path.dirname(os.path.abspath(args.resume))):
        fail(f"--resume: another process is running in the folder of '{args.resume}' (it holds the folder's lock)")
    quiet_known_warnings()
    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    set_threads(args.torch_threads)
    torch.set_flush_denormal(args.flush_denormal)  # this thread and the env workers forked from it
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and args.cuda else "cpu"))

    # env setup (before the networks: the workers fork from this process)
    env_kwargs = {
        "terrain": args.terrain,
        "max_episode_steps": args.max_episode_steps,
        "reward_weights": args.reward_weights,
        "gravity_axes": args.gravity_axes,
        "curriculum": args.curriculum,
        "terrain_preset": args.terrain_preset,
        "max_init_level": CURRICULUM_START["max_init_level"],
        # the first episodes too start at the ramp's strength (later ones: set each iteration)
        "randomization_scale": randomization_scale(ckpt["global_step"] if ckpt else 0, args.randomization_ramp_steps),
    }
    try:
        envs = make_envs(
            args.num_envs,
            args.num_workers,
            args.seed,
            args.alpha,
            args.noise,
            env_kwargs,
            CURRICULUM_START["terrain_columns"],
            args.backend,
            device,
        )
    except Exception as e:
        fail(f"cannot create the Digit envs ({type(e).__name__}: {first_line(e)})")
    check_memory(args, device, envs)
    use_student = args.student_loss != "none"

    nets = L2TNets(
        args.lstm_hidden, args.init_noise_std, args.obs_normalization, args.actor_init_scale, args.terrain
    ).to(device)
    optimizers = {
        "teacher": torch.optim.Adam(nets.teacher.parameters(), lr=args.learning_rate),
        "critic": torch.optim.Adam(nets.critic.parameters(), lr=args.critic_lr),
        "student": torch.optim.Adam(nets.student.parameters(), lr=args.student_lr),
    }
    # the run's folder, writer, progress line, counters, checkpoints and evaluations; on --resume the networks,
    # normalisers, optimisers, the teacher's rate, counters and RNG states above are restored
    run = Run(args, session, envs, env_kwargs, ckpt, nets, optimizers, device)
    lr = optimizers["teacher"].param_groups[0]["lr"]  # the teacher's (adaptive) rate
    update_threads = args.update_threads or args.torch_threads
    student_threads = update_threads // 2 if args.student_thread and use_student and update_threads >= 2 else 0
    student = StudentSteps(nets, optimizers["student"], args, run, student_threads)

    # TRY NOT TO MODIFY: start the game (a resumed run continues its terrain curriculum from the saved levels)
    levels = None if ckpt is None or args.terrain == "flat" else ckpt.get("terrain_levels")  # (older: absent)
    obs, _ = envs.reset(seed=args.seed + run.global_step, options=None if levels is None else {"terrain_level": levels})
    hidden = nets.student.initial_hidden(args.num_envs, device)
    rand_scale = None
    while run.global_step < args.total_timesteps:
        t_start = time.time()
        # domain randomisation (Table III) ramped in: the envs use the new strength from their next reset
        if rand_scale != randomization_scale(run.global_step, args.randomization_ramp_steps):
            rand_scale = randomization_scale(run.global_step, args.randomization_ramp_steps)
            envs.call("set_randomization_scale", rand_scale)
        # Eq. (1): the mixing coefficient rises linearly from 0 (constant within one rollout)
        alpha_mix = mix_coefficient(run.global_step, args.total_timesteps, args.alpha_mix, args.mix_schedule_fraction)
        try:
            buf, obs, hidden, episodes, sim_time = collect_rollout(
                envs,
                nets,
                obs,
                hidden,
                alpha_mix,
                args.num_steps,
                args.gamma,
                args.student_loss,
                device,
                use_student,
                args.symmetry,
            )
        except WarpOverflowError as e:  # --backend warp: a MuJoCo Warp buffer overflowed (rows would be dropped)
            run.close()
            fail(f"{e} (the last checkpoint is {run.ckpt_path}, if one was written)")
        run.global_step += args.num_envs * args.num_steps
        t_rollout = time.time()
        set_threads(update_threads - student_threads)  # the env workers are idle during the update

        # ALGO LOGIC: training (Algorithm 1, lines 2-5): PPO epochs over the rollout; per minibatch one teacher step
        # (critic and policy: Eq. 2 solved by PPO), then one student step on the same rollout (Eqs. 3-5; `StudentSteps`,
        # beside the teacher's next step when the update has two threads).
        # The teacher's minibatches are random 1/num_minibatches shares of the T*N transitions (rsl_rl's MLP
        # generator); the student's are the whole T-step sequences of a random 1/num_minibatches share of the envs
        # (rsl_rl's recurrent generator takes fixed env slices; we reshuffle each epoch), each from its stored
        # initial hidden state with resets at the dones.
        T, N = buf["rewards"].shape
        advantages, returns = compute_gae(
            buf["rewards"], buf["values"], buf["dones"], buf["last_value"], args.gamma, args.gae_lambda
        )
        if args.adv_norm == "rollout":
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        flat = {
            k: buf[k].reshape(T * N, *buf[k].shape[2:])
            for k in ("states", "actions", "logprobs", "values", "teacher_mean")
        }
        flat_adv, flat_ret = advantages.reshape(-1), returns.reshape(-1)
        if args.symmetry:  # left-right data augmentation: each transition also as its mirror image
            flat = symmetric_batch(flat, nets, buf["states_raw"].reshape(T * N, OBS_DIM))
            flat_adv, flat_ret = flat_adv.repeat(2), flat_ret.repeat(2)
        sums, rates = {}, []  # statistics summed as tensors (no synchronisation per minibatch); the rates used
        student.begin(buf, advantages, sums)
        for _ in range(args.update_epochs):
            t_batches = [
                mirrored_too(k, T * N, args.symmetry)
                for k in torch.randperm(T * N, device=device).tensor_split(args.num_minibatches)
            ]
            e_batches = torch.randperm(N, device=device).tensor_split(args.num_minibatches)
            for idx, envs_k in zip(t_batches, e_batches):
                # --- teacher: critic and policy, Eq. (2) by PPO (Algorithm 1, lines 3-4)
                mean, log_std = nets.teacher(flat["states"][idx])
                new_logprob = gaussian_log_prob(flat["actions"][idx], mean, log_std)
                entropy = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1).mean()
                values = nets.value(flat["states"][idx])
                with torch.no_grad():  # KL(pi_t_old || pi_t) on the minibatch's states (the rollout's, not mirrored)
                    n_real = len(idx) // 2 if args.symmetry else len(idx)
                    kl = gaussian_kl(
                        flat["teacher_mean"][idx[:n_real]],
                        buf["teacher_log_std"].expand_as(mean[:n_real]),
                        mean[:n_real],
                        log_std[:n_real],
                    ).mean()
                if args.lr_schedule == "adaptive":  # rsl_rl: per minibatch, with the KL to the ROLLOUT's teacher
                    lr = adapt_learning_rate(lr, kl.item(), args.desired_kl)
                    for group in optimizers["teacher"].param_groups:
                        group["lr"] = lr
                rates.append(lr)
                adv = flat_adv[idx]
                if args.adv_norm == "minibatch":
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss, value_loss, clipfrac = ppo_loss_terms(
                    new_logprob,
                    flat["logprobs"][idx],
                    adv,
                    values,
                    flat["values"][idx],
                    flat_ret[idx],
                    args.clip_coef,
                    args.clip_vloss,
                )
                loss = policy_loss + args.vf_coef * value_loss - args.ent_coef * entropy
                stats = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
                run.stop_if_nonfinite(stats)
                optimizers["teacher"].zero_grad(set_to_none=True)
                optimizers["critic"].zero_grad(set_to_none=True)
                loss.backward()
                # a finite loss can still have non-finite gradients: checked too, before any weight changes
                run.stop_if_nonfinite(
                    {
                        "teacher_grad_norm": nn.utils.clip_grad_norm_(nets.teacher.parameters(), args.max_grad_norm),
                        "critic_grad_norm": nn.utils.clip_grad_norm_(nets.critic.parameters(), args.max_grad_norm),
                    }
                )
                optimizers["teacher"].step()
                optimizers["critic"].step()
                stats.update(approx_kl=kl, clipfrac=clipfrac)

                # --- student on the same rollout, after the teacher's step (Algorithm 1, line 5): the target is the
                # just-updated teacher on the clean states; the step runs here or on the student's thread
                if use_student:
                    with torch.no_grad():  # a copy of the std: the teacher's next step changes it in place
                        mean_t, log_std_t = nets.teacher(buf["states"][:, envs_k])
                    student.submit(envs_k, (mean_t, log_std_t.clone()))
                for name, value in stats.items():
                    sums[name] = sums.get(name, 0.0) + value.detach()
        student.wait()
        stats = {name: float(value) / len(rates) for name, value in sums.items()}
        # the adaptive rate rises over the first minibatches and falls over the last (the KL to the rollout's
        # teacher grows during the update; rsl_rl's behaviour): log the mean of the rates the steps used
        mean_lr = float(np.mean(rates))
        set_threads(args.torch_threads)
        run.iteration += 1
        t_end = time.time()

        # log: one TensorBoard point and one progress line per iteration; evaluation and checkpoint when due
        run.log_iteration(
            buf,
            episodes,
            stats,
            timing={"elapsed": t_end - t_start, "sim": sim_time, "update": t_end - t_rollout},
            schedule={"lr": mean_lr, "alpha_mix": alpha_mix, "rand": rand_scale},
        )
        if run.end_iteration(rand_scale):  # SIGINT / SIGTERM: this iteration is done; its checkpoint follows
            break
    student.close()
    return run.finish(rand_scale)


# Watching: one evaluation episode as MP4 (--capture-video)
@torch.no_grad()
def record_video(nets, who, env_kwargs, alpha, noise, seed, level, folder, prefix, device):
    """One deterministic episode of the teacher (on s) or the student (on o) in one rendered Digit env, on column 0
    at `level` on rough ground, written as `{folder}/{prefix}-episode-0.mp4` (gymnasium's RecordVideo)."""
    rough = env_kwargs["terrain"] == "rough"
    env = NoisyObservation(
        DigitEnv(render_mode="rgb_array", terrain_col=0 if rough else None, **env_kwargs),
        alpha,
        noise,
        noisy_mask=DIGIT_NOISY_MASK,
    )
    env = gym.wrappers.RecordVideo(
        env, folder, episode_trigger=lambda i: i == 0, name_prefix=prefix, disable_logger=True
    )
    obs, _ = env.reset(seed=seed, options={"terrain_level": int(level)} if rough else None)
    hidden, done = nets.student.initial_hidden(1, device), False
    while not done:
        if who == "teacher":
            action = nets.teacher(
                nets.state_norm(torch.as_tensor(obs["state"][None], dtype=torch.float32, device=device))
            )[0]
        else:
            o = torch.as_tensor(obs["observation"][None, :STUDENT_DIM], dtype=torch.float32, device=device)
            action, hidden = nets.student.step(nets.obs_norm(o), hidden)
        obs, _, terminated, truncated, _ = env.step(action.clamp(-1.0, 1.0)[0].cpu().numpy())
        done = terminated or truncated
    env.close()


# Deployment: the student alone, with its observation normalisation, as TorchScript
class ExportedStudent(nn.Module):
    """`step(obs, hidden) -> (action, hidden)` for a batch of robots, in float32 on the CPU.

    obs: (batch, 94) RAW sensor terms in the order of Table I (the env's observation[:94]: clock, base lin. vel.,
    base ang. vel., projected gravity, velocity command, joint pos., joint vel., last action); the normalisation
    is inside. hidden: ONE tensor (2, batch, 128), [h; c] of the LSTM; start each episode from
    `initial_hidden(batch)` (zeros). action: the mean action clipped to [-1, 1], the joint targets being the
    standing pose + 0.5 rad * action (envs/digit/env.py).
    """

    hidden_size: int

    def __init__(self, student: Student, obs_norm: EmpiricalNormalization):
        super().__init__()
        self.lstm = copy.deepcopy(student.lstm).cpu()
        self.head = copy.deepcopy(student.head).cpu()
        self.hidden_size = student.lstm.hidden_size
        self.register_buffer("obs_mean", obs_norm.mean.detach().cpu().clone())
        self.register_buffer("obs_denom", (obs_norm.var.sqrt() + obs_norm.eps).detach().cpu().clone())

    @torch.jit.export
    def initial_hidden(self, batch: int) -> torch.Tensor:
        return torch.zeros(2, batch, self.hidden_size)

    @torch.jit.export
    def step(self, obs: torch.Tensor, hidden: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = (obs - self.obs_mean) / self.obs_denom
        h, c = self.lstm(x, (hidden[0], hidden[1]))
        return self.head(h).clamp(-1.0, 1.0), torch.stack([h, c])

    def forward(self, obs: torch.Tensor, hidden: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.step(obs, hidden)


def export_student(nets, path):
    """Script the student with its normaliser and save it atomically; load with `torch.jit.load(path)`.

    TorchScript, although torch 2.x calls it deprecated: it keeps named methods (`step`, `initial_hidden`) and
    loads in C++ (libtorch) without Python; `torch.export` would keep `forward` only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(ExportedStudent(nets.student, nets.obs_norm).eval())
    checkpoint_file.atomic_write(path, lambda f: torch.jit.save(scripted, f))
    return scripted


# ---------------------------------------------------------------------------------------------------------------------
# Plumbing: the run (folder, logging, evaluation, checkpoints: `Run`), argument checks and resume. Not part of the
# algorithm.
class Run:
    """One run's folder, TensorBoard writer, progress line, counters, checkpoints and evaluations.

    A new run gets a folder of its own, locked while it lives; `--resume` restores the networks, normalisers,
    optimisers, the teacher's rate, counters, the best evaluation and RNG states into the objects given (the
    terrain levels are the envs' reset options) and continues in the checkpoint's folder."""

    def __init__(self, args: Args, session, envs, env_kwargs, ckpt, nets, optimizers, device):
        self.args, self.session, self.envs, self.env_kwargs = args, session, envs, env_kwargs
        self.nets, self.optimizers, self.device = nets, optimizers, device
        self.eval_envs = None  # built at the first evaluation
        self.before_stop = []  # called before a non-finite statistic's checkpoint
        self.global_step, self.iteration = 0, 0
        # the best evaluations at full randomisation: the teacher's (best.pt) and the student's (best_student.pt)
        self.best = {
            "teacher_return": -math.inf,
            "global_step": None,
            "student_return": -math.inf,
            "student_step": None,
        }
        if ckpt is not None:
            self.global_step, self.iteration = restore(ckpt, args, nets, optimizers, self.best, envs)
            self.run_dir = os.path.dirname(os.path.abspath(args.resume))
            checkpoint_file.remove_stale_temps_in(self.run_dir)  # left by a run killed while writing
        else:  # a new folder of its own, locked while this run lives
            try:
                self.run_dir = guard.new_run_dir(args.runs_dir, run_name(args))
            except OSError as e:
                envs.close()
                fail(f"--runs-dir: cannot create a run folder in '{args.runs_dir}' ({e.strerror or first_line(e)})")
            session.lock(self.run_dir)
        self.ckpt_path = os.path.join(self.run_dir, "checkpoint.pt")
        self.writer = checkpoint_file.open_writer(self.run_dir, args, self.global_step)
        self.saved_step = None  # the step of the last checkpoint.pt written
        # a line every 20 s (returns, evaluation, steps/s, time left); its clock leaves evaluation and checkpoints out
        self.progress = Progress(args.total_timesteps, self.global_step)
        self.run_start = self.progress.mark(self.global_step)  # for the final steps/s

    def checkpoint(self, path=None, with_optim=True):
        """checkpoint.pt (or `path`): networks, normalisers, counters, the teacher's rate, the best evaluation and
        every env's terrain level; with_optim also the optimisers and RNG states."""
        args, path = self.args, path or self.ckpt_path
        state = {
            "format": CHECKPOINT_FORMAT,
            "args": saved_args(args),
            "obs_dim": OBS_DIM,
            "student_dim": STUDENT_DIM,
            "action_dim": ACTION_DIM,
            "lstm_hidden": args.lstm_hidden,
            "student_loss": args.student_loss,
            "obs_normalization": args.obs_normalization,
            "terrain": args.terrain,
            "global_step": self.global_step,
            "iteration": self.iteration,
            "learning_rate": self.optimizers["teacher"].param_groups[0]["lr"],
            "nets": self.nets.state_dict(),
            "best": dict(self.best),
            "terrain_levels": [int(level) for level in self.envs.get_attr("terrain_level")],
        }
        if with_optim:
            state.update(
                optimizers={name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
                rng=checkpoint_file.rng_state(),
            )
        try:
            checkpoint_file.save(state, path)
        except checkpoint_file.WriteError as e:  # disk full, I/O error: one line; the previous file is kept
            self.close()
            fail(str(e))
        if path == self.ckpt_path:
            self.saved_step = self.global_step

    def stop_if_nonfinite(self, stats):
        """Checked BEFORE the optimiser step, so the saved state is the last finite one, the one that failed."""
        if not torch.isfinite(torch.stack(list(stats.values()))).all():
            for settle in self.before_stop:
                settle()
            try:
                checkpoint_file.stop_nonfinite(
                    os.path.basename(__file__), stats, self.global_step, self.run_dir, self.ckpt_path, self.checkpoint
                )
            finally:
                self.close_envs()

    def log_iteration(self, buf, episodes, stats, timing, schedule):
        """charts/: speed, schedules, exploration, the terrain level and the training episodes' means; losses/: the
        update's mean statistics and the imitation gap (Fig. 4a); terrain/: level and success per terrain type; then
        the progress line (envs/console.py)."""
        args, nets, envs, step = self.args, self.nets, self.envs, self.global_step
        w, elapsed = self.writer, timing["elapsed"]
        w.add_scalar("charts/SPS", args.num_envs * args.num_steps / elapsed, step)
        w.add_scalar("charts/sim_fraction", timing["sim"] / elapsed, step)  # inside envs.step
        w.add_scalar("charts/learn_fraction", timing["update"] / elapsed, step)  # the update
        w.add_scalar("charts/learning_rate", schedule["lr"], step)  # mean over the update's minibatches
        w.add_scalar("charts/alpha_mix", schedule["alpha_mix"], step)
        w.add_scalar("charts/student_action_fraction", buf["student_acted"].mean().item(), step)
        w.add_scalar("charts/action_std", nets.teacher.log_std.exp().mean().item(), step)
        beyond = (
            (buf["teacher_mean"].abs() > 1).float().mean().item()
        )  # the rollout's share of means past the env's clip
        w.add_scalar("charts/teacher_mean_beyond_bound", beyond, step)
        w.add_scalar("charts/student_action_std", student_log_std(args.student_loss, nets).exp().mean().item(), step)
        w.add_scalar("charts/noise_alpha", args.alpha, step)
        w.add_scalar("charts/randomization_scale", schedule["rand"], step)
        w.add_scalar("charts/iteration", self.iteration, step)
        for name, value in stats.items():
            w.add_scalar(f"losses/{name}", value, step)
        if (
            args.student_loss != "none"
        ):  # Fig. 4a: L_IL between the rollout's student and teacher (squared L2 of mean actions)
            gap = (buf["student_mean"] - buf["teacher_mean"]).pow(2).sum(-1).mean().item()
            w.add_scalar("losses/imitation_gap", gap, step)
        level_note = ""
        if args.terrain == "rough":  # Isaac Lab's curriculum metric: the mean level of ALL envs now (the episodes'
            # mean below weights each env by how often its episodes end, so short falls on hard tiles dominate it)
            mean_level = float(np.mean(envs.get_attr("terrain_level")))
            w.add_scalar("charts/terrain_level_all_envs", mean_level, step)
            level_note = f" | level {mean_level:.2f}"
        if episodes:  # training episodes that ended in this rollout (any policy mix), averaged
            mean = {k: float(np.mean([e[k] for e in episodes])) for k in episodes[0]}
            for key, tag in (
                ("r", "episodic_return"),
                ("l", "episodic_length"),
                ("terrain_level", "terrain_level"),
                ("success", "success_rate"),
                ("distance_walked", "distance_walked"),
            ):
                w.add_scalar(f"charts/{tag}", mean[key], step)
            for key in (k for k in mean if k.startswith("reward/")):
                w.add_scalar(f"episode_{key}", mean[key], step)
            if args.terrain == "rough":  # per terrain type, where some of its episodes ended (Isaac Lab logs these)
                kinds = np.array([COLUMN_TYPES[int(e["terrain_col"])] for e in episodes])
                for kind in np.unique(kinds):
                    for key, tag in (("terrain_level", "level"), ("success", "success")):
                        value = np.mean([e[key] for e, k in zip(episodes, kinds) if k == kind])
                        w.add_scalar(f"terrain/{kind}_{tag}", value, step)
        for e in episodes:
            self.progress.episode(e["r"], e["l"])
        self.progress.update(
            step,
            extra=f"sim {timing['sim'] / elapsed:.0%} | lr {schedule['lr']:.1e} | mix "
            f"{schedule['alpha_mix']:.2f} | rand {schedule['rand']:.2f}{level_note}",
        )

    def end_iteration(self, rand_scale) -> bool:
        """Evaluation and checkpoint when due (outside the steps/s clock). True: a stop was requested."""
        args = self.args
        with self.progress.pause():
            if args.eval_frequency > 0 and self.iteration % args.eval_frequency == 0:
                self.evaluation(rand_scale)
            if args.checkpoint_frequency > 0 and self.iteration % args.checkpoint_frequency == 0:
                self.checkpoint()
        return self.session.stop_requested

    def evaluation(self, rand_scale):
        """Deterministic episodes of the teacher on s and of the student on o, at the training's randomisation
        strength (logged); a new best teacher at full strength is written to best.pt, a new best student to
        best_student.pt."""
        args, step, device = self.args, self.global_step, self.device
        if self.eval_envs is None:  # built once; the same seeds every time, so the points of a curve are comparable
            workers = max([w for w in range(1, args.num_workers + 1) if args.eval_episodes % w == 0], default=0)
            self.eval_envs = make_envs(
                args.eval_episodes,
                workers,
                args.seed + 10_000,
                args.alpha,
                args.noise,
                self.env_kwargs,
                CURRICULUM_START["terrain_columns"],
                args.backend,
                device,
            )
        self.eval_envs.call("set_randomization_scale", rand_scale)
        line = f"  eval at step {step}:"
        for who in ("teacher", "student") if args.student_loss != "none" else ("teacher",):
            result = evaluate(self.eval_envs, self.nets, who, args.seed + 10_000, device)  # teacher on s, student on o
            for key, values in result.items():
                self.writer.add_scalar(f"eval/{who}_{key}", values.mean(), step)
            line += (
                f" {who} {result['return'].mean():.2f} (length {result['length'].mean():.0f}, success "
                f"{result['success'].mean():.2f})"
            )
            self.progress.evaluation(who, result["return"].mean(), result["length"].mean())
            if args.capture_video:  # on the tile of the first training env (rough: stairs), at its level
                record_video(
                    self.nets,
                    who,
                    {**self.env_kwargs, "randomization_scale": rand_scale},
                    args.alpha,
                    args.noise,
                    args.seed + 10_000,
                    self.envs.get_attr("terrain_level")[0],
                    os.path.join(self.run_dir, "videos"),
                    f"{who}-step{step}",
                    device,
                )
        # the best teacher so far at the full randomisation (returns at a lower strength are not comparable)
        if rand_scale == 1.0 and self.progress.evals["teacher"][0] > self.best["teacher_return"]:
            self.best.update(teacher_return=self.progress.evals["teacher"][0], global_step=step)
            self.checkpoint(os.path.join(self.run_dir, "best.pt"), with_optim=False)
            line += " (best teacher so far: best.pt)"
        # and the best student: its closed-loop success can swing between evaluations while the teacher holds
        student = self.progress.evals.get("student")
        if rand_scale == 1.0 and student is not None and student[0] > self.best["student_return"]:
            self.best.update(student_return=student[0], student_step=step)
            self.checkpoint(os.path.join(self.run_dir, "best_student.pt"), with_optim=False)
            line += " (best student so far: best_student.pt)"
        print(line, flush=True)

    def close_envs(self):
        for e in (self.envs, self.eval_envs):
            if e is not None:
                e.close()

    def close(self):
        self.close_envs()
        self.writer.close()

    def finish(self, rand_scale):
        """After the loop: the trained state first, before anything that can fail (evaluation, video, export); then
        the final evaluation, --save-model and --export-student. Returns the run's folder."""
        args, step = self.args, self.global_step
        if step > self.run_start[1]:
            print(f"SPS (evaluation and checkpoints excluded): {self.progress.rate(self.run_start, step):.1f}")
        if self.saved_step != step:
            self.checkpoint()
        if self.session.stop_requested:
            self.close()
            resume = guard.resume_command(__file__, args, self.ckpt_path)
            self.session.exit_stopped(
                f"global_step={step} (iteration {self.iteration})",
                self.ckpt_path,
                resume
                if step < args.total_timesteps
                else f"{resume} and a larger --total-timesteps (training had finished)",
            )
        try:
            if args.eval_frequency == 0 or self.iteration % args.eval_frequency != 0:
                self.evaluation(rand_scale)  # always end with an evaluation
                if step in (self.best["global_step"], self.best["student_step"]):  # a new best: the checkpoint too
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
        if args.export_student is not None:
            try:
                export_student(self.nets, args.export_student)
            except Exception as e:  # disk full, ...: the run itself is saved
                self.close()
                fail(f"--export-student: {first_line(e)}; the trained run is saved in {self.ckpt_path}")
            print(f"student exported to {args.export_student} (TorchScript; step(obs, hidden) -> (action, hidden))")
        self.close()
        return self.run_dir


def set_threads(n: int):
    """torch's intra-op CPU threads (0: leave torch's default)."""
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def fail(message: str):
    """Stop with a one-line error on stderr and exit status 1, no traceback."""
    raise SystemExit(f"{os.path.basename(__file__)}: error: {message}")


MAX_NOISE_ALPHA = 10.0  # bounds of the flags with a physical or numerical meaning (check_args says why)
MAX_LEARNING_RATE = 1.0
MAX_LOSS_WEIGHT = 1e6
MAX_INIT_NOISE_STD = 10.0
MAX_ACTOR_INIT_SCALE = 10.0


def saved_args(args: Args) -> dict:
    """What a checkpoint keeps as the run's "args": its flags, the curriculum's fixed start and the env's version."""
    return {**asdict(args), **CURRICULUM_START, "env_id": ENV_ID}


def run_name(args: Args) -> str:
    return f"Digit-{args.terrain}__{args.exp_name}__{args.seed}__{int(time.time())}"


def check_memory(args: Args, device, envs):
    """Refuse, before allocating, networks and rollout buffers larger than the memory free now (envs closed)."""
    L, T, N = args.lstm_hidden, args.num_steps, args.num_envs
    nets = guard.module_bytes(
        lambda: L2TNets(L, args.init_noise_std, args.obs_normalization, args.actor_init_scale, args.terrain)
    )
    rollout = 4 * T * N * (3 * OBS_DIM + STUDENT_DIM + 4 * ACTION_DIM + 2 * L + 8)  # collect_rollout's buffer
    update = 4 * T * N * (2 if args.symmetry else 1) * (2 * OBS_DIM + 3 * sum(HIDDEN_SIZES) + 12 * L)  # activations
    guard.check_memory(
        [
            ("networks", "--lstm-hidden", nets + 4 * 12 * T * N // args.num_minibatches * L),
            ("rollout and update", "--num-envs", rollout + update),
        ],
        device,
        lambda message: (envs.close(), fail(message)),
    )


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def check_args(args: Args):
    """One-line errors for every flag that could otherwise fail deep inside the envs or torch."""
    for flag in fields(args):  # every real-valued flag: nan and inf are never meant
        value = getattr(args, flag.name)
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"--{flag.name.replace('_', '-')} must be a finite number, got {value}")
    if args.alpha < 0:
        fail(f"--alpha must be a finite number >= 0, got {args.alpha}")
    if args.alpha > MAX_NOISE_ALPHA:
        fail(
            f"--alpha must be at most {MAX_NOISE_ALPHA:g}: noise {MAX_NOISE_ALPHA:g} times the sensors' own size "
            f"already hides them, and beyond it float32 observations overflow; got {args.alpha}"
        )
    if not 0 <= args.alpha_mix <= 1:
        fail(f"--alpha-mix must be in [0, 1], got {args.alpha_mix}")
    if not 0 <= args.mix_schedule_fraction <= 1:
        fail(f"--mix-schedule-fraction must be in [0, 1], got {args.mix_schedule_fraction}")
    if args.backend not in ("mujoco", "warp"):
        fail(f"--backend must be mujoco or warp, got {args.backend!r}")
    if args.backend == "warp" and importlib.util.find_spec("mujoco_warp") is None:
        fail("--backend warp needs mujoco-warp and warp-lang: pip install -r requirements.txt")
    if args.device:
        guard.check_device(args.device, fail)
    if args.noise not in NOISE_TYPES:
        fail(f"--noise must be one of {', '.join(NOISE_TYPES)}, got '{args.noise}'")
    if args.student_loss not in STUDENT_LOSSES:
        fail(f"--student-loss must be one of {', '.join(STUDENT_LOSSES)}, got '{args.student_loss}'")
    if args.student_loss == "none" and args.alpha_mix > 0:
        fail(f"--student-loss none trains no student, so it cannot act: it needs --alpha-mix 0, got {args.alpha_mix}")
    if args.terrain not in ("rough", "flat"):
        fail(f"--terrain must be rough or flat, got '{args.terrain}'")
    if args.reward_weights not in REWARD_WEIGHT_SETS:
        fail(f"--reward-weights must be one of {', '.join(REWARD_WEIGHT_SETS)}, got '{args.reward_weights}'")
    if args.gravity_axes not in ("z", "xyz"):
        fail(f"--gravity-axes must be z or xyz, got '{args.gravity_axes}'")
    if args.terrain_preset not in terrain_mod.PRESETS:
        fail(f"--terrain-preset must be one of {', '.join(terrain_mod.PRESETS)}, got '{args.terrain_preset}'")
    if args.curriculum not in CURRICULUM_RULES:
        fail(f"--curriculum must be one of {', '.join(CURRICULUM_RULES)}, got '{args.curriculum}'")
    if args.lr_schedule not in ("adaptive", "fixed"):
        fail(f"--lr-schedule must be adaptive or fixed, got '{args.lr_schedule}'")
    if args.adv_norm not in ("rollout", "minibatch", "none"):
        fail(f"--adv-norm must be rollout, minibatch or none, got '{args.adv_norm}'")
    for name in (
        "total_timesteps",
        "num_envs",
        "num_steps",
        "update_epochs",
        "num_minibatches",
        "eval_episodes",
        "max_episode_steps",
        "lstm_hidden",
        "learning_rate",
        "student_lr",
        "desired_kl",
        "clip_coef",
        "max_grad_norm",
        "init_noise_std",
        "critic_lr",
        "actor_init_scale",
    ):
        if not getattr(args, name) > 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in (
        "num_workers",
        "eval_frequency",
        "checkpoint_frequency",
        "torch_threads",
        "update_threads",
        "vf_coef",
        "ent_coef",
        "asym_coef",
        "randomization_ramp_steps",
    ):
        if getattr(args, name) < 0:
            fail(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    for name in ("learning_rate", "critic_lr", "student_lr"):
        if getattr(args, name) > MAX_LEARNING_RATE:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LEARNING_RATE:g}: Adam moves every weight by about "
                f"the rate at each step, so a larger one throws the networks away; got {getattr(args, name)}"
            )
    for name in ("vf_coef", "ent_coef", "asym_coef"):
        if getattr(args, name) > MAX_LOSS_WEIGHT:
            fail(
                f"--{name.replace('_', '-')} must be at most {MAX_LOSS_WEIGHT:g}: float32 keeps 7 significant digits, "
                f"so a larger weight erases the other loss terms; got {getattr(args, name)}"
            )
    if args.init_noise_std > MAX_INIT_NOISE_STD:
        fail(
            f"--init-noise-std must be at most {MAX_INIT_NOISE_STD:g}: the env clips actions to [-1, 1], so a wider "
            f"Gaussian only piles its samples on the bounds, and its log-probabilities lose float32 precision; got "
            f"{args.init_noise_std}"
        )
    if args.actor_init_scale > MAX_ACTOR_INIT_SCALE:
        fail(
            f"--actor-init-scale must be at most {MAX_ACTOR_INIT_SCALE:g}: it multiplies the initial last layer "
            f"(1 is torch's own initialisation), and larger mean actions lie far outside the env's clip at [-1, 1]; "
            f"got {args.actor_init_scale}"
        )
    guard.check_seed(args.seed, fail)
    guard.check_threads({"--torch-threads": args.torch_threads, "--update-threads": args.update_threads}, fail)
    guard.check_name("--exp-name", args.exp_name, fail)
    if args.backend == "mujoco" and args.num_workers > 0 and args.num_envs % args.num_workers != 0:
        fail(f"--num-envs ({args.num_envs}) must be a multiple of --num-workers ({args.num_workers})")
    if args.num_minibatches > args.num_envs:
        fail(
            f"--num-minibatches ({args.num_minibatches}) must not exceed --num-envs ({args.num_envs}): "
            "the student's minibatches are groups of envs"
        )
    if not (0 < args.gamma <= 1 and 0 < args.gae_lambda <= 1):
        fail(f"--gamma and --gae-lambda must be in (0, 1], got {args.gamma} and {args.gae_lambda}")
    if args.export_student is not None:
        guard.check_output_file("--export-student", args.export_student, fail)
    if args.resume is not None:
        guard.check_resume_file("--resume", args.resume, fail)
    else:  # every output path, tried before any work
        guard.check_run_folder(
            "--runs-dir",
            args.runs_dir,
            run_name(args),
            (
                "checkpoint.pt",
                "best.pt",
                "best_student.pt",
                f"{args.exp_name}.cleanrl_model",
                f"nonfinite_step{args.total_timesteps + args.num_envs * args.num_steps}.pt",
            ),
            fail,
        )


def load_checkpoint(path, args):
    """Load a --resume checkpoint (digest checked) and check that it is this run's: the same networks, inputs,
    losses and task; one-line error otherwise."""
    try:
        ckpt = checkpoint_file.load(path)
    except checkpoint_file.CheckpointError as e:
        fail(f"--resume: {e}")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        fail(f"--resume: '{path}' is not a {CHECKPOINT_FORMAT} checkpoint")
    expected = {
        "obs_dim": OBS_DIM,
        "student_dim": STUDENT_DIM,
        "action_dim": ACTION_DIM,
        "lstm_hidden": args.lstm_hidden,
        "obs_normalization": args.obs_normalization,
        "terrain": args.terrain,
        "student_loss": args.student_loss,
    }
    for key, value in expected.items():
        if ckpt.get(key) != value:
            fail(f"--resume: checkpoint '{path}' has {key}={ckpt.get(key)!r}, this run has {value!r}")
    if args.obs_normalization and "state_norm.fixed" not in ckpt.get("nets", {}):
        fail(
            f"--resume: checkpoint '{path}' normalised the height scan by its running statistics; this script feeds "
            "it in metres (a setting this script no longer changes)"
        )
    # the same task; a setting saved by older versions of this script, whose flag is gone, must have today's value
    retired = {"reward_overrides": {}, "terrain_columns": CURRICULUM_START["terrain_columns"]}
    task = {k: getattr(args, k) for k in ("reward_weights", "gravity_axes", "randomization_ramp_steps")}
    task["reward_overrides"] = retired["reward_overrides"]
    if args.terrain == "rough":
        task.update(curriculum=args.curriculum, terrain_preset=args.terrain_preset)
        task["terrain_columns"] = retired["terrain_columns"]
    older = {"curriculum": "isaac", "terrain_columns": "random", "terrain_preset": "isaac"}  # if it was not saved
    run_args = ckpt.get("args", {})
    for key, value in task.items():
        saved = run_args.get(key, older.get(key, getattr(Args(), key, value)))
        note = " (a setting this script no longer changes)" if key in retired else ""
        if key == "terrain_preset" and saved == "gentle" and "env_id" not in run_args:  # saved before l2t/Digit-v3
            saved, note = "gentle_v2", " (trained on l2t/Digit-v2; --terrain-preset gentle_v2 continues it there)"
        if saved != value:
            fail(f"--resume: checkpoint '{path}' has {key}={saved!r}, this run has {value!r}{note}")
    if "optimizers" not in ckpt:
        fail(f"--resume: '{path}' is a saved model (--save-model), not a training checkpoint.pt")
    if ckpt["global_step"] >= args.total_timesteps:
        fail(f"--resume: checkpoint is at step {ckpt['global_step']}; raise --total-timesteps above it to continue")
    levels = ckpt.get("terrain_levels")
    if args.terrain == "rough" and levels is not None and len(levels) != args.num_envs:
        fail(
            f"--resume: checkpoint '{path}' continues the terrain curriculum of {len(levels)} envs, this run has "
            f"--num-envs {args.num_envs}"
        )
    return ckpt


def restore(ckpt, args, nets, optimizers, best, envs):
    """Load networks, normalisers, optimisers, the teacher's rate, the best evaluation and RNG states; returns
    (global_step, iteration)."""
    try:
        nets.load_state_dict(ckpt["nets"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(ckpt["optimizers"][name])
    except (KeyError, ValueError, RuntimeError) as e:
        envs.close()
        fail(f"--resume: checkpoint '{args.resume}' does not fit this run ({type(e).__name__}: {first_line(e)})")
    for group in optimizers["teacher"].param_groups:
        group["lr"] = ckpt["learning_rate"]
    best.update(ckpt.get("best", {}))
    checkpoint_file.set_rng_state(ckpt["rng"])
    print(f"resumed from {args.resume} at global_step={ckpt['global_step']}, iteration={ckpt['iteration']}")
    return ckpt["global_step"], ckpt["iteration"]


if __name__ == "__main__":
    main(tyro.cli(Args))
