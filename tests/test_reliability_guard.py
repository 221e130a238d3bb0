"""envs/guard.py on its own: the limits it checks, the folders it makes, the resume line it prints (parsed back by
each script's tyro), and the signal handling of a session and of the workers forked inside it."""

import os
import signal
import time

import pytest
import tyro

from conftest import load_script
from envs import guard


class Refused(Exception):
    pass


def fail(message):
    raise Refused(message)


@pytest.mark.parametrize("seed,ok", [(0, True), (2**32 - 1, True), (-1, False), (2**32, False)])
def test_seeds_are_those_numpy_accepts(seed, ok):
    import numpy as np

    if ok:
        guard.check_seed(seed, fail)
        np.random.seed(seed)
    else:
        with pytest.raises(Refused, match=r"--seed must be in \[0, 2\*\*32 - 1\]"):
            guard.check_seed(seed, fail)
        with pytest.raises(ValueError):
            np.random.seed(seed)


def test_threads_up_to_the_cpus_and_devices_torch_computes_on():
    guard.check_threads({"--torch-threads": guard.max_threads(), "--update-threads": 0}, fail)
    with pytest.raises(Refused, match="--update-threads must be at most"):
        guard.check_threads({"--torch-threads": 1, "--update-threads": guard.max_threads() + 1}, fail)
    for name in ("cpu", "cpu:0"):
        guard.check_device(name, fail)
    for name, pattern in (
        ("meta", "no data"),
        ("mps", "cannot compute"),
        ("vulkan", "cannot compute"),
        ("cuda:3", "cuda:3"),
        ("gpu", "must be a torch device"),
    ):
        with pytest.raises(Refused, match=pattern):
            if name == "cuda:3" and guard.torch.cuda.device_count() > 3:
                raise Refused("cuda:3")
            guard.check_device(name, fail)


def test_memory_estimates_name_the_largest_part():
    guard.check_memory([("a", "--small", 10)], "cpu", fail)
    with pytest.raises(Refused, match=r"--buffer-size: this run would allocate about 2.0 PB \(replay buffer 2.0 PB\)"):
        guard.check_memory(
            [("networks", "--hidden-dim", 10**6), ("replay buffer", "--buffer-size", 2 * 10**15)], "cpu", fail
        )
    # counted on the meta device: nothing allocated, no random number drawn
    state = guard.torch.get_rng_state()
    assert guard.module_bytes(lambda: guard.torch.nn.Linear(10**6, 10**6)) == 4 * 4 * (10**12 + 10**6)
    assert guard.torch.equal(state, guard.torch.get_rng_state())


def test_folders_are_probed_without_leaving_a_file(tmp_path):
    guard.check_run_folder("--runs-dir", str(tmp_path / "new" / "runs"), "run", ("checkpoint.pt",), fail)
    assert os.listdir(tmp_path) == []  # nothing created
    (tmp_path / "file").write_text("x")
    with pytest.raises(Refused, match="cannot create .* is a file"):
        guard.check_writable_folder("--runs-dir", str(tmp_path / "file" / "runs"), fail)
    with pytest.raises(Refused, match="longer than the 255 bytes"):
        guard.check_writable_folder("--runs-dir", str(tmp_path / ("y" * 300)), fail)
    with pytest.raises(Refused, match="shorten --exp-name"):
        guard.check_run_folder("--runs-dir", str(tmp_path), "x" * 252, ("checkpoint.pt",), fail)  # with "-999"
    with pytest.raises(Refused, match="would write 'm" + "m" * 47):
        guard.check_run_folder("--runs-dir", str(tmp_path), "run", ("m" * 240 + ".cleanrl_model",), fail)
    with pytest.raises(Refused, match="--exp-name must be a plain name"):
        guard.check_name("--exp-name", "..", fail)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    made = [guard.new_run_dir(str(tmp_path / "runs"), "name") for _ in range(3)]
    assert [os.path.basename(p) for p in made] == ["name", "name-2", "name-3"]


@pytest.mark.parametrize("name", ["l2t_sac_mujoco", "l2t_ipmd_cassie", "l2t_ppo_digit", "tsl_dagger_baseline"])
def test_the_resume_line_parses_back_to_the_same_flags(name):
    script = load_script(name)
    changed = {
        "l2t_sac_mujoco": dict(exp_name="my run", alpha=0.2, autotune=False, capture_video=True),
        "l2t_ipmd_cassie": dict(min_reward=0.3, expert_path=None, curriculum=False, updates_per_step=0.25),
        "l2t_ppo_digit": dict(
            exp_name="my run",
            symmetry=True,
            device="cpu",
            init_noise_std=0.1,
        ),
        "tsl_dagger_baseline": dict(alpha=0.3, student_loss="l2", teacher_checkpoint="t.pt"),
    }[name]
    args = (
        script.Args(**changed, total_timesteps=123)
        if hasattr(script.Args(), "total_timesteps")
        else script.Args(**changed, stage2_timesteps=123)
    )
    words = guard.resume_command(script.__file__, args, "runs/a b/checkpoint.pt")
    import shlex

    argv = shlex.split(words)[2:]
    assert argv[-2:] == ["--resume", "runs/a b/checkpoint.pt"]
    parsed = tyro.cli(script.Args, args=argv)
    assert parsed == type(args)(**{**vars(args), "resume": "runs/a b/checkpoint.pt"})


def test_a_signal_sets_the_flag_and_the_session_restores_the_handlers(capsys):
    before = signal.getsignal(signal.SIGTERM)
    with guard.Session("script.py") as session:
        assert not session.stop_requested
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert session.stop_requested and session.signal == "SIGTERM"
        with pytest.raises(SystemExit) as e:
            session.exit_stopped("step 7", "runs/x/checkpoint.pt", "python script.py --resume runs/x/checkpoint.pt")
        assert e.value.code == 130
    assert signal.getsignal(signal.SIGTERM) is before
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("script.py: SIGTERM: stopping after the current step to write a checkpoint")
    assert err[1] == (
        "script.py: stopped by SIGTERM at step 7; checkpoint written to runs/x/checkpoint.pt; continue "
        "with: python script.py --resume runs/x/checkpoint.pt"
    )


def test_a_worker_forked_in_a_session_ignores_the_signal_while_its_run_lives():
    """The Digit env's workers are forked inside the session: a SIGTERM to the whole group must leave them to their
    run, which closes them after its step; a worker whose run is gone exits."""
    with guard.Session("script.py"):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read)
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: the run lives
            os.write(write, b"alive")
            os._exit(0)
        os.close(write)
        assert os.read(read, 5) == b"alive"
        os.close(read)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
