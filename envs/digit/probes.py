"""Measurements behind the numbers in ``envs/digit/env.py``: how long a zero-mean policy survives under
action noise or under the randomisation, what it earns per step, and where spawns put the feet.

    python -m envs.digit.probes exploration --stds 0.05,0.1,0.3 --seeds 8      # survival under action noise
    python -m envs.digit.probes exploration --stds 0.1,0.2,0.3 --seeds 12 --action-scale 0.5 --source-physics
    python -m envs.digit.probes randomization --scales 0.25,0.5,1 --seeds 8 [--gravity-axes xyz]
    python -m envs.digit.probes spawn --spawns 200                             # feet over the stepping-stones pit
    python -m envs.digit.probes gravity --seeds 8                              # gravity offsets alone, z vs xyz
    python -m envs.digit.probes curriculum --episodes 4000                     # a perfect tracker's level moves

Each run is one process on one core (set ``OMP_NUM_THREADS=1``); none takes more than a few minutes.
"""

from __future__ import annotations

import argparse

import mujoco
import numpy as np

from envs import terrain as terrain_mod
from envs.digit import POLICY_DT
from envs.digit.env import (
    COMMAND_RANGES,
    COMMAND_RESAMPLE_S,
    CURRICULUM_RULES,
    EPISODE_LENGTH_S,
    MAX_EPISODE_STEPS,
    PAPER_REWARD_WEIGHTS,
    REWARD_WEIGHTS,
    STANDING_SHARE,
    DigitEnv,
)

GAMMA = 0.99


def exploration_rollouts(std, seeds, **env_kwargs):
    """A zero-mean policy with i.i.d. N(0, std^2) actions on nominal flat ground (``randomize=False``), one episode per
    seed (action noise from ``default_rng(1000 + seed)``), up to the 1000-step time-out.

    Returns (episode lengths, {term: mean per-step value}) with the env's weights (``env_kwargs`` may set
    ``reward_weights``); every term is linear in its weight, so other weight sets follow by reweighting
    (``per_step_reward``)."""
    env = DigitEnv(terrain="flat", randomize=False, **env_kwargs)
    lengths, sums, steps = [], dict.fromkeys(REWARD_WEIGHTS, 0.0), 0
    for seed in seeds:
        env.reset(seed=seed)
        rng = np.random.default_rng(1000 + seed)
        for k in range(MAX_EPISODE_STEPS):
            _, _, terminated, truncated, info = env.step(rng.normal(0.0, std, env.action_space.shape))
            for name, value in info["reward_terms"].items():
                sums[name] += value
            steps += 1
            if terminated or truncated:
                break
        lengths.append(k + 1)
    weights = env.reward_weights
    env.close()
    return lengths, {name: value / steps / (weights[name] or 1.0) for name, value in sums.items()}


def per_step_reward(unit_terms, weights=REWARD_WEIGHTS):
    """Mean reward per step without the termination term, from ``exploration_rollouts``'s per-unit-weight terms."""
    return float(sum(weights[name] * value for name, value in unit_terms.items() if name != "termination"))


def break_even(weights=REWARD_WEIGHTS, gamma=GAMMA):
    """The per-step reward above which surviving pays: (1 - gamma) x the fall's termination term (w x 0.02 s)."""
    return (1.0 - gamma) * weights["termination"] * 0.02


def randomization_survival(scale, seeds, **env_kwargs):
    """Episode lengths of zero action on flat ground under the randomisation at strength ``scale``."""
    env = DigitEnv(terrain="flat", randomization_scale=scale, **env_kwargs)
    lengths = []
    for seed in seeds:
        env.reset(seed=seed)
        lengths.append(zero_action_length(env))
    env.close()
    return lengths


def zero_action_length(env):
    """Steps of zero action until the episode ends (or MAX_EPISODE_STEPS)."""
    for k in range(MAX_EPISODE_STEPS):
        _, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape))
        if terminated or truncated:
            break
    return k + 1


def gravity_only_survival(axes, seeds, delta=0.5):
    """Episode lengths of zero action on nominal flat ground with ONLY a gravity offset U(-delta, delta) on z or on
    every axis (drawn from ``default_rng(seed)``), i.e. Table III's gravity event alone."""
    env = DigitEnv(terrain="flat", randomize=False)
    lengths = []
    for seed in seeds:
        env.reset(seed=seed)
        dg = np.random.default_rng(seed).uniform(-delta, delta, 3)
        if axes == "z":
            dg[:2] = 0.0
        env.model.opt.gravity[:] = env._nominal["gravity"] + dg
        lengths.append(zero_action_length(env))
    env.close()
    return lengths


def pit_spawns(spawns, platform_rule=True, level=0, seed=0):
    """How many of ``spawns`` resets on a level-``level`` stepping-stones tile put a foot point over the pit."""
    cols = terrain_mod.column_types(7)
    env = DigitEnv(terrain_rows=3, terrain_cols=7, terrain_col=cols.index("stepping_stones"))
    if not platform_rule:
        env._stone_platform = lambda col: None
    env.reset(seed=seed)
    bad = 0
    for _ in range(spawns):
        env.terrain_level = level  # the next reset's curriculum update starts from it
        env.reset()
        mujoco.mj_kinematics(env.model, env.data)
        bad += bool(np.any(env._ground_height(env._foot_points()) < -0.5))
    env.close()
    return bad


def perfect_tracker_levels(rule, episodes, seed=0, dt=POLICY_DT):
    """How the terrain level moves for a robot that follows every command exactly and never falls (kinematics only,
    no physics): commands drawn as the env draws them (``COMMAND_RANGES``, ``STANDING_SHARE``, redrawn every
    ``COMMAND_RESAMPLE_S``), heading integrated from the yaw-rate command, 20 s episodes, then one level update by
    ``rule`` ("isaac" or "tracking", the env's ``curriculum`` kwarg). Returns (P(up), P(down), mean distance
    walked in m) over ``episodes`` episodes."""
    rng = np.random.default_rng(seed)
    up = down = 0
    walked_sum = 0.0
    for _ in range(episodes):
        yaw, pos, t, next_t, cmd = rng.uniform(-np.pi, np.pi), np.zeros(2), 0, 0.0, np.zeros(3)
        for t in range(MAX_EPISODE_STEPS):
            if t * dt >= next_t - 1e-9:
                standing = rng.uniform() < STANDING_SHARE
                cmd = np.zeros(3) if standing else np.array([rng.uniform(lo, hi) for lo, hi in COMMAND_RANGES])
                next_t = t * dt + rng.uniform(*COMMAND_RESAMPLE_S)
            c, s = np.cos(yaw), np.sin(yaw)
            pos += dt * np.array([c * cmd[0] - s * cmd[1], s * cmd[0] + c * cmd[1]])
            yaw += dt * cmd[2]
        walked = float(np.linalg.norm(pos))  # = the commanded path's displacement: the tracking is perfect
        commanded = np.linalg.norm(cmd[:2]) * EPISODE_LENGTH_S if rule == "isaac" else walked
        new = terrain_mod.update_levels([5], [walked], [commanded], 10, rng, fell=[False], rule=rule)[0]
        up += new > 5
        down += new < 5
        walked_sum += walked
    return up / episodes, down / episodes, walked_sum / episodes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("exploration", "randomization", "spawn", "gravity", "curriculum"))
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--stds", default="0.05,0.1,0.3")
    parser.add_argument("--scales", default="0.25,0.5,1")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--spawns", type=int, default=200)
    parser.add_argument("--action-scale", type=float, default=None)
    parser.add_argument("--source-physics", action="store_true")
    parser.add_argument("--gravity-axes", default="z")
    args = parser.parse_args()
    if args.what == "exploration":
        kw = dict(source_physics=args.source_physics)
        if args.action_scale is not None:
            kw["action_scale"] = args.action_scale
        for std in map(float, args.stds.split(",")):
            lengths, unit = exploration_rollouts(std, range(args.seeds), **kw)
            print(
                f"std {std}: median {np.median(lengths)} steps {sorted(lengths)}; reward per step without the "
                f"termination term: v1 {per_step_reward(unit):+.4f}, paper "
                f"{per_step_reward(unit, PAPER_REWARD_WEIGHTS):+.4f} (surviving pays above "
                f"{break_even():+.3f})",
                flush=True,
            )
    elif args.what == "randomization":
        for scale in map(float, args.scales.split(",")):
            lengths = randomization_survival(scale, range(args.seeds), gravity_axes=args.gravity_axes)
            print(
                f"zero action, flat, randomization_scale {scale}, gravity {args.gravity_axes}: median "
                f"{np.median(lengths)} steps {sorted(lengths)}",
                flush=True,
            )
    elif args.what == "gravity":
        for axes in ("xyz", "z"):
            lengths = gravity_only_survival(axes, range(args.seeds))
            print(
                f"zero action, flat, gravity offset U(-0.5, 0.5) on {axes} only: median {np.median(lengths)} steps "
                f"{sorted(lengths)}",
                flush=True,
            )
    elif args.what == "curriculum":
        for rule in CURRICULUM_RULES:
            p_up, p_down, walked = perfect_tracker_levels(rule, args.episodes)
            print(
                f"curriculum={rule!r}, a perfect tracker that never falls, {args.episodes} episodes: P(up) "
                f"{p_up:.3f}, P(down) {p_down:.3f}, mean distance from the origin {walked:.2f} m",
                flush=True,
            )
    else:
        for rule in (False, True):
            print(
                f"platform rule {'on' if rule else 'off'}: {pit_spawns(args.spawns, rule)} of {args.spawns} level-0 "
                f"spawns put a foot over the pit",
                flush=True,
            )


if __name__ == "__main__":
    main()
