"""Ship a Digit teacher and student from an l2t_ppo_digit.py checkpoint (`data/digit_teacher.pt`).

    python benchmarks/export_digit.py runs/<run>/checkpoint.pt --teacher data/digit_teacher.pt \
        --student data/digit_student.pt

`--teacher`: the checkpoint without optimisers and RNG states (= the script's `--save-model` file), which
`tsl_dagger_baseline.py --env-id l2t/Digit-v3 --teacher-checkpoint` and `benchmarks/digit_eval.py` read.
`--student`: the LSTM student with its observation normalisation as TorchScript (the script's `--export-student`):
`m = torch.jit.load(path); h = m.initial_hidden(B); a, h = m.step(obs[:, :94], h)`.
"""

import argparse
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from envs import checkpoint as checkpoint_file  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", required=True)
    a = parser.parse_args()
    spec = importlib.util.spec_from_file_location("l2t_ppo_digit", os.path.join(ROOT, "l2t_ppo_digit.py"))
    ppo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ppo)
    try:
        saved = checkpoint_file.load(a.checkpoint)
    except checkpoint_file.CheckpointError as e:
        raise SystemExit(f"export_digit.py: error: {e}")
    model = {k: v for k, v in saved.items() if k not in ("optimizers", "rng", "digest")}
    checkpoint_file.save(model, a.teacher)
    nets = ppo.L2TNets(saved["lstm_hidden"], 1.0, saved["obs_normalization"], 1.0, saved["terrain"])
    nets.load_state_dict(saved["nets"])
    ppo.export_student(nets, a.student)
    print(f"teacher (step {saved['global_step']}) -> {a.teacher}; student (TorchScript) -> {a.student}")


if __name__ == "__main__":
    main()
