"""Files that a machine fails to write, and runs that must not lose or share their folder: a full disk at a
checkpoint, two runs of the same name started in the same second, a --resume of a running run, a killed first write,
rendering that fails only after training, an evaluation that fails after training (envs/checkpoint.py,
envs/guard.py)."""

import errno
import fcntl
import glob
import io
import multiprocessing
import os
import types

import pytest
import torch

from conftest import load_script
from envs import checkpoint as checkpoint_file
from envs import guard


def tiny(sac, tmp_path, **overrides):
    """A run of l2t_sac_mujoco.py on the Counter toy env that takes a second or two."""
    kwargs = dict(
        env_id="l2t-test/Counter-v0",
        total_timesteps=200,
        learning_starts=64,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        checkpoint_frequency=0,
        alpha=0.3,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return sac.Args(**kwargs)


class FullDisk(io.FileIO):
    """A file on a disk that takes `room` more bytes (None: any number), then refuses writes with ENOSPC, as the
    operating system does. Patched in as the `open` of envs/checkpoint.py."""

    room = None

    def __init__(self, path, mode="r"):
        super().__init__(path, mode.replace("b", ""))

    def write(self, data):
        n = memoryview(data).nbytes
        if FullDisk.room is not None:
            if n > FullDisk.room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            FullDisk.room -= n
        return super().write(data)


@pytest.fixture
def full_disk(monkeypatch):
    """`fill(after)`: the disk fills up after `after` more checkpoint files (each of them written whole)."""
    opened = []

    def open_file(path, mode="r"):
        opened.append(path)
        if len(opened) > fill.after:
            FullDisk.room = 4096  # the next file gets its first few kB, then the disk is full
        return FullDisk(path, mode)

    def fill(after):
        fill.after = after

    fill.after = 10**9
    monkeypatch.setattr(checkpoint_file, "open", open_file, raising=False)
    yield fill
    FullDisk.room = None


@pytest.fixture
def ipmd():
    return load_script("l2t_ipmd_cassie")


def test_a_full_disk_stops_in_one_line_and_keeps_the_previous_checkpoint(sac, tmp_path, full_disk):
    full_disk(after=1)  # the step-100 checkpoint is written, the step-200 one finds the disk full
    with pytest.raises(SystemExit) as e:
        sac.main(tiny(sac, tmp_path, checkpoint_frequency=100))
    message = str(e.value.code)
    (run_dir,) = glob.glob(str(tmp_path / "*"))
    path = os.path.join(run_dir, "checkpoint.pt")
    assert "\n" not in message and message.startswith("l2t_sac_mujoco.py: error: cannot write ")
    assert f"'{path}' (No space left on device after " in message  # torch's own error says "unexpected pos"
    assert "free in" in message and "the previous checkpoint.pt is unchanged" in message
    assert checkpoint_file.load(path)["global_step"] == 100  # whole, its digest checked
    assert sorted(os.listdir(run_dir)) == ["checkpoint.pt"] + [f for f in os.listdir(run_dir) if "tfevents" in f]


def test_a_full_disk_at_the_first_checkpoint_says_there_is_none(sac, tmp_path, full_disk):
    full_disk(after=0)
    with pytest.raises(SystemExit, match="there is no earlier checkpoint.pt") as e:
        sac.main(tiny(sac, tmp_path, checkpoint_frequency=100))
    assert "\n" not in str(e.value.code)
    (run_dir,) = glob.glob(str(tmp_path / "*"))
    assert not [f for f in os.listdir(run_dir) if f.startswith("checkpoint.pt")]  # no temporary file either


def test_write_errors_of_the_file_system_become_one_line(tmp_path, monkeypatch):
    """ENOSPC, EIO and EDQUOT, whether torch passes the OSError on or turns it into its own RuntimeError."""
    path = str(tmp_path / "c.pt")
    checkpoint_file.save({"w": torch.zeros(10)}, path)
    for code in (errno.ENOSPC, errno.EIO, errno.EDQUOT):

        class Failing(FullDisk):
            def write(self, data, code=code):
                raise OSError(code, os.strerror(code))

        monkeypatch.setattr(checkpoint_file, "open", Failing, raising=False)
        with pytest.raises(checkpoint_file.WriteError, match=os.strerror(code)) as e:
            checkpoint_file.save({"w": torch.ones(100_000)}, path)
        assert "\n" not in str(e.value) and "the previous c.pt is unchanged" in str(e.value)
    assert torch.equal(checkpoint_file.load(path)["w"], torch.zeros(10)) and os.listdir(tmp_path) == ["c.pt"]


def test_two_runs_of_the_same_name_in_the_same_second_keep_separate_folders(sac, tmp_path, monkeypatch):
    monkeypatch.setattr(sac, "time", types.SimpleNamespace(time=lambda: 1_800_000_000.0))  # one second for both
    first = sac.main(tiny(sac, tmp_path, exp_name="same"))
    second = sac.main(tiny(sac, tmp_path, exp_name="same", total_timesteps=300))
    assert second == first + "-2"
    assert torch.load(os.path.join(first, "checkpoint.pt"), weights_only=False)["global_step"] == 200
    assert torch.load(os.path.join(second, "checkpoint.pt"), weights_only=False)["global_step"] == 300


def _make_run_dir(args):
    barrier, runs_dir = args
    barrier.wait()
    return guard.new_run_dir(runs_dir, "HalfCheetah-v4__same__1__1800000000")


def test_runs_started_together_never_share_a_folder(tmp_path):
    """Six processes create the run folder of one name at the same moment: six folders."""
    n = 6
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            folders = pool.map(_make_run_dir, [(barrier, str(tmp_path))] * n)
    assert len(set(folders)) == n and sorted(os.listdir(tmp_path)) == sorted(os.path.basename(f) for f in folders)


def test_a_resume_of_a_run_that_is_still_running_is_refused(sac, tmp_path):
    run_dir = sac.main(tiny(sac, tmp_path))
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what the running run holds (guard.Session.lock)
        with pytest.raises(SystemExit, match="--resume: another process is running in the folder of"):
            sac.main(tiny(sac, tmp_path, total_timesteps=300, resume=os.path.join(run_dir, "checkpoint.pt")))
    finally:
        os.close(fd)
    sac.main(tiny(sac, tmp_path, total_timesteps=300, resume=os.path.join(run_dir, "checkpoint.pt")))  # lock gone


def test_a_resumed_run_removes_the_dead_temporary_files_of_its_folder(sac, tmp_path):
    run_dir = sac.main(tiny(sac, tmp_path, save_model=True))
    dead = [
        os.path.join(run_dir, f"{name}.tmp{pid}")
        for name, pid in (("checkpoint.pt", 2**22 + 1), ("l2t_sac_mujoco.cleanrl_model", 2**22 + 2))
    ]
    for path in dead:
        open(path, "wb").close()
    sac.main(tiny(sac, tmp_path, total_timesteps=300, resume=os.path.join(run_dir, "checkpoint.pt")))
    assert not any(os.path.exists(path) for path in dead)


def test_a_killed_first_write_is_explained_and_cleaned_up(sac, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = run_dir / f"checkpoint.pt.tmp{2**22 + 3}"  # above Linux's pid limit: never a live process
    stale.write_bytes(b"")
    with pytest.raises(SystemExit, match="its first write was killed before it finished") as e:
        sac.main(tiny(sac, tmp_path, resume=str(run_dir / "checkpoint.pt")))
    assert "\n" not in str(e.value.code) and not stale.exists()


@pytest.mark.parametrize("name", ["l2t_sac_mujoco", "l2t_ipmd_cassie", "tsl_dagger_baseline"])
def test_capture_video_without_rendering_is_refused_before_training(name, tmp_path, monkeypatch):
    """Before, these scripts trained to the end and crashed at the first video, in the final evaluation."""
    script = load_script(name)

    def broken(*a, **k):
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(guard.mujoco, "Renderer", broken)
    args = script.Args(env_id="l2t-test/Counter-v0", capture_video=True, runs_dir=str(tmp_path / "runs"))
    with pytest.raises(SystemExit, match="--capture-video: cannot render offscreen .*no OpenGL context"):
        script.main(args)
    assert not os.path.exists(tmp_path / "runs")


def test_an_evaluation_that_fails_after_training_keeps_the_trained_run(sac, tmp_path, monkeypatch):
    """The final checkpoint comes first: an evaluation (or its video) that fails afterwards loses nothing."""

    def failing(*a, **k):
        raise RuntimeError("could not write the video")

    monkeypatch.setattr(sac, "evaluate", failing)
    with pytest.raises(SystemExit, match="the final evaluation failed .*could not write the video.*saved in") as e:
        sac.main(tiny(sac, tmp_path, save_model=True))
    assert "\n" not in str(e.value.code)
    (run_dir,) = glob.glob(str(tmp_path / "*"))
    assert checkpoint_file.load(os.path.join(run_dir, "checkpoint.pt"))["global_step"] == 200


def test_ipmd_keeps_the_trained_run_when_the_expert_rollout_fails(ipmd, tmp_path, monkeypatch):
    def failing(*a, **k):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ipmd, "rollout_expert", failing)
    args = ipmd.Args(
        env_id="l2t-test/Counter-v0",
        total_timesteps=200,
        learning_starts=64,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        checkpoint_frequency=0,
        reward_mode="imitation",
        expert_path=str(tmp_path / "none.npz"),
        log_frequency=40,
        curriculum_interval=40,
        runs_dir=str(tmp_path / "runs"),
        torch_threads=1,
        save_expert=str(tmp_path / "expert.npz"),
    )
    with pytest.raises(SystemExit, match="--save-expert: the rollouts failed .*Input/output error.*saved in"):
        ipmd.main(args)
    (run_dir,) = glob.glob(str(tmp_path / "runs" / "*"))
    assert checkpoint_file.load(os.path.join(run_dir, "checkpoint.pt"))["global_step"] == 200
