"""Paper 1's Tables 2 (noise level alpha) and 3 (student loss) on HalfCheetah-v4 from l2t_sac_mujoco.py runs, beside
the paper's numbers, and the figure of student / teacher against alpha.

    python benchmarks/sac_tables.py --plan --runs-dir runs_sac          # the runs the tables need, done or not
    python benchmarks/sac_tables.py --runs runs_sac/HalfCheetah-v4__* --csv benchmarks/results/sac_tables.csv
    python benchmarks/sac_tables.py --from-csv benchmarks/results/sac_tables.csv --plot docs/sac_ratio_alpha.png

Each run's configuration comes from the hyperparameter table it logged at its start (alpha, noise, student loss,
seed, --bf16), its numbers from `eval/teacher_return` and `eval/student_return` (deterministic, 5 episodes each):
the best evaluation (what the paper reports: "best recorded"), the mean of the last 5 evaluations (less lucky), and
student / teacher of both. Wall time is the span of the run's event timestamps (a resumed run includes its pause).
`--csv` keeps one row per run (the event files are too large to commit with their checkpoints); `--from-csv` makes
the tables and the figure from such rows. Table 2 = default loss (l1+asym), float32, per (noise, alpha); Table 3 =
uniform noise at alpha 0.3 (the paper's Table 3 teachers and its l1+asym row equal its Table 2 column at 0.3),
float32, per loss. Several seeds of a cell are shown as mean [min, max].
"""

import argparse
import csv
import glob
import os
import statistics

# Paper 1, section 4.3: teacher, student (best recorded evaluation; HalfCheetah-v4, 1e6 steps, uniform noise)
PAPER_TABLE2 = {
    ("uniform", 0.4): (8840, 5896),
    ("uniform", 0.3): (7912, 6735),
    ("uniform", 0.2): (7929, 7197),
    ("uniform", 0.1): (7865, 7435),
}
PAPER_TABLE3 = {"l2": (7906, 6662), "l1": (7868, 6687), "asym": (7919, 6722), "l1+asym": (7912, 6735)}
TABLE3_ALPHA = 0.3
DEFAULT_LOSS = "l1+asym"
TABLE3_LOSSES = ("l1", "l2", "kl", "asym", DEFAULT_LOSS)
LAST_K = 5
FIELDS = (
    "run",
    "env_id",
    "noise",
    "alpha",
    "student_loss",
    "seed",
    "bf16",
    "steps",
    "teacher_best",
    "teacher_best_step",
    "student_best",
    "student_best_step",
    "teacher_last5",
    "student_last5",
    "sps_median",
    "wall_min",
)


def read_run(run_dir, strict=True):
    """One row (dict of FIELDS) from a run folder's TensorBoard events, or None without evaluations (or, unless
    `strict`, without events)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    scalars, hparams, times = {}, {}, []
    files = sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*")))
    if not files:
        if not strict:
            return None
        raise SystemExit(f"sac_tables.py: error: --runs: no TensorBoard events in '{run_dir}'")
    for path in files:  # a resumed run has one file per start; later files overwrite (purge_step drops the rest)
        for raw in RawEventFileLoader(path).Load():
            event = event_pb2.Event.FromString(raw)
            if event.wall_time:
                times.append(event.wall_time)
            for v in event.summary.value:
                if v.tag == "hyperparameters/text_summary":
                    text = v.tensor.string_val[0].decode()
                    for line in text.splitlines()[2:]:  # |param|value| rows after the header
                        _, key, value, _ = line.split("|", 3)
                        hparams[key] = value
                elif v.tag in ("eval/teacher_return", "eval/student_return", "charts/SPS"):
                    value = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
                    scalars.setdefault(v.tag, {})[event.step] = value
    teacher = sorted(scalars.get("eval/teacher_return", {}).items())
    student = sorted(scalars.get("eval/student_return", {}).items())
    if not teacher or not hparams:
        return None

    def best(points):
        if not points:
            return float("nan"), -1
        step, value = max(points, key=lambda p: p[1])
        return value, step

    (tb, tbs), (sb, sbs) = best(teacher), best(student)
    sps = list(scalars.get("charts/SPS", {}).values())
    return {
        "run": os.path.basename(os.path.normpath(run_dir)),
        "env_id": hparams.get("env_id"),
        "noise": hparams.get("noise"),
        "alpha": float(hparams.get("alpha")),
        "student_loss": hparams.get("student_loss"),
        "seed": int(hparams.get("seed")),
        "bf16": hparams.get("bf16", "False") == "True",
        "steps": teacher[-1][0],
        "teacher_best": tb,
        "teacher_best_step": tbs,
        "student_best": sb,
        "student_best_step": sbs,
        "teacher_last5": statistics.mean(v for _, v in teacher[-LAST_K:]),
        "student_last5": statistics.mean(v for _, v in student[-LAST_K:]) if student else float("nan"),
        "sps_median": statistics.median(sps) if sps else float("nan"),
        "wall_min": (max(times) - min(times)) / 60 if times else float("nan"),
    }


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def load_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in FIELDS[8:]:
            r[k] = float(r[k])
        r["alpha"], r["bf16"] = float(r["alpha"]), r["bf16"] == "True"
        r["seed"], r["steps"] = int(r["seed"]), int(r["steps"])
    return rows


def cells(rows):
    """Table 2 cells {(noise, alpha): [rows]} and Table 3 cells {loss: [rows]} (HalfCheetah-v4, float32 only)."""
    t2, t3 = {}, {}
    for r in rows:
        if r["env_id"] != "HalfCheetah-v4" or r["bf16"]:
            continue
        if r["student_loss"] == DEFAULT_LOSS:
            t2.setdefault((r["noise"], r["alpha"]), []).append(r)
        if r["noise"] == "uniform" and abs(r["alpha"] - TABLE3_ALPHA) < 1e-9:
            t3.setdefault(r["student_loss"], []).append(r)
    return t2, t3


def spread(values, fmt):
    values = [v for v in values if v == v]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:{fmt}}"
    return f"{statistics.mean(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def table(title, key_name, groups, paper):
    print(f"\n{title}\n")
    print(
        f"| {key_name} | seeds | steps | teacher best | student best | student / teacher (best) | "
        f"teacher, mean of last {LAST_K} evals | student, same | ratio, same | paper teacher / student (ratio) | "
        "wall time per run, min |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, rs in groups:
        p = paper.get(key)
        steps = sorted({r["steps"] for r in rs})
        label = f"{key[0]} {key[1]}" if isinstance(key, tuple) else key
        print(
            f"| {label} | {', '.join(str(r['seed']) for r in rs)} | {', '.join(f'{s:.0e}' for s in steps)} | "
            f"{spread([r['teacher_best'] for r in rs], '.0f')} | {spread([r['student_best'] for r in rs], '.0f')} | "
            f"{spread([r['student_best'] / r['teacher_best'] for r in rs], '.2f')} | "
            f"{spread([r['teacher_last5'] for r in rs], '.0f')} | "
            f"{spread([r['student_last5'] for r in rs], '.0f')} | "
            f"{spread([r['student_last5'] / r['teacher_last5'] for r in rs], '.2f')} | "
            + (f"{p[0]} / {p[1]} ({p[1] / p[0]:.2f})" if p else "-")
            + " | "
            f"{spread([r['wall_min'] for r in rs], '.0f')} |"
        )


def plot(t2, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    alphas = sorted(a for _, a in PAPER_TABLE2)
    ax.plot(
        alphas,
        [PAPER_TABLE2[("uniform", a)][1] / PAPER_TABLE2[("uniform", a)][0] for a in alphas],
        "k--o",
        label="paper (1e6 steps)",
    )
    for noise, style in (("uniform", "C0-o"), ("gaussian", "C1-s")):
        keys = sorted(a for n, a in t2 if n == noise)
        if not keys:
            continue
        ratios = [[r["student_best"] / r["teacher_best"] for r in t2[(noise, a)]] for a in keys]
        steps = sorted({r["steps"] for a in keys for r in t2[(noise, a)]})
        ax.plot(
            keys,
            [statistics.mean(v) for v in ratios],
            style,
            label=f"ours, {noise} ({', '.join(f'{s:.0e}' for s in steps)} steps)",
        )
        for a, v in zip(keys, ratios):
            if len(v) > 1:
                ax.vlines(a, min(v), max(v), colors=style[:2])
    ax.set_xlabel("noise scale alpha")
    ax.set_ylabel("student / teacher (best evaluations)")
    ax.set_title("HalfCheetah-v4: student / teacher against alpha", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"figure written to {out}")


def plan(runs_dir, steps):
    """The commands of both tables (one seed per cell; seeds 1 and 2 at alpha 0.1 and 0.4; the best and worst loss
    get a second seed once known), each marked done when a run of that configuration reached `steps`."""
    done = [r for r in (read_run(d, strict=False) for d in sorted(glob.glob(os.path.join(runs_dir, "*")))) if r]
    base = (
        f"python l2t_sac_mujoco.py --env-id HalfCheetah-v4 --total-timesteps {steps} --torch-threads 1 "
        f"--checkpoint-frequency 50000 --runs-dir {runs_dir}"
    )
    wanted = [("uniform", a, DEFAULT_LOSS, s) for a in (0.1, 0.4) for s in (1, 2)]
    wanted += [("uniform", a, DEFAULT_LOSS, 1) for a in (0.2, 0.3)]
    wanted += [("gaussian", a, DEFAULT_LOSS, 1) for a in (0.1, 0.4)]
    wanted += [("uniform", TABLE3_ALPHA, loss, 1) for loss in TABLE3_LOSSES if loss != DEFAULT_LOSS]

    def match(noise, alpha, loss, seed):
        return [
            r
            for r in done
            if r["noise"] == noise
            and abs(r["alpha"] - alpha) < 1e-9
            and r["student_loss"] == loss
            and r["seed"] == seed
            and not r["bf16"]
            and r["steps"] >= steps
        ]

    table3 = {loss: match("uniform", TABLE3_ALPHA, loss, 1) for loss in TABLE3_LOSSES}
    if all(table3.values()):  # every loss has its seed-1 run: the best and worst student get a second seed
        ranked = sorted(TABLE3_LOSSES, key=lambda loss: max(r["student_best"] for r in table3[loss]))
        wanted += [("uniform", TABLE3_ALPHA, loss, 2) for loss in (ranked[-1], ranked[0])]
    for noise, alpha, loss, seed in wanted:
        hit = bool(match(noise, alpha, loss, seed))
        name = f"t_{noise[0]}{alpha}_{loss.replace('+', '')}"
        print(
            ("done     " if hit else "to run   ") + f"{base} --noise {noise} --alpha {alpha} --student-loss {loss} "
            f"--seed {seed} --exp-name {name}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", help="run folders of l2t_sac_mujoco.py")
    parser.add_argument("--from-csv", nargs="+", help="rows written by --csv (instead of --runs)")
    parser.add_argument("--csv", help="write one row per run to this CSV")
    parser.add_argument("--plot", help="write the figure of student / teacher against alpha (needs matplotlib)")
    parser.add_argument("--plan", action="store_true", help="print the runs both tables need, done or to run")
    parser.add_argument("--runs-dir", default="runs_sac", help="with --plan: where the runs are")
    parser.add_argument("--steps", type=int, default=200_000, help="with --plan: steps per run")
    args = parser.parse_args()
    if args.plan:
        return plan(args.runs_dir, args.steps)
    if bool(args.runs) == bool(args.from_csv):
        raise SystemExit("sac_tables.py: error: give either --runs (run folders) or --from-csv (rows)")
    if args.from_csv:
        for path in args.from_csv:
            if not os.path.isfile(path):
                raise SystemExit(f"sac_tables.py: error: --from-csv: no file '{path}'")
        rows = [r for path in args.from_csv for r in load_csv(path)]
    else:
        for d in args.runs:
            if not os.path.isdir(d):
                raise SystemExit(f"sac_tables.py: error: --runs: no folder '{d}'")
        rows = [r for r in (read_run(d) for d in args.runs) if r]
    if not rows:
        raise SystemExit("sac_tables.py: error: no run with evaluations")
    t2, t3 = cells(rows)
    table(
        "Table 2: noise level (default loss l1+asym)",
        "noise, alpha",
        sorted(t2.items(), key=lambda kv: (kv[0][0] != "uniform", kv[0][0], -kv[0][1])),
        PAPER_TABLE2,
    )
    table(f"Table 3: student loss (uniform noise, alpha {TABLE3_ALPHA})", "loss", sorted(t3.items()), PAPER_TABLE3)
    if args.csv:
        write_csv(rows, args.csv)
        print(f"\n{len(rows)} rows written to {args.csv}")
    if args.plot:
        plot(t2, args.plot)


if __name__ == "__main__":
    main()
