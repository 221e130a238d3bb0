"""Every bad input the README promises to refuse: one line on stderr naming the flag or file, exit status 1, no
traceback, and nothing written, for each script run as a user runs it (`python SCRIPT ...`). tyro's own parse
errors (a word where a number belongs, an unknown flag) exit 2 with tyro's box: that is tyro's convention.

Each script's inputs run in one driver process that forks a child per input (tests/cli_driver.py), so the heavy
imports happen once per script."""

import os

import pytest
import torch

from conftest import run_cli_many
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


SAC = [
    (["--policy-lr", "-1"], "--policy-lr"), (["--q-lr", "-1"], "--q-lr"), (["--student-lr", "0"], "--student-lr"),
    (["--bc-coef", "nan"], "--bc-coef"), (["--bc-coef", "-1"], "--bc-coef"), (["--alpha", "-1"], "--alpha"),
    (["--alpha", "inf"], "--alpha"), (["--noise", "laplace"], "--noise"), (["--student-loss", "l3"], "--student-loss"),
    (["--total-timesteps", "0"], "--total-timesteps"), (["--batch-size", "0"], "--batch-size"),
    (["--learning-starts", "10"], "--learning-starts"), (["--gamma", "1.5"], "--gamma"), (["--tau", "nan"], "--tau"),
    (["--ent-coef", "-1"], "--ent-coef"), (["--num-envs", "0"], "--num-envs"),
    (["--eval-frequency", "-1"], "--eval-frequency"), (["--env-id", "NoSuchEnv-v0"], "--env-id"),
    (["--buffer-size", "0"], "--buffer-size"), (["--hidden-dim", "0"], "--hidden-dim"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"), (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
]
PPO = [
    (["--backend", "physx"], "--backend"), (["--device", "cuda:0"], "--device"), (["--device", "tpu:x"], "--device"),
    (["--alpha-mix", "1.5"], "--alpha-mix"), (["--learning-rate", "-1"], "--learning-rate"),
    (["--critic-lr", "-1"], "--critic-lr"), (["--student-lr", "nan"], "--student-lr"),
    (["--ent-coef", "nan"], "--ent-coef"), (["--num-envs", "3", "--num-workers", "2"], "--num-envs"),
    (["--num-minibatches", "128"], "--num-minibatches"), (["--terrain", "stairs"], "--terrain"),
    (["--gamma", "0"], "--gamma"), (["--init-noise-std", "0"], "--init-noise-std"),
    (["--student-loss", "none"], "--student-loss"), (["--randomization-ramp-steps", "-1"], "--randomization-ramp-steps"),
    (["--actor-init-scale", "0"], "--actor-init-scale"), (["--alpha", "-0.1"], "--alpha"),
    (["--reward-weights", "isaac"], "--reward-weights"), (["--gravity-axes", "x"], "--gravity-axes"),
    (["--reward-overrides", "speed", "1.0"], "--reward-overrides: unknown terms speed"),
    (["--reward-overrides", "foot_contact", "inf"], "--reward-overrides: the weight of foot_contact"),
    (["--export-student", "{folder}"], "--export-student: .* is a folder"),
    (["--export-student", "no/such/folder/student.pt"], "--export-student: folder"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"), (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
]
TSL = [
    (["--backend", "warp"], "--backend"), (["--device", "cuda:0"], "--device"),
    (["--student-lr", "-1"], "--student-lr"), (["--policy-lr", "-1"], "--policy-lr"), (["--q-lr", "0"], "--q-lr"),
    (["--tau", "nan"], "--tau"), (["--alpha", "nan"], "--alpha"), (["--beta-decay", "1.5"], "--beta-decay"),
    (["--method", "gail"], "--method"), (["--student-loss", "huber"], "--student-loss"),
    (["--seq-len", "0"], "--seq-len applies to --env-id l2t/Digit"),
    (["--dataset-capacity", "0"], "--dataset-capacity applies to --env-id l2t/Digit"),
    (["--terrain", "flat"], "--terrain applies to --env-id l2t/Digit"),
    (["--teacher-checkpoint", "no/such/teacher.pt"], "--teacher-checkpoint"),
    (["--teacher-checkpoint", "{garbage}"], "--teacher-checkpoint: cannot read"),
    (["--teacher-checkpoint", "{corrupted}"], "--teacher-checkpoint: .* is corrupted"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    (["--dagger-rounds", "0"], "--dagger-rounds"), (["--stage2-timesteps", "4"], "--stage2-timesteps"),
]
IPMD = [
    (["--policy-lr", "-1"], "--policy-lr"), (["--q-lr", "0"], "--q-lr"), (["--student-lr", "-1"], "--student-lr"),
    (["--reward-lr", "-1"], "--reward-lr"), (["--bc-coef", "nan"], "--bc-coef"), (["--alpha", "2"], "--alpha"),
    (["--gamma", "inf"], "--gamma"), (["--updates-per-step", "0"], "--updates-per-step"),
    (["--min-reward", "1.5"], "--min-reward"), (["--reward-mode", "gail"], "--reward-mode"),
    (["--policy-update", "trpo"], "--policy-update"), (["--curriculum-fraction", "2"], "--curriculum-fraction"),
    (["--expert-path", "no/such/expert.npz"], "--expert-path"),
    (["--resume", "no/such/checkpoint.pt"], "--resume"), (["--resume", "{garbage}"], "--resume: cannot read"),
    (["--resume", "{corrupted}"], "--resume: .* is corrupted"),
    (["--expert-checkpoint", "{corrupted}", "--save-expert", "x.npz"], "--expert-checkpoint: .* is corrupted"),
]
TYRO = [["--total-timesteps", "abc"], ["--no-such-flag", "1"]]
SCRIPTS = {"l2t_sac_mujoco.py": (SAC, "l2t_sac_mujoco/1"), "l2t_ppo_digit.py": (PPO, "l2t_ppo_digit/2"),
           "tsl_dagger_baseline.py": (TSL, "tsl_dagger_baseline/1"), "l2t_ipmd_cassie.py": (IPMD, "l2t_ipmd_cassie/1")}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{script: (cases, results of the cases, results of the tyro cases, files left in the working folder)}."""
    out = {}
    for script, (cases, fmt) in SCRIPTS.items():
        cwd = str(tmp_path_factory.mktemp(script.split(".")[0]))
        inputs = str(tmp_path_factory.mktemp("inputs"))
        names = {"garbage": garbage_file(inputs), "corrupted": corrupted_checkpoint(inputs, fmt), "folder": inputs}
        argvs = [[a.format(**names) for a in argv] for argv, _ in cases]
        ran = run_cli_many(script, argvs + TYRO, cwd)
        out[script] = (cases, ran[:len(cases)], ran[len(cases):], os.listdir(cwd))
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
