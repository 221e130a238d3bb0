"""SIGINT and SIGTERM on a tiny run of each script: the current step finishes, a checkpoint is written, one line says
where it is and how to resume, the exit status is 130, no process of the run is left (the Digit env's workers
included), and `--resume` continues from the checkpoint's step. A second signal quits at once.

Every run is a child process of one driver (this file run as a script), forked after the heavy imports, in a process
group of its own: a signal "to the group" is what a terminal's Ctrl-C does, and the group shows any process the run
left behind."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTER = ["--env-id", "l2t-test/Counter-v0", "--torch-threads", "1"]
SMALL = ["--learning-starts", "64", "--batch-size", "32", "--num-envs", "2", "--hidden-dim", "32"]
SMALL += ["--eval-frequency", "0", "--eval-episodes", "1", "--checkpoint-frequency", "0"]  # SAC's and IPMD's
SAC = ["l2t_sac_mujoco.py", *COUNTER, *SMALL]
IPMD = [
    "l2t_ipmd_cassie.py",
    *COUNTER,
    *SMALL,
    "--reward-mode",
    "imitation",
    "--expert-path",
    "none.npz",
    "--log-frequency",
    "40",
    "--curriculum-interval",
    "40",
]
PPO = [
    "l2t_ppo_digit.py",
    "--terrain",
    "flat",
    "--max-episode-steps",
    "20",
    "--num-envs",
    "2",
    "--num-workers",
    "2",
    "--num-steps",
    "8",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--eval-frequency",
    "0",
    "--eval-episodes",
    "2",
    "--checkpoint-frequency",
    "0",
]
TSL1 = [
    "tsl_dagger_baseline.py",
    *COUNTER,
    "--learning-starts",
    "32",
    "--batch-size",
    "32",
    "--hidden-dim",
    "32",
    "--checkpoint-frequency",
    "0",
    "--stage2-timesteps",
    "40",
    "--dagger-rounds",
    "1",
    "--eval-episodes",
    "1",
]
TSL2 = [
    "tsl_dagger_baseline.py",
    *COUNTER,
    "--stage2-timesteps",
    "4000",
    "--dagger-rounds",
    "2",
    "--num-envs",
    "2",
    "--epochs-per-round",
    "1",
    "--eval-episodes",
    "1",
]
STOPPED = re.compile(r": stopped by (SIGINT|SIGTERM) at .*; checkpoint written to (\S+); continue with: python ")


def case(name, argv, signals=(), ready="runs/*/events.out.tfevents.*", then=0.5, ckpt=None, extra=0):
    """One run: `argv` (the script first) in the folder `name`; once `ready` (a glob there) exists and `then` seconds
    passed, each of `signals` ((signal, "group" or "pid", seconds after the previous)) is sent. `ckpt`: a glob of a
    checkpoint written by an earlier case; "{ckpt}" in argv becomes its path, "{total}" its step plus `extra`."""
    return dict(
        name=name, argv=list(argv), signals=[list(s) for s in signals], ready=ready, then=then, ckpt=ckpt, extra=extra
    )


def run_driver(cases, cwd):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["name"]: r for r in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cwd = str(tmp_path_factory.mktemp("signals"))
    big = ["--total-timesteps", "10000000"]
    cases = [
        case("sac", SAC + big, [("SIGINT", "group", 0)]),
        case(
            "sac_resumed",
            SAC + ["--total-timesteps", "{total}", "--resume", "{ckpt}"],
            ckpt="sac/runs/*/checkpoint.pt",
            extra=40,
        ),
        case("ipmd", IPMD + big, [("SIGINT", "group", 0)]),
        case(
            "ipmd_resumed",
            IPMD + ["--total-timesteps", "{total}", "--resume", "{ckpt}"],
            ckpt="ipmd/runs/*/checkpoint.pt",
            extra=40,
        ),
        case("ppo", PPO + big, [("SIGINT", "group", 0)], then=1.0),
        case(
            "ppo_resumed",
            PPO + ["--total-timesteps", "{total}", "--resume", "{ckpt}"],
            ckpt="ppo/runs/*/checkpoint.pt",
            extra=16,
        ),
        case("ppo_sigterm", PPO + big, [("SIGTERM", "group", 0)], then=1.0),
        # an iteration of several seconds, so that the second signal comes while the first waits for its end
        case(
            "ppo_twice",
            PPO + big + ["--num-steps", "4000"],
            [("SIGINT", "group", 0), ("SIGINT", "group", 0.5)],
            then=1.0,
        ),
        case("tsl1", TSL1 + ["--teacher-timesteps", "10000000"], [("SIGTERM", "pid", 0)]),
        case(
            "tsl1_resumed",
            TSL1 + ["--teacher-timesteps", "{total}", "--resume", "{ckpt}"],
            ckpt="tsl1/runs/*/stage1_checkpoint.pt",
            extra=100,
        ),
        case(
            "tsl2",
            TSL2 + ["--teacher-checkpoint", "{ckpt}"],
            [("SIGINT", "group", 0)],
            ready="runs/*/checkpoint.pt",
            then=0.0,
            ckpt="sac/runs/*/checkpoint.pt",
        ),
        case("tsl2_resumed", TSL2 + ["--resume", "{ckpt}"], ckpt="tsl2/runs/*/checkpoint.pt"),
    ]
    return run_driver(cases, cwd), cwd


def stopped_checkpoint(result, cwd):
    """The checkpoint that the stop line names, as it was when the run stopped (asserting the line, the status and
    that no process was left)."""
    lines = result["stderr"].strip().splitlines()
    assert result["returncode"] == 130, result
    assert "Traceback" not in result["stderr"], result["stderr"]
    assert STOPPED.search(lines[-1]), lines
    assert result["left_behind"] == [], result["left_behind"]  # no process of the run's group remains
    return torch.load(os.path.join(cwd, result["name"], "stopped.pt"), weights_only=False)


@pytest.mark.parametrize("script", ["sac", "ipmd", "ppo", "tsl1"])
def test_a_signal_writes_a_checkpoint_exits_130_and_resume_continues_at_its_step(runs, script):
    results, cwd = runs
    result = results[script]
    step_key = "global_step"
    saved = stopped_checkpoint(result, cwd)
    assert saved[step_key] > 0
    if script == "ppo":
        assert result["processes"] >= 3  # the run and its two env workers, all gone after the stop
    resumed = results[f"{script}_resumed"]
    assert resumed["returncode"] == 0, resumed["stderr"][-2000:]
    final = torch.load(resumed["ckpt_path"], weights_only=False)
    assert final[step_key] > saved[step_key]
    if script == "tsl1":  # stage 1 continues with the saved replay buffer
        assert torch.equal(final["storage"][: saved["size"]], saved["storage"])
    else:
        assert f"at global_step={saved[step_key]}" in resumed["stdout"]  # continued from the checkpoint's step


def test_sigterm_to_the_whole_group_lets_the_digit_workers_finish_the_step(runs):
    """The env workers inherit the run's handler: a SIGTERM to every process of the run (a container stop, a
    scheduler) stops the run cleanly instead of killing the workers under it."""
    result = runs[0]["ppo_sigterm"]
    assert stopped_checkpoint(result, runs[1])["global_step"] > 0
    assert "stopped by SIGTERM" in result["stderr"] and result["processes"] >= 3


def test_a_second_signal_quits_at_once_without_orphans(runs):
    result = runs[0]["ppo_twice"]
    assert result["returncode"] == 130 and "Traceback" not in result["stderr"], result
    assert "SIGINT again: quit at once" in result["stderr"]
    assert result["left_behind"] == []
    # whatever was being written is gone; a checkpoint.pt, if one was completed, is whole
    (folder,) = glob.glob(os.path.join(runs[1], "ppo_twice", "runs", "*"))
    assert not [f for f in os.listdir(folder) if ".tmp" in f]


def test_dagger_stopped_in_a_round_resumes_at_that_rounds_start(runs):
    """Stage 2 keeps a checkpoint at its start and after every round: a stop inside round 1 drops that round's
    collected steps and resumes it from the start (the checkpoint says round 0)."""
    results, cwd = runs
    saved = stopped_checkpoint(results["tsl2"], cwd)
    assert saved["round"] in (0, 1)  # the signal lands in round 1, or just after it
    resumed = results["tsl2_resumed"]
    assert resumed["returncode"] == 0, resumed["stderr"][-2000:]
    assert f"resumed from {resumed['ckpt_path']} at round {saved['round']}" in resumed["stdout"]
    assert torch.load(resumed["ckpt_path"], weights_only=False)["round"] == 2


# ---------------------------------------------------------------------------------------------------------------------
# The driver: JSON cases on stdin, JSON results on stdout.
def _group_members(pgid):
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def _run_case(c, root):
    import signal
    import time
    import traceback
    import runpy

    folder = os.path.join(os.getcwd(), c["name"])
    os.makedirs(folder, exist_ok=True)
    argv, ckpt_path = list(c["argv"]), None
    if c["ckpt"]:
        (ckpt_path,) = glob.glob(os.path.join(os.getcwd(), c["ckpt"]))
        step = torch.load(ckpt_path, weights_only=False)["global_step"]
        argv = [a.format(ckpt=ckpt_path, total=step + c["extra"]) for a in argv]
    script, argv = os.path.join(root, argv[0]), argv[1:]
    out, err = os.path.join(folder, "stdout.txt"), os.path.join(folder, "stderr.txt")
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        os.chdir(folder)
        fd_out, fd_err = os.open(out, os.O_WRONLY | os.O_CREAT), os.open(err, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        code = 0
        try:
            sys.argv = [script] + argv
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    result, processes, deadline = {"name": c["name"]}, 0, time.time() + 120
    if c["signals"]:
        while not glob.glob(os.path.join(folder, c["ready"])) and time.time() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                raise RuntimeError(f"{c['name']} ended before it was ready: {open(err).read()[-2000:]}")
            time.sleep(0.05)
        time.sleep(c["then"])
        processes = len(_group_members(pid))
        for name, target, wait in c["signals"]:
            time.sleep(wait)
            signum = getattr(signal, name)
            os.killpg(pid, signum) if target == "group" else os.kill(pid, signum)
    _, status = os.waitpid(pid, 0)
    left = _group_members(pid)
    for _ in range(40):  # workers notice a vanished parent within a second or two
        if not left:
            break
        time.sleep(0.1)
        left = _group_members(pid)
    for member in left:
        os.kill(member, signal.SIGKILL)
    result.update(
        returncode=os.waitstatus_to_exitcode(status),
        stdout=open(out).read(),
        stderr=open(err).read(),
        left_behind=left,
        processes=processes,
        ckpt_path=ckpt_path,
    )
    stopped = STOPPED.search(result["stderr"])
    if stopped and os.path.isfile(os.path.join(folder, stopped.group(2))):  # kept as it was (a resume rewrites it)
        shutil.copy(os.path.join(folder, stopped.group(2)), os.path.join(folder, "stopped.pt"))
    return result


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    import gymnasium  # noqa: F401
    import tyro  # noqa: F401
    from torch.utils.tensorboard import SummaryWriter  # noqa: F401

    import envs  # noqa: F401
    import toy_env  # noqa: F401

    cases = json.load(sys.stdin)
    sys.stdout.write(json.dumps([_run_case(c, ROOT) for c in cases]))
