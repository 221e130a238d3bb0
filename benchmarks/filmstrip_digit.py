"""Filmstrip of an l2t_ppo_digit.py teacher and student walking on one terrain tile, for the README (offscreen).

    MUJOCO_GL=egl python benchmarks/filmstrip_digit.py runs/<run>/checkpoint.pt \
        --terrain-type pyramid_stairs_inv --level 2 --out docs/digit_stairs.png

One deterministic episode each of the teacher (on the clean state s) and the student (on the noisy observation o at
--alpha), from the same reset (seed, spawn, randomisation at full strength), on the tile of `--terrain-type` at
`--level` (the row of the terrain grid), with the velocity command held at `--command` (vx, vy, yaw rate in the
robot's heading frame) instead of the env's random draws, so that it walks across the tile's steps. Every `--every`
policy steps (20 ms each) one frame from a camera that follows the torso from the side; the teacher's frames in the
top row, the student's below, each labelled with its time and the torso's height above the tile's origin. The
env is the checkpoint's task (`benchmarks/digit_eval.py`'s `make_env`). Prints per policy: the steps it stayed up
and the distance walked over the filmed seconds.
"""

import argparse
import math
import os
import sys

import mujoco
import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digit_eval import load_ppo  # noqa: E402

from envs import checkpoint as checkpoint_file  # noqa: E402
from envs import terrain as terrain_mod  # noqa: E402
from envs.digit.env import DIGIT_NOISY_MASK, OBS_SLICES, STUDENT_DIM, DigitEnv, task_from_run_args  # noqa: E402
from envs.noise import NoisyObservation  # noqa: E402

WIDTH, HEIGHT = 300, 400


def make_env(run_args, alpha, col):
    kwargs, _ = task_from_run_args({**run_args, "terrain": "rough"})
    env = DigitEnv(**kwargs, randomization_scale=1.0, terrain_col=col)
    return NoisyObservation(env, alpha, run_args.get("noise", "uniform"), noisy_mask=DIGIT_NOISY_MASK)


def hold_command(env, command):
    """Replace the env's random command draws by `command` from now on."""
    base = env.unwrapped
    base._command = np.asarray(command, dtype=np.float64)
    base._next_command_t = math.inf
    base._sample_command = lambda: None


def episode(nets, who, env, seed, level, command, every, frames):
    obs, _ = env.reset(seed=seed, options={"terrain_level": level})
    hold_command(env, command)
    base = env.unwrapped
    w, x, y, z = obs["state"][OBS_SLICES["base_quat_w"]]
    yaw = math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
    renderer = mujoco.Renderer(base.model, height=HEIGHT, width=WIDTH)
    camera = mujoco.MjvCamera()  # a free camera on the robot's left, level with its hips, following the torso
    camera.distance, camera.elevation, camera.azimuth = 3.2, -8.0, yaw + 90.0
    origin_z = base._origin[2]
    hidden = nets.student.initial_hidden(1)
    shots, steps, done = [], 0, False
    while not done and steps < frames * every:
        if steps % every == 0:
            camera.lookat[:] = base.data.xpos[base._torso] - [0.0, 0.0, 0.45]
            renderer.update_scene(base.data, camera=camera)
            shots.append((renderer.render().copy(), steps * base.dt, base.data.qpos[2] - origin_z))
        with torch.no_grad():
            if who == "teacher":
                action = nets.teacher(nets.state_norm(torch.as_tensor(obs["state"], dtype=torch.float32)[None]))[0]
            else:
                o = torch.as_tensor(obs["observation"][:STUDENT_DIM], dtype=torch.float32)[None]
                action, hidden = nets.student.step(nets.obs_norm(o), hidden)
        obs, _, terminated, truncated, info = env.step(action[0].clamp(-1, 1).numpy())
        steps, done = steps + 1, terminated or truncated
    renderer.close()
    walked = float(np.linalg.norm(base.data.qpos[:2] - base._origin[:2]))
    return shots, steps, bool(done and not truncated), walked


def strip(shots, label):
    row = Image.new("RGB", (WIDTH * len(shots), HEIGHT + 18), "white")
    draw = ImageDraw.Draw(row)
    for i, (frame, t, height) in enumerate(shots):
        row.paste(Image.fromarray(frame), (i * WIDTH, 18))
        draw.text((i * WIDTH + 4, 3), f"{label} t={t:.1f} s, torso {height:+.2f} m", fill="black")
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--terrain-type", default="pyramid_stairs_inv", help="the tile's terrain type")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--command", type=float, nargs=3, default=(0.5, 0.0, 0.0), metavar=("VX", "VY", "YAW_RATE"))
    parser.add_argument("--alpha", type=float, default=0.1, help="the student's observation noise")
    parser.add_argument("--seed", type=int, default=30_000)
    parser.add_argument("--every", type=int, default=40, help="policy steps between frames")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "digit_stairs.png"))
    a = parser.parse_args()
    types = terrain_mod.column_types(terrain_mod.NUM_COLS)
    if a.terrain_type not in types:
        raise SystemExit(f"filmstrip_digit.py: error: --terrain-type must be one of {', '.join(sorted(set(types)))}")
    if not os.path.isfile(a.checkpoint):
        raise SystemExit(f"filmstrip_digit.py: error: no checkpoint file at '{a.checkpoint}'")
    saved = checkpoint_file.load(a.checkpoint)
    ppo = load_ppo()
    nets = ppo.L2TNets(saved["lstm_hidden"], 1.0, saved["obs_normalization"], 1.0, saved["terrain"])
    nets.load_state_dict(saved["nets"])
    nets.eval()
    rows = []
    for who in ("teacher", "student"):
        env = make_env(saved["args"], a.alpha if who == "student" else 0.0, types.index(a.terrain_type))
        shots, steps, fell, walked = episode(nets, who, env, a.seed, a.level, a.command, a.every, a.frames)
        env.close()
        print(f"{who}: {steps} steps{' (fell)' if fell else ''}, walked {walked:.2f} m from the spawn")
        rows.append(strip(shots, who))
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    for i, r in enumerate(rows):
        sheet.paste(r, (0, i * rows[0].height))
    sheet.save(a.out)
    print(f"wrote {a.out} ({a.terrain_type}, level {a.level}, command {tuple(a.command)}, step {saved['global_step']})")


if __name__ == "__main__":
    main()
