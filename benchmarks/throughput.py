"""Throughput of l2t_sac_mujoco.py: environment steps per second after learning starts, with and without the
student. Each configuration runs `--repeats` times, interleaved, as separate processes.

    python benchmarks/throughput.py                       # the README's numbers (about 15 minutes on 2 cores)
    python benchmarks/throughput.py --steps 2000 --repeats 1

SPS is read from the run's TensorBoard `charts/SPS` windows (100 steps each, evaluation excluded): the median
of the second half of the training windows, so start-up effects are left out. (`--compile` was dropped from the
script: torch.compile was measured slower than eager on this machine, default and max-autotune modes.)
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    "teacher only (--student-loss none)": ["--student-loss", "none"],
    "teacher + student, l1+asym (default)": [],
    "teacher + student, l1": ["--student-loss", "l1"],
    "teacher only, --bf16": ["--student-loss", "none", "--bf16"],
    "teacher + student, l1+asym, --bf16": ["--bf16"],
}


def run(flags, steps, learning_starts, threads):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            os.path.join(ROOT, "l2t_sac_mujoco.py"),
            "--total-timesteps",
            str(learning_starts + steps),
            "--learning-starts",
            str(learning_starts),
            "--eval-frequency",
            "0",
            "--eval-episodes",
            "1",
            "--checkpoint-frequency",
            "0",
            "--runs-dir",
            tmp,
        ] + flags
        if threads:
            cmd += ["--torch-threads", str(threads)]
        subprocess.run(cmd, check=True, capture_output=True)
        ea = EventAccumulator(glob.glob(os.path.join(tmp, "*"))[0], size_guidance={"scalars": 0})
        ea.Reload()
        sps = [e.value for e in ea.Scalars("charts/SPS") if e.step > learning_starts]
        return statistics.median(sps[len(sps) // 2 :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000, help="training steps after learning starts")
    parser.add_argument("--learning-starts", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--only", nargs="*", help="substrings of the configuration names to run")
    a = parser.parse_args()
    configs = {k: v for k, v in CONFIGS.items() if not a.only or any(s in k for s in a.only)}
    results = {name: [] for name in configs}
    for _ in range(a.repeats):
        for name, flags in configs.items():
            results[name].append(run(flags, a.steps, a.learning_starts, a.threads))
            print(f"{name}: {results[name][-1]:.1f}", file=sys.stderr, flush=True)
    print("| configuration | SPS after learning starts (median of runs) | runs |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
