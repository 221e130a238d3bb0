"""Throughput of the Digit envs on this machine.

    python benchmarks/digit_throughput.py            # ~1.5 min on 2 cores; prints a markdown table

What it measures (rough terrain, randomisation on: the training setting; actions uniform in [-0.3, 0.3] drawn from a
fixed seed, so robots walk, stumble, fall and autoreset as in early training):

1. Env step vs raw physics, single env: for each of ``--ratio-steps`` steps, the state before the step is saved,
   ``DigitEnv.step(a)`` is timed, the state is restored and the raw physics of the same control period is timed on the
   same model and state (``data.ctrl = STAND_CTRL + action_scale a``, one ``mj_step(nstep=substeps)`` + one
   ``mj_forward``; 10 substeps of 2 ms, or 40 of 0.5 ms with ``--source-physics``), then
   the post-step state is put back. The ratio is sum(env) / sum(raw): the Python cost of observation, contacts,
   rewards, termination and events on top of the physics (target <= 1.2).
2. ``DigitVectorEnv`` throughput, env steps per second (= num_envs x vector steps / wall time, autoresets included,
   construction and the first reset excluded) for 1, 8 and 32 envs with 0 (in-process), 1 and 2 workers, and the
   speed-up from 1 to 2 workers (target >= 1.7 on 2 cores). "worker busy / wall": the share of the wall time each
   worker spent stepping its envs (the rest it waited: for the parent, or for the slower worker at each step).
3. For comparison, the same ratio on the flat floor (``terrain="flat"``), to show what the rough grid's geoms cost
   the physics itself.

``--source-physics`` (the source's 0.5 ms steps, v0's physics) and ``--no-sleep`` (MuJoCo's sleep flag off, so the
static terrain geoms' poses are recomputed every physics step, as in v0) measure what the 2 ms physics and the flag
save; ``--ratio-only`` skips the throughput table (one core, in process).

``--compare-with REV``: the default training command (``python l2t_ppo_digit.py``, 2 workers, 64 envs) for
``--iterations`` PPO iterations, in a ``git worktree`` of REV and in this tree, alternating, ``--repeats`` times each,
on flat and on rough ground: the side-by-side table of a throughput change (its env steps/s exclude the evaluation).

Other load on the machine distorts everything: the load average before the run is printed; stop other jobs first.

``--backend warp`` measures the MuJoCo Warp backend instead (any machine with an NVIDIA GPU; warp's CPU device works
but is only for tests):

    python benchmarks/digit_throughput.py --backend warp --num-envs 4096 --device cuda:0

1. ``DigitWarpVectorEnv.step`` with random actions on the device (rough terrain, randomisation on, autoresets),
   synchronised around each step: env steps/s, split into the physics (the captured control period of
   ``WarpDigitSim.step``, synchronised), the reset (``_reset_worlds``: draws, ``reset_data``, ``set_const``,
   kinematics, spawn and ``forward``, run for every world at every step, synchronised) and the rest (task:
   observation, rewards, termination, events, noise).
2. With ``--train-iterations K`` (> 1), ``l2t_ppo_digit.py --backend warp`` itself for K iterations of 24 steps:
   its env steps/s and the learning share of the wall time (``charts/learn_fraction``; first iteration dropped).

``--check``: what a GPU run of the paper-scale command needs, in one run of a few minutes (kernel compilation
included), with one summary table and exit status 1 if a check fails:

    python benchmarks/digit_throughput.py --backend warp --check            # 4096 worlds on cuda:0

kernels compile and the first reset runs (its time); 4096 worlds step through autoresets with finite states; on CUDA,
no step synchronises with the host (torch's sync debug mode set to "error" around the unsynchronised timed steps); no
MuJoCo Warp buffer overflowed (``check_overflow``; the largest constraint rows and contacts against njmax and the
contact pool); env steps/s with the physics / reset / task split; then ``--train-iterations`` (default 3) PPO
iterations of ``l2t_ppo_digit.py --backend warp`` with each iteration's steps/s and learning share. On warp's CPU
device (a try-out, not a check of the GPU path) use at least 4 worlds, PPO's default minibatch count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import mujoco
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from envs.digit import STAND_CTRL  # noqa: E402
from envs.digit.env import DigitEnv  # noqa: E402
from envs.digit.vector import DigitVectorEnv  # noqa: E402

ACTION_RANGE = 0.3


def step_vs_physics(
    steps: int, seed: int = 0, terrain: str = "rough", source_physics: bool = False, sleep: bool = True
):
    """(ms per env step, ms per raw control period, ratio) on the same states; see the module docstring."""
    env = DigitEnv(terrain=terrain, source_physics=source_physics)
    if not sleep:
        env.model.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    env.reset(seed=seed)
    m, d = env.model, env.data
    kind = mujoco.mjtState.mjSTATE_INTEGRATION  # qpos, qvel, act, ctrl, warm start, xfrc_applied, ...
    before, after = (np.empty(mujoco.mj_stateSize(m, kind)) for _ in range(2))
    rng = np.random.default_rng(seed)
    t_env = t_raw = 0.0
    for _ in range(steps):
        a = ACTION_RANGE * rng.uniform(-1.0, 1.0, size=20)
        mujoco.mj_getState(m, d, before, kind)
        t0 = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(a)
        t1 = time.perf_counter()
        mujoco.mj_getState(m, d, after, kind)
        mujoco.mj_setState(m, d, before, kind)
        d.ctrl[:] = STAND_CTRL + env.action_scale * np.clip(a, -1.0, 1.0)
        t2 = time.perf_counter()
        mujoco.mj_step(m, d, nstep=env.substeps)
        mujoco.mj_forward(m, d)
        t3 = time.perf_counter()
        mujoco.mj_setState(m, d, after, kind)
        mujoco.mj_forward(m, d)
        t_env += t1 - t0
        t_raw += t3 - t2
        if terminated or truncated:
            env.reset()
    env.close()
    return 1e3 * t_env / steps, 1e3 * t_raw / steps, t_env / t_raw


def vector_throughput(num_envs: int, num_workers: int, steps: int, seed: int = 0, warmup: int = 5):
    """Env steps per second of DigitVectorEnv (rough terrain, random actions)."""
    envs = DigitVectorEnv(num_envs=num_envs, num_workers=num_workers, seed=seed, alpha=0.1)
    try:
        envs.reset()
        rng = np.random.default_rng(seed)
        actions = ACTION_RANGE * rng.uniform(-1.0, 1.0, size=(warmup + steps, num_envs, 20))
        for k in range(warmup):
            envs.step(actions[k])
        busy0 = envs.worker_busy_seconds
        t0 = time.perf_counter()
        for k in range(warmup, warmup + steps):
            envs.step(actions[k])
        elapsed = time.perf_counter() - t0
        busy = envs.worker_busy_seconds - busy0
    finally:
        envs.close()
    return num_envs * steps / elapsed, busy / elapsed


def _sync(device):
    import warp as wp
    import torch

    wp.synchronize()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def warp_throughput(
    num_envs: int, steps: int, device: str, terrain: str = "rough", seed: int = 0, warmup: int = 5, envs=None
):
    """(env steps/s, seconds per step in the physics, in the reset, in the rest) of DigitWarpVectorEnv over `steps`
    vector steps after `warmup` (``envs``: an existing env, else one is built and reset). The physics and the reset
    are synchronised on both sides to time them, so the steps/s is a little below the unsynchronised pipeline's."""
    import torch
    from envs.digit.warp_vector import DigitWarpVectorEnv

    if envs is None:
        envs = DigitWarpVectorEnv(
            num_envs=num_envs, device=device, seed=seed, alpha=0.1, env_kwargs={"terrain": terrain}
        )
        envs.reset()
    gen = torch.Generator(device=envs.device).manual_seed(seed)
    spent = {"physics": 0.0, "reset": 0.0}

    def timed(name, fn):  # fn alone, synchronised on both sides
        def wrapper(*args, **kwargs):
            _sync(device)
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(device)
            spent[name] += time.perf_counter() - t0
            return out

        return wrapper

    period, reset = envs.sim.step, envs._reset_worlds
    envs.sim.step, envs._reset_worlds = timed("physics", period), timed("reset", reset)
    try:
        for k in range(warmup + steps):
            if k == warmup:
                _sync(device)
                spent.update(physics=0.0, reset=0.0)
                t0 = time.perf_counter()
            a = ACTION_RANGE * (2.0 * torch.rand(num_envs, 20, generator=gen, device=envs.device) - 1.0)
            envs.step(a)
    finally:
        envs.sim.step, envs._reset_worlds = period, reset
    _sync(device)
    elapsed = time.perf_counter() - t0
    return (
        num_envs * steps / elapsed,
        spent["physics"] / steps,
        spent["reset"] / steps,
        (elapsed - spent["physics"] - spent["reset"]) / steps,
    )


def pipeline_throughput(envs, steps: int, seed: int = 0, no_sync: bool = False):
    """Env steps/s of `steps` unsynchronised vector steps of an env that has stepped before (its graphs captured).
    ``no_sync`` (CUDA): under torch's sync debug mode "error", so a host sync in a step raises."""
    import torch

    device = str(envs.device)
    gen = torch.Generator(device=envs.device).manual_seed(seed)
    actions = [
        ACTION_RANGE * (2.0 * torch.rand(envs.num_envs, 20, generator=gen, device=envs.device) - 1.0)
        for _ in range(steps)
    ]
    _sync(device)
    t0 = time.perf_counter()
    try:
        if no_sync:
            torch.cuda.set_sync_debug_mode("error")
        for a in actions:
            envs.step(a)
    finally:
        if no_sync:
            torch.cuda.set_sync_debug_mode(0)
    _sync(device)
    return envs.num_envs * steps / (time.perf_counter() - t0)


def warp_training(num_envs: int, iterations: int, device: str, terrain: str = "rough"):
    """([env steps/s], [learning share]) of each of `iterations` iterations of l2t_ppo_digit.py --backend warp (24
    steps each; the first includes the graph captures)."""
    import importlib.util
    import tempfile
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("l2t_ppo_digit", os.path.join(root, "l2t_ppo_digit.py"))
    ppo = importlib.util.module_from_spec(spec)
    sys.modules["l2t_ppo_digit"] = ppo
    spec.loader.exec_module(ppo)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = ppo.main(
            ppo.Args(
                backend="warp",
                device=device,
                terrain=terrain,
                num_envs=num_envs,
                total_timesteps=iterations * num_envs * 24,
                eval_frequency=0,
                eval_episodes=1,
                checkpoint_frequency=0,
                runs_dir=tmp,
            )
        )
        ea = EventAccumulator(run_dir, size_guidance={"scalars": 0})
        ea.Reload()
        sps = [e.value for e in ea.Scalars("charts/SPS")]
        learn = [e.value for e in ea.Scalars("charts/learn_fraction")]
    return sps, learn


def _device_line(device):
    import torch

    if torch.device(device).type == "cuda":
        total = torch.cuda.mem_get_info(device)[1]
        return f"{torch.cuda.get_device_name(device)}, {total / 2**30:.0f} GiB"
    return f"CPU, {os.cpu_count()} cores"


def check(
    num_envs: int, device: str, terrain: str = "rough", steps: int = 50, train_iterations: int = 3, seed: int = 0
):
    """The ``--check`` run: [(check, result, passed or None for a measurement)] (see the module docstring)."""
    import torch
    import warp as wp
    from envs.digit.warp_backend import WarpOverflowError
    from envs.digit.warp_vector import DigitWarpVectorEnv

    rows = []
    cuda = torch.device(device).type == "cuda"
    t0 = time.perf_counter()
    try:
        envs = DigitWarpVectorEnv(
            num_envs=num_envs, device=device, seed=seed, alpha=0.1, env_kwargs={"terrain": terrain}
        )
        envs.reset()
        _sync(device)
    except Exception as e:  # noqa: BLE001 - the table reports it
        return [("build the env, compile the kernels, first reset", f"{type(e).__name__}: {e}", False)]
    rows.append(
        (
            f"build {num_envs} worlds ({terrain}), compile and load the kernels, first reset",
            f"{time.perf_counter() - t0:.1f} s (Warp {wp.__version__})",
            True,
        )
    )
    measured, sync_result = None, None
    try:
        _, phys, reset, rest = warp_throughput(num_envs, steps, device, envs=envs, seed=seed)  # warm-up and split
        try:
            sps = pipeline_throughput(envs, steps, seed=seed + 1, no_sync=cuda)
            sync_result = ("none (torch sync debug mode 'error')", True) if cuda else ("not checked (CPU device)", None)
        except RuntimeError as e:
            if isinstance(e, WarpOverflowError) or "synchroniz" not in str(e):
                raise
            sync_result = (f"FOUND: {str(e).splitlines()[0]}", False)
            sps = pipeline_throughput(envs, steps, seed=seed + 1)
        measured = (sps, phys, reset, rest)
        envs.check_overflow()
        overflow = ("none", True)
    except WarpOverflowError as e:  # from a step's poll or from check_overflow
        overflow = (str(e), False)
    finite = bool(envs.sim.finite().all())
    rows.append(
        (
            f"up to {2 * steps} vector steps after 5 of warm-up, actions U(-{ACTION_RANGE}, {ACTION_RANGE})",
            "finite states" if finite else "NON-FINITE states",
            finite,
        )
    )
    if sync_result is not None:
        rows.append(("host syncs in DigitWarpVectorEnv.step", *sync_result))
    use = envs.sim.usage()
    rows.append(("MuJoCo Warp buffer overflow (check_overflow)", *overflow))
    rows.append(("largest constraint rows of a world / njmax", f"{use['rows']} / {use['njmax']}", None))
    rows.append(
        (
            "largest contacts / collision candidates of the pool / naconmax",
            f"{use['contacts']} / {use['candidates']} / {use['naconmax']}",
            None,
        )
    )
    flags = ", ".join(f"{name} {worlds}" for name, worlds in use["flags"].items()) or "none"
    rows.append(
        ("MuJoCo Warp flags set, worlds per flag (solver limits and heightfield caps do not stop)", flags, None)
    )
    if measured is not None:
        sps, phys, reset, rest = measured
        rows.append(("env steps/s (all envs, autoresets included, unsynchronised)", f"{sps:.0f}", None))
        split = f"{1e3 * phys:.2f} / {1e3 * reset:.2f} / {1e3 * rest:.2f} ms"
        rows.append(("per vector step, each part synchronised: physics / reset / task", split, None))
    del envs
    if train_iterations > 0:
        try:
            tsps, learn = warp_training(num_envs, train_iterations, device, terrain)
            name = (
                f"l2t_ppo_digit.py --backend warp, {train_iterations} iterations of {num_envs} x 24 steps: "
                "env steps/s per iteration (charts/SPS)"
            )
            rows.append((name, " / ".join(f"{v:.0f}" for v in tsps), True))
            rows.append(
                (
                    "... learning share of each iteration (charts/learn_fraction)",
                    " / ".join(f"{v:.0%}" for v in learn),
                    None,
                )
            )
        except SystemExit as e:  # the script's own one-line stop (printed above)
            rows.append(("l2t_ppo_digit.py --backend warp", f"stopped with exit status {e.code}", False))
        except Exception as e:  # noqa: BLE001 - the table reports it
            rows.append(("l2t_ppo_digit.py --backend warp", f"{type(e).__name__}: {str(e).splitlines()[0]}", False))
    if cuda:
        free, total = torch.cuda.mem_get_info(device)
        rows.append(("device memory in use at the end (all processes)", f"{(total - free) / 2**30:.1f} GiB", None))
    rows.append(("wall time of the check", f"{time.perf_counter() - t0:.0f} s", None))
    return rows


def print_check(rows, device, num_envs):
    print()
    print(f"Warp backend check: {num_envs} worlds on {device} ({_device_line(device)})")
    print()
    print("| check | result | |")
    print("|---|---|---|")
    for name, result, ok in rows:
        mark = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"| {name} | {result} | {mark} |")
    failed = [name for name, _, ok in rows if ok is False]
    print()
    print("FAILED: " + "; ".join(failed) if failed else "All checks passed.")
    return not failed


def main_warp(args):
    import warp as wp

    print(
        f"CPU cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"MuJoCo {mujoco.__version__}, Warp {wp.__version__}, device {args.device}"
    )
    if args.check:
        iterations = 3 if args.train_iterations is None else args.train_iterations
        ok = print_check(
            check(args.num_envs, args.device, args.terrain, args.warp_steps, iterations), args.device, args.num_envs
        )
        return 0 if ok else 1
    sps, phys, reset, rest = warp_throughput(args.num_envs, args.warp_steps, args.device, args.terrain)
    print()
    print(
        f"MuJoCo Warp, {args.terrain} terrain, randomisation on, actions U(-{ACTION_RANGE}, {ACTION_RANGE}), "
        f"{args.num_envs} envs on {args.device}, {args.warp_steps} steps after 5 of warm-up."
    )
    print()
    print("| measurement | value |")
    print("|---|---|")
    print(f"| env steps/s (all envs) | {sps:.0f} |")
    print(f"| physics per vector step (control period, captured graph) | {1e3 * phys:.2f} ms |")
    print(
        f"| reset per vector step (every world, masked: draws, reset_data, set_const, spawn, forward) | "
        f"{1e3 * reset:.2f} ms |"
    )
    print(f"| task per vector step (observation, rewards, termination, events, noise) | {1e3 * rest:.2f} ms |")
    iterations = args.train_iterations or 0
    if iterations > 1:
        tsps, learn = warp_training(args.num_envs, iterations, args.device, args.terrain)
        print(f"| l2t_ppo_digit.py --backend warp: env steps/s, {iterations} iterations | {np.mean(tsps[1:]):.0f} |")
        print(f"| ... share of wall time in the update (charts/learn_fraction) | {np.mean(learn[1:]):.0%} |")
    print()
    print(f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def default_command_sps(tree, terrain, iterations, runs_dir, resume=None):
    """(env steps/s, share of the wall time in ``envs.step``) of ``python l2t_ppo_digit.py`` (the default command: 2
    workers, 64 envs) in the source tree ``tree`` on ``terrain``, over ``iterations`` PPO iterations; evaluation and
    checkpoints excluded (the script's own final "SPS" line; the share from its last progress line)."""
    import re
    import subprocess

    start = 0
    extra = ["--exp-name", "throughput"]
    if resume is not None:  # a copy of the checkpoint, so that every run starts from the same state
        import shutil
        from envs import checkpoint as checkpoint_file

        folder = os.path.join(runs_dir, f"resume-{time.time_ns()}")
        os.makedirs(folder)
        shutil.copy(resume, os.path.join(folder, "checkpoint.pt"))
        start = int(checkpoint_file.load(resume)["global_step"])
        extra = ["--resume", os.path.join(folder, "checkpoint.pt")]
    cmd = [
        sys.executable,
        "l2t_ppo_digit.py",
        "--terrain",
        terrain,
        "--total-timesteps",
        str(start + iterations * 64 * 24),
        "--eval-frequency",
        "0",
        "--eval-episodes",
        "2",
        "--checkpoint-frequency",
        "0",
        "--runs-dir",
        runs_dir,
    ] + extra
    out = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
    found = re.findall(r"SPS \(evaluation and checkpoints excluded\): ([0-9.]+)", out.stdout)
    if out.returncode != 0 or not found:
        raise SystemExit(
            f"digit_throughput.py: the default command failed in {tree}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
        )
    sim = re.findall(r"\| sim ([0-9]+)%", out.stdout)
    return float(found[-1]), (float(sim[-1]) / 100 if sim else float("nan"))


def compare_commits(rev, repeats, iterations, resume=None, terrains=("flat", "rough")):
    """The default command's env steps/s in a ``git worktree`` of ``rev`` and in this tree, alternating, ``repeats``
    times each, on flat and rough ground (or ``terrains``), from scratch or from a copy of the checkpoint ``resume``
    each time; prints a markdown table (mean and range)."""
    import shutil
    import subprocess
    import tempfile

    tmp = tempfile.mkdtemp(prefix="l2t_compare_")
    old = os.path.join(tmp, "tree")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", old, rev], check=True, capture_output=True)
    try:
        sha = subprocess.run(
            ["git", "-C", old, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        print(
            f"CPU cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"{rev} = {sha} against this tree; {iterations} iterations a run, {repeats} repeats, alternating"
        )
        sps = {}
        for terrain in terrains:
            for k in range(repeats):
                for name, tree in (("before", old), ("this tree", ROOT)):
                    value, sim = default_command_sps(tree, terrain, iterations, os.path.join(tmp, "runs"), resume)
                    sps.setdefault((terrain, name), []).append(value)
                    print(
                        f"  {terrain}, {name}, repeat {k + 1}: {value:.0f} env steps/s, {sim:.0%} of the time in "
                        "envs.step",
                        flush=True,
                    )
        print()
        print(f"| terrain | {rev} ({sha}) | this tree | speed-up |")
        print("|---|---:|---:|---:|")
        for terrain in terrains:
            a, b = sps[terrain, "before"], sps[terrain, "this tree"]
            print(
                f"| {terrain} | {np.mean(a):.0f} ({min(a):.0f}-{max(a):.0f}) | {np.mean(b):.0f} ({min(b):.0f}-"
                f"{max(b):.0f}) | {np.mean(b) / np.mean(a):.2f}x |"
            )
        print(f"\nLoad average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        choices=("mujoco", "warp"),
        default="mujoco",
        help="mujoco: DigitVectorEnv on the CPU (the tables below); warp: DigitWarpVectorEnv",
    )
    parser.add_argument("--num-envs", type=int, default=4096, help="warp: number of worlds")
    parser.add_argument("--device", default="cuda:0", help="warp: the device (cuda:0, ...; cpu for a try-out)")
    parser.add_argument("--warp-steps", type=int, default=50, help="warp: timed vector steps")
    parser.add_argument(
        "--train-iterations",
        type=int,
        default=None,
        help="warp: also run l2t_ppo_digit.py --backend warp for this many iterations (> 1; "
        "--check: default 3, 0 skips it)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="warp: the GPU check (compile, step, no host sync, no overflow, steps/s, PPO iterations)",
    )
    parser.add_argument("--terrain", choices=("rough", "flat"), default="rough", help="warp: the terrain")
    parser.add_argument("--ratio-steps", type=int, default=400, help="steps for the env-vs-physics ratio")
    parser.add_argument(
        "--env-steps",
        type=int,
        default=1600,
        help="env steps per throughput configuration (divided by num_envs for the vector steps)",
    )
    parser.add_argument(
        "--configs",
        default="1x0,1x1,8x0,8x1,8x2,32x0,32x1,32x2",
        help="comma-separated num_envs x num_workers configurations for the throughput table",
    )
    parser.add_argument("--skip-ratio", action="store_true", help="only the throughput table")
    parser.add_argument("--ratio-only", action="store_true", help="only the single-env step costs (one core)")
    parser.add_argument("--source-physics", action="store_true", help="single-env costs at the source's 0.5 ms")
    parser.add_argument("--no-sleep", action="store_true", help="single-env costs with MuJoCo's sleep flag off")
    parser.add_argument(
        "--compare-with",
        metavar="REV",
        default=None,
        help="the default training command's env steps/s here against a git worktree of REV",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--compare-with: alternating repeats per tree")
    parser.add_argument("--iterations", type=int, default=20, help="--compare-with: PPO iterations a run")
    parser.add_argument(
        "--resume-from",
        metavar="CKPT",
        default=None,
        help="--compare-with: every run resumes a copy of this training checkpoint (rough ground only)",
    )
    args = parser.parse_args()
    if args.compare_with is not None:
        if args.repeats < 1 or args.iterations < 2:
            parser.error("--repeats must be >= 1 and --iterations >= 2")
        if args.resume_from is not None and not os.path.isfile(args.resume_from):
            parser.error(f"--resume-from: no file '{args.resume_from}'")
        return compare_commits(
            args.compare_with,
            args.repeats,
            args.iterations,
            args.resume_from,
            ("rough",) if args.resume_from else ("flat", "rough"),
        )
    if args.backend == "warp":
        if args.num_envs < 1 or args.warp_steps < 1:
            parser.error("--num-envs and --warp-steps must be >= 1")
        if args.train_iterations is not None and args.train_iterations < 0:
            parser.error("--train-iterations must be >= 0")
        return main_warp(args)
    if args.check:
        parser.error("--check needs --backend warp")
    phys = dict(source_physics=args.source_physics, sleep=not args.no_sleep)

    print(
        f"CPU cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"MuJoCo {mujoco.__version__}"
    )
    if not args.skip_ratio:
        ms_env, ms_raw, ratio = step_vs_physics(args.ratio_steps, **phys)
        flat_env, flat_raw, flat_ratio = step_vs_physics(args.ratio_steps, terrain="flat", **phys)
    if args.ratio_only:
        print(
            f"physics: {'source 0.5 ms' if args.source_physics else '2 ms'}, sleep flag "
            f"{'off' if args.no_sleep else 'on'}; rough: env step {ms_env:.2f} ms, raw physics {ms_raw:.2f} ms "
            f"(ratio {ratio:.3f}); flat: env step {flat_env:.2f} ms, raw physics {flat_raw:.2f} ms "
            f"(ratio {flat_ratio:.3f})"
        )
        return

    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    sps, busy = {}, {}
    for num_envs, num_workers in configs:
        sps[num_envs, num_workers], busy[num_envs, num_workers] = vector_throughput(
            num_envs, num_workers, max(args.env_steps // num_envs, 20)
        )
        print(
            f"  measured {num_envs} envs, {num_workers} workers: {sps[num_envs, num_workers]:.0f} env steps/s",
            flush=True,
        )

    print()
    print(f"Rough terrain, randomisation on, actions U(-{ACTION_RANGE}, {ACTION_RANGE}), autoresets included.")
    print()
    if not args.skip_ratio:
        print("| measurement | value |")
        print("|---|---|")
        print(f"| single env: one `DigitEnv.step` | {ms_env:.2f} ms |")
        print(f"| same state: raw physics (`mj_step` of one control period + `mj_forward`) | {ms_raw:.2f} ms |")
        print(f"| ratio env step / raw physics (target <= 1.2) | {ratio:.3f} |")
        print(
            f"| for comparison, flat floor: env step / raw physics | {flat_env:.2f} ms / {flat_raw:.2f} ms = "
            f"{flat_ratio:.3f} |"
        )
        print()
    print("| envs | workers | env steps/s | speed-up 1 -> 2 workers (target >= 1.7) | worker busy / wall |")
    print("|---:|---:|---:|---:|---:|")
    for num_envs, num_workers in configs:
        speedup = ""
        if num_workers == 2 and (num_envs, 1) in sps:
            speedup = f"{sps[num_envs, 2] / sps[num_envs, 1]:.2f}x"
        load = " / ".join(f"{b:.0%}" for b in busy[num_envs, num_workers]) or "(in process)"
        print(f"| {num_envs} | {num_workers} | {sps[num_envs, num_workers]:.0f} | {speedup} | {load} |")
    print()
    print(f"Load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
