"""Paper 1's Tables 1 and 4 from l2t_ipmd_cassie.py runs: best deterministic evaluation return of teacher and student,
the mean episode length of that evaluation, the step it came at, and the final evaluation, one row per run.

    python benchmarks/cassie_tables.py --runs runs/l2t_Cassie-v1__t4_irl_curr__1__* ... --labels "IRL, curriculum" ...
    python benchmarks/cassie_tables.py --summary benchmarks/results/cassie_tables_seed1.csv ..._seed2.csv

Reads the runs' TensorBoard logs (eval/teacher_return, eval/student_return and their lengths, eval/expert_return) and
prints a Markdown table with the ratios the issue's targets use: teacher / expert and student / teacher (best against
best). `--csv` also writes the rows. `--summary` reads such CSVs (one per seed) instead and prints, per
configuration (the label without its ", seed N"), the mean over seeds with the range [min, max] beside it.
"""

import argparse
import csv
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_runs import load  # noqa: E402  (benchmarks/plot_runs.py: {tag: (steps, values)})


def best(d, who):
    steps, values = d.get(f"eval/{who}_return", ([], []))
    if not values:
        return None
    k = max(range(len(values)), key=values.__getitem__)
    lengths = d.get(f"eval/{who}_length", ([], []))[1]
    return {
        "best": values[k],
        "step": steps[k],
        "length": lengths[k] if k < len(lengths) else float("nan"),
        "last": values[-1],
        "last_step": steps[-1],
    }


def summary(paths):
    """Mean and [min, max] over seeds of each configuration's best returns and ratios, from per-seed CSVs."""
    groups = {}
    for path in paths:
        with open(path) as f:
            for row in csv.DictReader(f):
                config = re.sub(r",? seed \d+$", "", row["run"])
                t, s, e = float(row["teacher_best"]), float(row["student_best"]), float(row["expert"])
                groups.setdefault(config, []).append(
                    {"teacher": t, "student": s, "teacher / expert": t / e, "student / teacher": s / t}
                )
    cols = ("teacher", "student", "teacher / expert", "student / teacher")
    print(
        "| run | seeds | "
        + " | ".join(
            f"{c} best, mean [min, max]" if c in ("teacher", "student") else f"{c}, mean [min, max]" for c in cols
        )
        + " |"
    )
    print("|---|---|" + "---|" * len(cols))
    for config, rows in groups.items():
        cells = []
        for c in cols:
            v = [r[c] for r in rows]
            fmt = ".1f" if c in ("teacher", "student") else ".2f"
            cells.append(f"{statistics.mean(v):{fmt}} [{min(v):{fmt}}, {max(v):{fmt}}]")
        print(f"| {config} | {len(rows)} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+")
    parser.add_argument("--labels", nargs="+")
    parser.add_argument("--csv")
    parser.add_argument("--summary", nargs="+", help="per-seed CSVs written by --csv: print the seed summary")
    args = parser.parse_args()
    if args.summary:
        for path in args.summary:
            if not os.path.isfile(path):
                raise SystemExit(f"cassie_tables.py: error: --summary: no file '{path}'")
        return summary(args.summary)
    if not args.runs:
        raise SystemExit("cassie_tables.py: error: give --runs (run folders) or --summary (CSVs)")
    labels = args.labels or args.runs
    if len(labels) != len(args.runs):
        raise SystemExit("cassie_tables.py: error: --labels needs one label per run")
    rows = []
    print(
        "| run | teacher best (length, step) | student best (length, step) | final teacher / student | "
        "teacher / expert | student / teacher |"
    )
    print("|---|---|---|---|---|---|")
    for run, label in zip(args.runs, labels):
        d = load(run)
        t, s = best(d, "teacher"), best(d, "student")
        expert = d.get("eval/expert_return", ([], [float("nan")]))[1][-1]
        row = {
            "run": label,
            "teacher_best": t["best"],
            "teacher_length": t["length"],
            "teacher_step": t["step"],
            "student_best": s["best"] if s else float("nan"),
            "student_length": s["length"] if s else float("nan"),
            "student_step": s["step"] if s else -1,
            "teacher_last": t["last"],
            "student_last": s["last"] if s else float("nan"),
            "steps": t["last_step"],
            "expert": expert,
        }
        rows.append(row)
        print(
            f"| {label} | {t['best']:.1f} ({t['length']:.0f}, {t['step'] // 1000}k) | "
            + (f"{s['best']:.1f} ({s['length']:.0f}, {s['step'] // 1000}k)" if s else "-")
            + f" | {t['last']:.1f} / "
            + (f"{s['last']:.1f}" if s else "-")
            + f" at {t['last_step'] // 1000}k | "
            f"{t['best'] / expert:.2f} | " + (f"{s['best'] / t['best']:.2f}" if s else "-") + " |"
        )
    if args.csv:
        with open(args.csv, "w", newline="") as f:  # labels hold commas: the csv module quotes them
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"rows written to {args.csv}")


if __name__ == "__main__":
    main()
