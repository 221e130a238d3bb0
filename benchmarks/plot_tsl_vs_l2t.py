"""L2T against two-stage teacher-student learning (TSL) on one sample axis: the figure and table of the README.

    pip install -r benchmarks/requirements.txt
    python benchmarks/plot_tsl_vs_l2t.py --l2t runs/<l2t_sac_mujoco run> --tsl runs/<bc run> runs/<dagger run> \
        --out benchmarks/tsl_vs_l2t.png

Reads `eval/student_return` (and the L2T run's `eval/teacher_return`) from the TensorBoard logs. Every run
logs against `global_step`, all environment steps it cost: for L2T the teacher's steps only (its student costs
none), for TSL the teacher's budget plus stage 2. Prints, for each student, the environment steps it needed to
first reach 90% of the best L2T student return.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def curve(run_dir, tag):
    ea = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    ea.Reload()
    if tag not in ea.Tags()["scalars"]:
        raise SystemExit(f"plot_tsl_vs_l2t.py: error: '{run_dir}' has no {tag} events")
    events = ea.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def first_reaching(steps, values, threshold):
    return next((s for s, v in zip(steps, values) if v >= threshold), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l2t", required=True, help="run folder of l2t_sac_mujoco.py")
    parser.add_argument("--tsl", nargs="+", required=True, help="run folders of tsl_dagger_baseline.py")
    parser.add_argument("--out", default="benchmarks/tsl_vs_l2t.png")
    parser.add_argument("--max-l2t-step", type=int, default=None, help="use the L2T run only up to this step")
    a = parser.parse_args()

    l2t_steps, l2t_student = curve(a.l2t, "eval/student_return")
    t_steps, l2t_teacher = curve(a.l2t, "eval/teacher_return")
    if a.max_l2t_step:
        keep = [i for i, s in enumerate(l2t_steps) if s <= a.max_l2t_step]
        l2t_steps, l2t_student = [l2t_steps[i] for i in keep], [l2t_student[i] for i in keep]
        keep = [i for i, s in enumerate(t_steps) if s <= a.max_l2t_step]
        t_steps, l2t_teacher = [t_steps[i] for i in keep], [l2t_teacher[i] for i in keep]
    best = max(l2t_student)
    threshold = 0.9 * best

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(t_steps, l2t_teacher, color="purple", label="L2T teacher (clean state)")
    ax.plot(l2t_steps, l2t_student, color="teal", label="L2T student (noisy obs)")
    rows = [("L2T student", first_reaching(l2t_steps, l2t_student, threshold), 0)]
    for run in a.tsl:
        steps, values = curve(run, "eval/student_return")
        (teacher_step,), _ = curve(run, "eval/teacher_return")
        method = (
            "DAgger"
            if "__dagger__" in os.path.basename(run)
            else "BC"
            if "__bc__" in os.path.basename(run)
            else os.path.basename(run)
        )
        ax.plot([teacher_step] + steps, [None] + values, marker="o", ms=3, label=f"TSL {method} student (noisy obs)")
        ax.axvline(teacher_step, color="gray", ls=":", lw=1)
        rows.append((f"TSL {method} student", first_reaching(steps, values, threshold), steps[-1] - teacher_step))
    ax.axhline(threshold, color="teal", ls="--", lw=1, label=f"90% of best L2T student ({threshold:.0f})")
    ax.set_xlabel("environment steps (all stages)")
    ax.set_ylabel("evaluation return (deterministic)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print(f"best L2T student return {best:.1f}; threshold (90%) {threshold:.1f}; figure {a.out}")
    print("| student | environment steps to reach 90% of the best L2T student | stage-2 steps run |")
    print("|---|---|---|")
    for name, step, stage2 in rows:
        print(f"| {name} | {step if step is not None else 'not reached'} | {stage2} |")


if __name__ == "__main__":
    main()
