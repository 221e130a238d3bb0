"""Curves of several runs side by side, from their TensorBoard logs: the Digit and Cassie figures of the README.

    pip install -r benchmarks/requirements.txt
    python benchmarks/plot_runs.py --runs runs/<run A> runs/<run B> --labels "mix 0.2" "no mix" \
        --tags eval/teacher_return eval/student_return charts/terrain_level charts/success_rate losses/imitation_gap \
        --out benchmarks/digit_mix.png

One panel per tag, one line per run, against `global_step` (environment steps). A run may also be a points CSV
written by `--csv`, as `FILE.csv:LABEL` (the rows whose run column is LABEL), for runs whose event files are gone.
`--smooth K` averages training scalars over K points (evaluation tags are plotted as logged). Also prints, per run
and tag, the last value, the best value and its step, so the README's tables come from the same numbers as the
figure; `--csv` keeps the points (small enough to commit, unlike the event files).
"""

import argparse
import csv
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def load(run_dir):
    if ".csv:" in run_dir:  # FILE.csv:LABEL, points written by --csv
        path, label = run_dir.split(".csv:", 1)
        with open(path + ".csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["run"] == label]
        if not rows:
            raise SystemExit(f"plot_runs.py: error: no rows of run '{label}' in {path}.csv")
        out = {}
        for r in rows:
            steps, values = out.setdefault(r["tag"], ([], []))
            steps.append(int(r["step"]))
            values.append(float(r["value"]))
        return out
    ea = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    ea.Reload()
    return {
        tag: ([e.step for e in ea.Scalars(tag)], [e.value for e in ea.Scalars(tag)]) for tag in ea.Tags()["scalars"]
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="run folders")
    parser.add_argument("--labels", nargs="+", help="one label per run (default: the folder names)")
    parser.add_argument("--tags", nargs="+", required=True, help="scalar tags, one panel each")
    parser.add_argument("--smooth", type=int, default=1, help="moving average over this many points (not eval/)")
    parser.add_argument("--title", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--csv", help="also write every plotted point to this CSV (label, tag, step, value)")
    args = parser.parse_args()
    labels = args.labels or [r.split(".csv:", 1)[1] if ".csv:" in r else r for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit("plot_runs.py: error: --labels needs one label per run")
    data = [load(r) for r in args.runs]
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)  # quotes labels that hold commas
            writer.writerow(("run", "tag", "step", "value"))
            for d, label in zip(data, labels):
                for tag in args.tags:
                    for step, value in zip(*d.get(tag, ([], []))):
                        writer.writerow((label, tag, step, f"{value:.6g}"))
        print(f"points written to {args.csv}")
    cols = min(3, len(args.tags))
    rows = math.ceil(len(args.tags) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, args.tags):
        for d, label in zip(data, labels):
            if tag not in d:
                continue
            steps, values = np.array(d[tag][0]), np.array(d[tag][1])
            if args.smooth > 1 and not tag.startswith("eval/") and len(values) >= args.smooth:
                values = np.convolve(values, np.ones(args.smooth) / args.smooth, mode="valid")
                steps = steps[args.smooth - 1 :]
            ax.plot(steps, values, label=label, marker="o" if tag.startswith("eval/") else None, markersize=3)
            raw = np.array(d[tag][1])
            best = int(np.argmax(raw))
            print(
                f"{label:>20s} {tag:<32s} last {raw[-1]:10.3f} at {d[tag][0][-1]:>8d}   "
                f"best {raw[best]:10.3f} at {d[tag][0][best]:>8d}"
            )
        ax.set_title(tag, fontsize=9)
        ax.set_xlabel("environment steps", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(args.tags) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    if args.title:
        fig.suptitle(args.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
