"""Evaluate an l2t_ppo_digit.py checkpoint on Digit: survival, return, and how well it tracks the velocity command.

    python benchmarks/digit_eval.py runs/<run>/checkpoint.pt --episodes 20 [--who student] [--terrain flat]
    python benchmarks/digit_eval.py runs/<run>/checkpoint.pt --terrain rough --level 0 --terrain-type pyramid_stairs

Deterministic (mean) actions (`--action-std`: plus exploration noise), full-strength domain randomisation (Table
III, `--randomization-scale 1`), the env's own command draws (vx, vy, yaw rate; resampled every 3-8 s, 10 %
standing). Per step, the tracking error is |v_xy - cmd_xy| with v_xy the torso's world velocity in the heading (yaw)
frame, as the env's track_lin_vel_xy term reads it. Reported over the steps whose command has 0.1 <= |cmd_xy| <= 0.5
m/s ("walking up to 0.5 m/s": the stage-A target is a mean <= 0.2 m/s) and over standing commands (|cmd_xy| <
0.1), each from the 50th step after a command change on (the policy's settling time is not scored). Also the
least-squares fit v = gain * cmd + bias per axis over all scored steps (gain 1, bias 0: tracking; gain 0: the
command is ignored). The student reads the noisy observation at --alpha (the run's noise model on the sensor terms,
as in training). The env is the checkpoint's task (its saved flags: reward weights, curriculum, terrain preset,
initial levels, episode length, gravity axes), read as the TSL baseline reads it (``task_from_run_args``).
"""

import argparse
import importlib.util
import math
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from envs import checkpoint as checkpoint_file  # noqa: E402
from envs import terrain as terrain_mod  # noqa: E402
from envs.digit.env import DIGIT_NOISY_MASK, OBS_SLICES, STUDENT_DIM, DigitEnv, task_from_run_args  # noqa: E402
from envs.noise import NoisyObservation  # noqa: E402

SETTLE_STEPS = 50


def load_ppo():
    spec = importlib.util.spec_from_file_location("l2t_ppo_digit", os.path.join(ROOT, "l2t_ppo_digit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def heading_velocity(obs):
    v = obs[OBS_SLICES["base_lin_vel_w"]]
    w, x, y, z = obs[OBS_SLICES["base_quat_w"]]
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1]])


def make_env(run_args, alpha, terrain=None, randomization_scale=1.0, terrain_col=None):
    """The env of the run's task, read from its saved flags (``run_args``, a checkpoint's ``"args"``) as the TSL
    baseline reads them (``task_from_run_args``: reward weights, curriculum, terrain preset, initial levels, episode
    length, gravity axes; the run's noise model at ``alpha``), on ``terrain`` (default: the run's), at
    ``randomization_scale``, on one terrain column (``terrain_col``) or on a column drawn at each reset (None)."""
    kwargs, _ = task_from_run_args({**run_args, **({"terrain": terrain} if terrain else {})})
    env = DigitEnv(**kwargs, randomization_scale=randomization_scale, terrain_col=terrain_col)
    return NoisyObservation(env, alpha, run_args.get("noise", "uniform"), noisy_mask=DIGIT_NOISY_MASK)


def evaluate(path, episodes, who, terrain, alpha, scale, seed, action_std=0.0, level=None, terrain_type=None):
    ppo = load_ppo()
    saved = checkpoint_file.load(path)
    args = saved["args"]
    terrain = terrain or saved["terrain"]
    nets = ppo.L2TNets(saved["lstm_hidden"], 1.0, saved["obs_normalization"], 1.0, saved["terrain"])
    nets.load_state_dict(saved["nets"])
    nets.eval()
    col = None if terrain_type is None else terrain_mod.column_types(terrain_mod.NUM_COLS).index(terrain_type)
    try:
        env = make_env(args, alpha, terrain, scale, col)
    except ValueError as e:  # a task setting of the run that this env no longer has
        raise SystemExit(f"digit_eval.py: error: {path}: {e}")
    options = None if level is None else {"terrain_level": level}
    noise_rng = np.random.default_rng(seed)
    out = {
        "return": [],
        "length": [],
        "success": [],
        "walk_err": [],
        "stand_err": [],
        "walk_speed_cmd": [],
        "v": [],
        "cmd": [],
        "distance": [],
    }
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep, options=options)
        hidden = nets.student.initial_hidden(1)
        ret, since_change, last_cmd, done, t = 0.0, 0, None, False, 0
        while not done:
            with torch.no_grad():
                if who == "teacher":
                    s = torch.as_tensor(obs["state"], dtype=torch.float32)[None]
                    action = nets.teacher(nets.state_norm(s))[0]
                else:
                    o = torch.as_tensor(obs["observation"][:STUDENT_DIM], dtype=torch.float32)[None]
                    action, hidden = nets.student.step(nets.obs_norm(o), hidden)
            if action_std > 0.0:  # exploration noise as in training (i.i.d. Gaussian, action units)
                noise = noise_rng.standard_normal(action.shape)
                action = action + action_std * torch.as_tensor(noise, dtype=torch.float32)
            obs, reward, terminated, truncated, info = env.step(action[0].clamp(-1, 1).numpy())
            ret, t, done = ret + reward, t + 1, terminated or truncated
            cmd = np.asarray(info["command"])
            since_change = 0 if last_cmd is None or not np.array_equal(cmd, last_cmd) else since_change + 1
            last_cmd = cmd
            if since_change >= SETTLE_STEPS and not terminated:
                v = heading_velocity(obs["state"])
                out["v"].append(v)
                out["cmd"].append(cmd[:2])
                err = float(np.linalg.norm(v - cmd[:2]))
                speed = float(np.linalg.norm(cmd[:2]))
                if 0.1 <= speed <= 0.5:
                    out["walk_err"].append(err)
                    out["walk_speed_cmd"].append(speed)
                elif speed < 0.1:
                    out["stand_err"].append(err)
        out["return"].append(ret)
        out["length"].append(t)
        out["success"].append(bool(truncated and not terminated))
        out["distance"].append(info["distance_walked"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--who", choices=("teacher", "student"), default="teacher")
    parser.add_argument("--terrain", choices=("flat", "rough"), default=None, help="default: the checkpoint's")
    parser.add_argument("--alpha", type=float, default=0.1, help="the student's observation noise")
    parser.add_argument("--randomization-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20_000)
    parser.add_argument(
        "--action-std",
        type=float,
        default=0.0,
        help="add i.i.d. Gaussian noise of this std (action units) to every action: survival under "
        "exploration noise (0: deterministic, the default)",
    )
    parser.add_argument(
        "--level",
        type=int,
        default=None,
        help="rough ground: start every episode on this terrain level (default: the env's draw)",
    )
    parser.add_argument(
        "--terrain-type",
        choices=terrain_mod.TYPES,
        default=None,
        help="rough ground: only tiles of this type (default: a random type each episode)",
    )
    a = parser.parse_args()
    torch.set_num_threads(1)
    if a.level is not None and not 0 <= a.level < terrain_mod.NUM_ROWS:
        raise SystemExit(f"digit_eval.py: error: --level must be in [0, {terrain_mod.NUM_ROWS - 1}], got {a.level}")
    try:
        r = evaluate(
            a.checkpoint,
            a.episodes,
            a.who,
            a.terrain,
            a.alpha,
            a.randomization_scale,
            a.seed,
            a.action_std,
            a.level,
            a.terrain_type,
        )
    except checkpoint_file.CheckpointError as e:
        raise SystemExit(f"digit_eval.py: error: {e}")
    walk = np.array(r["walk_err"])
    noise = f", action noise std {a.action_std}" if a.action_std > 0 else ""
    where = "".join(
        f", {name} {value}" for name, value in (("level", a.level), ("terrain", a.terrain_type)) if value is not None
    )
    print(
        f"{a.who} of {a.checkpoint}{noise}{where}: {a.episodes} episodes, success {np.mean(r['success']):.2f}, "
        f"return {np.mean(r['return']):.2f} +- {np.std(r['return']):.2f}, length {np.mean(r['length']):.0f} "
        f"(median {np.median(r['length']):.0f}), distance from the spawn {np.mean(r['distance']):.1f} m"
    )
    if len(walk):
        print(
            f"  walking commands 0.1-0.5 m/s ({len(walk)} steps): mean |v_xy - cmd_xy| {walk.mean():.3f} m/s "
            f"(median {np.median(walk):.3f}); mean commanded speed {np.mean(r['walk_speed_cmd']):.2f} m/s"
        )
    if len(r["v"]) > 2:  # least squares v = gain * cmd + bias per axis: 1 and 0 track, 0 and 0 stand still
        v, cmd = np.array(r["v"]), np.array(r["cmd"])
        fits = [np.polyfit(cmd[:, i], v[:, i], 1) for i in range(2)]
        print(
            "  tracking fit over all scored steps: "
            + ", ".join(f"v{n} = {g:.2f} cmd_{n} {b:+.2f} m/s" for n, (g, b) in zip("xy", fits))
        )
    if r["stand_err"]:
        print(f"  standing commands ({len(r['stand_err'])} steps): mean |v_xy| {np.mean(r['stand_err']):.3f} m/s")


if __name__ == "__main__":
    main()
