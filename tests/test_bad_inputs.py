"""Every bad input the README promises to refuse: one line on stderr naming the flag or file, exit status 1, no
traceback, and nothing written, for each script run as a user runs it (`python SCRIPT ...`). tyro's own parse
errors (a word where a number belongs, an unknown flag) exit 2 with tyro's box: that is tyro's convention.

Each script's inputs run in one driver process that forks a child per input (tests/cli_driver.py), so the heavy
imports happen once per script. Besides the flags' own ranges (the first list of each script), the inputs of
docs/errors.md's classes: values a library refuses (seeds, threads, devices, sizes beyond the memory), output paths
that cannot be written, a killed first checkpoint write, combinations that cannot train, finite extremes."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from envs import checkpoint as checkpoint_file
from test_checkpoint import flip_tensor_byte


def corrupted_checkpoint(folder, fmt):
    path = os.path.join(folder, "corrupted.pt")
    checkpoint_file.save({"format": fmt, "global_step": 1, "w": torch.randn(256)}, path)
    flip_tensor_byte(path, "data/0")
    return path


def garbage_file(folder):
    path = os.path.join(folder, "garbage.pt")
    with open(path, "wb") as f:
        f.write(b"not a checkpoint")
    return path


def killed_first_write(folder):
    """A run folder whose first checkpoint write was killed: an empty checkpoint.pt.tmp<pid> of a process that is
    gone, and no checkpoint.pt."""
    run = os.path.join(folder, "killed_run")
    os.makedirs(run, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    open(os.path.join(run, f"checkpoint.pt.tmp{int(dead.stdout)}"), "wb").close()
    return os.path.join(run, "checkpoint.pt")


UNWRITABLE = "/sys"  # sysfs refuses new files, to root as well
HUGE = str(10**12)
# class 1: values the flag checks passed but a library refuses; class 2: output paths; class 7: a killed first
# write; class 8: finite extremes. Shared by every script (each script adds its own below).
COMMON = [
    (["--seed", "-1"], r"--seed must be in \[0, 2\*\*32 - 1\]"),
    (["--seed", str(2**32)], "--seed"),
    (["--torch-threads", "100000"], "--torch-threads must be at most"),
    (["--runs-dir", "{file}"], "--runs-dir: .* is a file"),
    (["--runs-dir", f"{UNWRITABLE}/runs"], "--runs-dir: cannot write"),
    (["--exp-name", "a/b"], "--exp-name must be a plain name"),
    (["--exp-name", "x" * 250], "--exp-name: the run would"),
    (["--resume", "{stale}"], "--resume: no checkpoint file at .*first write was killed"),
]


SAC = [
    (["--policy-lr", "-1"], "--policy-lr"),
    (["--q-lr", "-1"], "--q-lr"),
    (["--student-lr", "0"], "--student-lr"),
    (["--bc-coef", "nan"], "--bc-coef"),
    (["--bc-coef", "-1"], "--bc-coef"),
    (["--alpha", "-1"], "--alpha"),
    (["--alpha", "inf"], "--alpha"),
    (["--noise", "laplace"], "--noise"),
    (["--student-loss", "l3"], "--student-loss"),
    (["--total-timesteps", "0"], "--total-timesteps"),
    (["--batch-size", "0"], "--batch-size"),
    (["--learning-starts", "10"], "--learning-starts"),
    (["--gamma", "1.5"], "--gamma"),
    (["--tau", "nan"], "--tau"),
    (["--ent-coef", "-1"], "--ent-coef"),
    (["--num-envs", "0"], "--num-envs"),
    (["--eval-frequency", "-1"], "--eval-frequency"),
    (["--env-id", "NoSuchEnv-v0"], "--env-id"),
    (["--buffer-size", "0"], "--buffer-size"),
    (["--hidden-dim", "0"], "--hidden-dim"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"),
    (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    *COMMON,
    # class 1: sizes beyond the memory, refused before anything is allocated
    (["--buffer-size", HUGE], "--buffer-size: this run would allocate about .* [TP]B"),
    (["--hidden-dim", "1000000"], "--hidden-dim: this run would allocate about .* [TP]B"),
    (["--capture-video", "--buffer-size", "0"], "--buffer-size"),
    # class 6: combinations that cannot train
    (["--num-envs", "1000", "--total-timesteps", "600", "--learning-starts", "300"], r"--num-envs \(1000\) must not"),
    (["--buffer-size", "100"], r"--buffer-size \(100\) must hold at least one batch"),
    (["--total-timesteps", "5001"], r"--total-timesteps \(5001\) leaves 1 vector steps"),
    # class 8: finite extremes
    (["--alpha", "1e308"], "--alpha must be at most 10"),
    (["--policy-lr", "10"], "--policy-lr must be at most 1"),
    (["--bc-coef", "1e300"], "--bc-coef must be at most"),
    (["--ent-coef", "1e10"], "--ent-coef must be at most"),
]
PPO = [
    (["--backend", "physx"], "--backend"),
    (["--device", "cuda:0"], "--device"),
    (["--device", "tpu:x"], "--device"),
    (["--alpha-mix", "1.5"], "--alpha-mix"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--critic-lr", "-1"], "--critic-lr"),
    (["--student-lr", "nan"], "--student-lr"),
    (["--ent-coef", "nan"], "--ent-coef"),
    (["--num-envs", "3", "--num-workers", "2"], "--num-envs"),
    (["--num-minibatches", "128"], "--num-minibatches"),
    (["--terrain", "stairs"], "--terrain"),
    (["--gamma", "0"], "--gamma"),
    (["--init-noise-std", "0"], "--init-noise-std"),
    (["--student-loss", "none"], "--student-loss"),
    (["--randomization-ramp-steps", "-1"], "--randomization-ramp-steps"),
    (["--actor-init-scale", "0"], "--actor-init-scale"),
    (["--alpha", "-0.1"], "--alpha"),
    (["--reward-weights", "isaac"], "--reward-weights"),
    (["--gravity-axes", "x"], "--gravity-axes"),
    (["--export-student", "{folder}"], "--export-student: .* is a folder"),
    (["--export-student", "no/such/folder/student.pt"], "--export-student: folder"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"),
    (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    *COMMON,
    (["--update-threads", "100000"], "--update-threads must be at most"),
    (["--device", "meta"], "--device meta: torch cannot compute on this device"),
    (["--device", "mps"], "--device mps: torch cannot compute"),
    (["--device", "xla"], "--device xla"),
    (
        [
            "--lstm-hidden",
            "1000000",
            "--terrain",
            "flat",
            "--num-envs",
            "2",
            "--num-workers",
            "0",
            "--num-minibatches",
            "2",
        ],
        "--lstm-hidden: this run would allocate about .* [TP]B",
    ),
    (["--export-student", f"{UNWRITABLE}/student.pt"], "--export-student: cannot write in folder"),
    (["--alpha", "1e308"], "--alpha must be at most 10"),
    (["--init-noise-std", "1e300"], "--init-noise-std must be"),
    (["--actor-init-scale", "1e5"], "--actor-init-scale must be at most"),
    (["--learning-rate", "2"], "--learning-rate must be at most 1"),
    (["--vf-coef", "1e9"], "--vf-coef must be"),
]
TSL = [
    (["--backend", "warp"], "--backend"),
    (["--device", "cuda:0"], "--device"),
    (["--student-lr", "-1"], "--student-lr"),
    (["--policy-lr", "-1"], "--policy-lr"),
    (["--q-lr", "0"], "--q-lr"),
    (["--tau", "nan"], "--tau"),
    (["--alpha", "nan"], "--alpha"),
    (["--beta-decay", "1.5"], "--beta-decay"),
    (["--method", "gail"], "--method"),
    (["--student-loss", "huber"], "--student-loss"),
    (["--seq-len", "0"], "--seq-len applies to --env-id l2t/Digit"),
    (["--dataset-capacity", "0"], "--dataset-capacity applies to --env-id l2t/Digit"),
    (["--terrain", "flat"], "--terrain applies to --env-id l2t/Digit"),
    (["--teacher-checkpoint", "no/such/teacher.pt"], "--teacher-checkpoint"),
    (["--teacher-checkpoint", "{garbage}"], "--teacher-checkpoint: cannot read"),
    (["--teacher-checkpoint", "{corrupted}"], "--teacher-checkpoint: .* is corrupted"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    (["--dagger-rounds", "0"], "--dagger-rounds"),
    (["--stage2-timesteps", "4"], "--stage2-timesteps"),
    *COMMON,
    (["--device", "meta"], "--device meta: torch cannot compute"),
    (["--buffer-size", HUGE, "--teacher-timesteps", HUGE], "--buffer-size: this run would allocate about .* [TP]B"),
    (["--buffer-size", "100"], r"--buffer-size \(100\) must hold at least one batch"),
    (["--teacher-timesteps", "5001"], r"--teacher-timesteps \(5001\) leaves no actor update"),
    (["--alpha", "1e308"], "--alpha must be at most 10"),
    (["--student-lr", "10"], "--student-lr must be at most 1"),
]
IPMD = [
    (["--policy-lr", "-1"], "--policy-lr"),
    (["--q-lr", "0"], "--q-lr"),
    (["--student-lr", "-1"], "--student-lr"),
    (["--reward-lr", "-1"], "--reward-lr"),
    (["--bc-coef", "nan"], "--bc-coef"),
    (["--alpha", "2"], "--alpha"),
    (["--gamma", "inf"], "--gamma"),
    (["--updates-per-step", "0"], "--updates-per-step"),
    (["--min-reward", "1.5"], "--min-reward"),
    (["--reward-mode", "gail"], "--reward-mode"),
    (["--policy-update", "trpo"], "--policy-update"),
    (["--curriculum-fraction", "2"], "--curriculum-fraction"),
    (["--expert-path", "no/such/expert.npz"], "--expert-path"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"),
    (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    (["--expert-checkpoint", "{corrupted}", "--save-expert", "x.npz"], "--expert-checkpoint: .* is corrupted"),
    *COMMON,
    (["--buffer-size", HUGE], "--buffer-size: this run would allocate about .* [TP]B"),
    (["--hidden-dim", "1000000"], "--hidden-dim: this run would allocate about .* [TP]B"),
    (["--save-expert", f"{UNWRITABLE}/expert.npz"], "--save-expert: cannot write in folder"),
    (["--save-expert", "{folder}"], "--save-expert: .* is a folder"),
    (["--buffer-size", "100"], r"--buffer-size \(100\) must hold at least one batch"),
    (["--total-timesteps", "10008"], r"--total-timesteps \(10008\) leaves 1 vector steps"),
    (["--updates-per-step", "1e308"], "--updates-per-step must be at most"),
    (["--reward-lr", "5"], "--reward-lr must be at most 1"),
    (["--md-coef", "1e300"], "--md-coef must be at most"),
]
TYRO = [["--total-timesteps", "abc"], ["--no-such-flag", "1"]]
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_driver.py")
# tests/cli_driver.py, after loading the script as a module (its main guarded) so that the modules it imports are
# loaded once, before the driver forks a child per input
PRELOADED_DRIVER = f"""
import importlib.util, runpy, sys
sys.path.insert(0, {ROOT!r})
spec = importlib.util.spec_from_file_location("preloaded_script", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
sys.argv = [{DRIVER!r}, sys.argv[1]]
runpy.run_path({DRIVER!r}, run_name="__main__")
"""
SCRIPTS = {
    "l2t_sac_mujoco.py": (SAC, "l2t_sac_mujoco/1"),
    "l2t_ppo_digit.py": (PPO, "l2t_ppo_digit/2"),
    "tsl_dagger_baseline.py": (TSL, "tsl_dagger_baseline/1"),
    "l2t_ipmd_cassie.py": (IPMD, "l2t_ipmd_cassie/1"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{script: (cases, results of the cases, results of the tyro cases, files left in the working folder)}. The four
    scripts' drivers run at the same time (each forks its inputs one after the other)."""
    started = {}
    for script, (cases, fmt) in SCRIPTS.items():
        cwd = str(tmp_path_factory.mktemp(script.split(".")[0]))
        inputs = str(tmp_path_factory.mktemp("inputs"))
        names = {
            "garbage": garbage_file(inputs),
            "corrupted": corrupted_checkpoint(inputs, fmt),
            "folder": inputs,
            "file": garbage_file(inputs),
            "stale": killed_first_write(inputs),
        }
        argvs = [[a.format(**names) for a in argv] for argv, _ in cases]
        proc = subprocess.Popen(
            [sys.executable, "-c", PRELOADED_DRIVER, os.path.join(ROOT, script)],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        started[script] = (proc, json.dumps(argvs + TYRO), cases, cwd)
    out = {}
    for script, (proc, stdin, cases, cwd) in started.items():
        stdout, stderr = proc.communicate(stdin, timeout=300)
        assert proc.returncode == 0, stderr[-2000:]
        ran = json.loads(stdout)
        out[script] = (cases, ran[: len(cases)], ran[len(cases) :], os.listdir(cwd))
    return out


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_bad_input_is_one_line_naming_the_flag(results, script):
    import re

    cases, ran, _, left = results[script]
    for (argv, pattern), result in zip(cases, ran):
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        assert result["returncode"] == 1, (argv, result)
        assert "Traceback" not in result["stderr"], (argv, result["stderr"])
        assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), (argv, lines)
        assert re.search(pattern, lines[0]), (argv, lines[0])
    assert left == [], left  # no run folder, no stray file


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_tyro_parse_errors_exit_2_without_traceback(results, script):
    for result in results[script][2]:
        assert result["returncode"] == 2 and "Traceback" not in result["stderr"]
