"""What the rough grid's ground costs MuJoCo, per terrain type: raw physics of one control period.

    python benchmarks/digit_terrain_cost.py                       # standing robots, this tree (~20 s)
    python benchmarks/digit_terrain_cost.py --walk CKPT           # + a walking teacher (an l2t_ppo_digit checkpoint)
    python benchmarks/digit_terrain_cost.py --tree /path/to/worktree   # the same, with that tree's envs/

Standing: for each terrain type at rows 0 and 3, ``DigitEnv(terrain="rough", terrain_col=<its column>)`` stands 50
steps with zero action, then one saved state is stepped (``mj_step`` x 10 substeps) ``--repeats`` times (minimum
of the repeats), with the contacts and constraint rows of that state. Walking: the
checkpoint's teacher (deterministic, full randomisation) walks 200 steps per type from row 2; MuJoCo's own timers
give the step, collision and constraint-solver time per control period and the mean contacts and rows. Other load
on the machine distorts everything: stop other jobs first; on a VM, run the trees in turn more than once.
"""

import argparse
import os
import sys
import time

import numpy as np

TYPES = (
    ("flat", 0),
    ("flat", 3),
    ("pyramid_stairs", 0),
    ("pyramid_stairs", 3),
    ("stepping_stones", 0),
    ("stepping_stones", 3),
    ("random_rough", 0),
    ("random_rough", 3),
    ("pyramid_slope", 0),
    ("pyramid_slope", 3),
)


def standing(repeats):
    import mujoco
    from envs import terrain as terrain_mod
    from envs.digit.env import DigitEnv

    cols = terrain_mod.column_types(terrain_mod.NUM_COLS)
    print("| tile | row | physics, ms a control period | contacts | constraint rows | torso z (m) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, row in TYPES:
        env = DigitEnv(terrain="rough", terrain_col=cols.index(kind), randomize=False)
        env.reset(seed=0, options={"terrain_level": row})
        for _ in range(50):
            env.step(np.zeros(env.action_space.shape))
        m, d = env.model, env.data
        sig = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.zeros(mujoco.mj_stateSize(m, sig))
        mujoco.mj_getState(m, d, state, sig)
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(10):
                mujoco.mj_setState(m, d, state, sig)
                mujoco.mj_step(m, d, nstep=env.substeps)
            best = min(best, (time.perf_counter() - t) / 10 * 1e3)
        print(f"| {kind} | {row} | {best:.3f} | {d.ncon} | {d.nefc} | {d.qpos[2]:.4f} |", flush=True)


def walking(path, steps=200):
    import importlib.util

    import mujoco
    import torch
    from envs import checkpoint as checkpoint_file
    from envs import terrain as terrain_mod
    from envs.digit.env import DigitEnv

    spec = importlib.util.spec_from_file_location("l2t_ppo_digit", os.path.join(HERE, "..", "l2t_ppo_digit.py"))
    ppo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ppo)
    saved = checkpoint_file.load(path)
    nets = ppo.L2TNets(saved["lstm_hidden"], 1.0, saved["obs_normalization"], 1.0, saved["terrain"])
    nets.load_state_dict(saved["nets"])
    nets.eval()
    cols = terrain_mod.column_types(terrain_mod.NUM_COLS)
    print("\n| walking on | step, ms a control period | collision | constraint solver | contacts | rows | falls |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    timer = {name: int(getattr(mujoco.mjtTimer, f"mjTIMER_{name}")) for name in ("STEP", "POS_COLLISION", "CONSTRAINT")}
    for kind in dict(TYPES):
        env = DigitEnv(terrain="rough", terrain_col=cols.index(kind), randomization_scale=1.0)
        obs, _ = env.reset(seed=3, options={"terrain_level": 2})
        d = env.data
        for t in d.timer:
            t.duration, t.number = 0.0, 0
        ncon = nefc = falls = 0
        spent = dict.fromkeys(timer, 0.0)  # a reset clears MuJoCo's timers: add them up before each
        for i in range(steps):
            with torch.no_grad():
                a = nets.teacher(nets.state_norm(torch.as_tensor(obs, dtype=torch.float32)[None]))[0]
            obs, _, terminated, truncated, _ = env.step(a.clamp(-1, 1).numpy())
            ncon, nefc = ncon + d.ncon, nefc + d.nefc
            if terminated or truncated or i == steps - 1:
                spent = {k: spent[k] + d.timer[v].duration for k, v in timer.items()}
            if terminated or truncated:
                falls += int(terminated)
                obs, _ = env.reset(seed=i, options={"terrain_level": 2})
        ms = {k: spent[k] / steps * 1e3 for k in timer}
        print(
            f"| {kind} | {ms['STEP']:.3f} | {ms['POS_COLLISION']:.3f} | {ms['CONSTRAINT']:.3f} | {ncon / steps:.1f} | "
            f"{nefc / steps:.0f} | {falls} |",
            flush=True,
        )


HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walk", metavar="CKPT", default=None, help="also time this checkpoint's teacher walking")
    parser.add_argument("--tree", default=os.path.dirname(HERE), help="the source tree whose envs/ to time")
    parser.add_argument("--repeats", type=int, default=30, help="standing: timed repeats (their minimum)")
    a = parser.parse_args()
    if a.walk is not None and not os.path.isfile(a.walk):
        parser.error(f"--walk: no file '{a.walk}'")
    if not os.path.isdir(os.path.join(a.tree, "envs")):
        parser.error(f"--tree: '{a.tree}' has no envs/ folder")
    if a.repeats < 1:
        parser.error("--repeats must be >= 1")
    sys.path.insert(0, os.path.abspath(a.tree))
    print(f"envs/ of {os.path.abspath(a.tree)}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    standing(a.repeats)
    if a.walk is not None:
        walking(a.walk)
