"""Velocity tracking during training, from an l2t_ppo_digit.py run's TensorBoard log: per bin of environment steps,
the mean tracking kernel per step, exp(-|cmd_xy - v_xy|^2 / 0.25), and the stepping term's share of its maximum.

    python benchmarks/digit_tracking.py runs/<run> [--track-weight 2.0] [--bin 200000]

Both come from the per-episode reward sums the script logs: episode_reward/track_lin_vel_xy / (weight * dt * length)
and episode_reward/foot_contact / (weight * dt * length). A robot that stands still on the env's command draws scores
0.46 on the kernel (vx in +-0.8, vy in +-0.5 m/s, 10 % standing; a perfect tracker scores 1). `--track-weight` is the
run's track_lin_vel_xy weight (2.0 in v2, 0.5 in v1 and the paper's), `--contact-weight` its foot_contact
weight (2.0, Table II).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_runs import load  # noqa: E402

DT = 0.02  # s per policy step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run folder with the TensorBoard events")
    parser.add_argument("--track-weight", type=float, default=2.0)
    parser.add_argument("--contact-weight", type=float, default=2.0)
    parser.add_argument("--bin", type=int, default=200_000, help="environment steps per row")
    a = parser.parse_args()
    if not os.path.isdir(a.run):
        raise SystemExit(f"digit_tracking.py: error: no run folder '{a.run}'")
    d = load(a.run)
    if "episode_reward/track_lin_vel_xy" not in d:
        raise SystemExit(f"digit_tracking.py: error: '{a.run}' has no episode_reward/track_lin_vel_xy scalars")
    steps = np.array(d["episode_reward/track_lin_vel_xy"][0])
    length = np.maximum(np.array(d["charts/episodic_length"][1]), 1)
    kernel = np.array(d["episode_reward/track_lin_vel_xy"][1]) / (a.track_weight * DT * length)
    contact = np.array(d["episode_reward/foot_contact"][1]) / (a.contact_weight * DT * length)
    print("| steps | episodes | tracking kernel per step | foot_contact / max | episode length |")
    print("|---|---|---|---|---|")
    for lo in range(int(steps.min()) // a.bin * a.bin, int(steps.max()) + 1, a.bin):
        m = (steps >= lo) & (steps < lo + a.bin)
        if m.any():
            print(
                f"| {lo / 1e6:.1f}-{(lo + a.bin) / 1e6:.1f}M | {m.sum()} | {kernel[m].mean():.3f} | "
                f"{contact[m].mean():.3f} | {length[m].mean():.0f} |"
            )


if __name__ == "__main__":
    main()
