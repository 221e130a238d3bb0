"""What keeps a run from being lost, shared by the four scripts: the values the libraries accept, output paths tried
before any work, one folder per run, and SIGINT / SIGTERM that stop a run with a checkpoint.

Not part of any algorithm. Each check takes the script's ``fail(message)`` (one line on stderr, exit status 1) and
calls it on a value that would fail later; the checks write nothing (a probe file is created and removed at once;
``check_resume_file`` removes the temporary file of a killed write, which is never a checkpoint).

* ``check_seed``: numpy's global seeding (``np.random.seed``) accepts 0 .. 2**32 - 1 only.
* ``check_threads``: torch's OpenMP pool cannot start thousands of threads (libgomp aborts, or the process
  segfaults), and more threads than CPUs only take turns: at most ``max_threads()``, the machine's CPUs (at least 2).
* ``check_device``: a device string torch parses may still be one it cannot compute on here (``meta``, ``mps`` or
  ``xla`` on this build, ``cuda:3`` on a one-GPU machine); a tiny computation is tried on it.
* ``check_rendering``: --capture-video's moviepy and offscreen rendering, tried before any work.
* ``check_memory``: an estimate of the large allocations (buffers, networks with gradients and Adam's moments)
  against the memory free on the device, before anything is allocated.
* ``check_name`` / ``check_run_folder`` / ``check_output_file`` / ``check_writable_folder`` /
  ``check_resume_file``: names the file system would refuse, and folders tried for writing (a probe file created
  and removed); a ``--resume`` whose first checkpoint write was killed is explained.
* ``new_run_dir``: the run's folder, created exclusively: a second run of the same name in the same second gets
  ``NAME-2`` (``-3``, ...) instead of sharing the first one's folder.
* ``Session``: the signal handlers and folder locks of one ``main`` call. SIGINT / SIGTERM set ``stop_requested``,
  which the training loop checks once per step; the script then writes its checkpoint and calls
  ``session.exit_stopped``, which says where the checkpoint is and how to resume, and exits 130. A second signal
  exits at once (130), removing a checkpoint write in progress (the previous checkpoint stays whole).
  Worker processes forked during the session (the Digit env's) inherit the handler and ignore the signal while
  the run lives: a SIGTERM sent to the whole process group lets the run finish its step with its workers and
  close them. ``session.lock(run_dir)`` takes an exclusive lock on the run folder for the rest of the call, so a
  ``--resume`` of a run that is still running is refused. ``resume_command``: the command line that continues a run.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import shlex
import signal
import sys
import threading
import warnings

import mujoco
import torch

from envs import checkpoint as checkpoint_file

SEED_MAX = 2**32 - 1  # np.random.seed: "Seed must be between 0 and 2**32 - 1"
TEMP_SUFFIX_BYTES = len(".tmp4194304")  # what atomic_write appends to a file name (Linux pids reach 2**22)
MAX_RUN_SUFFIX = 999  # new_run_dir tries NAME-2 .. NAME-999


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


# ---------------------------------------------------------------------------------------------------------------------
# Values the libraries refuse
def check_seed(seed: int, fail, flag: str = "--seed"):
    if not 0 <= seed <= SEED_MAX:
        fail(f"{flag} must be in [0, 2**32 - 1] (numpy's seeding accepts no other), got {seed}")


def max_threads() -> int:
    return max(os.cpu_count() or 1, 2)


def check_threads(values: dict, fail):
    """`values`: flag -> thread count (0: torch's default)."""
    limit = max_threads()
    for flag, n in values.items():
        if n > limit:
            fail(
                f"{flag} must be at most {limit}, the CPUs of this machine, got {n} (more threads only take turns, "
                "and thousands of them fail to start: libgomp aborts or torch segfaults)"
            )


def check_device(name: str, fail, flag: str = "--device"):
    """`name` must be a torch device that this torch build and machine can compute on."""
    try:
        device = torch.device(name)
    except RuntimeError:
        fail(f"{flag} must be a torch device such as cpu or cuda:0, got {name!r}")
    if device.type == "cpu":
        return
    if device.type == "meta":  # (and torch's own error for it takes seconds to build)
        fail(
            f"{flag} {name}: torch cannot compute on this device here (meta tensors have shapes but no data); use "
            "cpu or cuda"
        )
    if device.type == "cuda":  # counted without creating a CUDA context (the Digit env workers fork after this)
        if not torch.cuda.is_available():
            fail(f"{flag} {name}: no CUDA device is available here")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            fail(
                f"{flag} {name}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
                f"(cuda:0{f' .. cuda:{count - 1}' if count > 1 else ''})"
            )
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = (torch.ones(2, device=device) * 2).sum().item() == 4.0
    except Exception as e:
        ok, why = False, f"{type(e).__name__}: {first_line(e)[:160]}"
    else:
        why = "a test computation gave a wrong result"
    if not ok:
        fail(f"{flag} {name}: torch cannot compute on this device here ({why}); use cpu or cuda")


def check_rendering(fail, flag: str = "--capture-video"):
    """Videos need moviepy (gymnasium's RecordVideo writes MP4 through it) and MuJoCo's offscreen rendering: both
    tried before any work, so that a run does not train to its end and then fail at its first video."""
    try:
        import moviepy  # noqa: F401
    except ImportError:
        fail(f"{flag} needs moviepy (pip install -r requirements.txt)")
    try:
        with mujoco.Renderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, 8) as renderer:
            renderer.render()
    except Exception as e:
        fail(
            f"{flag}: cannot render offscreen ({type(e).__name__}: {first_line(e)}); set MUJOCO_GL=egl (or "
            "osmesa), or leave the flag out"
        )


def available_memory(device) -> tuple:
    """(bytes free for new allocations, where): the GPU's free memory, or the host's MemAvailable plus free swap."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free, f"{device} (GPU)"
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1:]}
        return info["MemAvailable"] + info.get("SwapFree", 0), "this machine"
    except (OSError, KeyError, ValueError, IndexError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine"


def module_bytes(make, trainable: bool = True) -> int:
    """Bytes of the module `make()` builds, counted on the meta device (nothing allocated, no random draws): its
    parameters and buffers, times 4 for a trained module (the weights, their gradients, Adam's two moments)."""
    with torch.device("meta"):
        module = make()
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    buffers = sum(b.numel() * b.element_size() for b in module.buffers())
    return params * (4 if trainable else 1) + buffers


def check_memory(parts: list, device, fail):
    """`parts`: (what, flag to lower, bytes). Refuses a run whose estimate exceeds the memory free now."""
    need = sum(b for _, _, b in parts)
    free, where = available_memory(device)
    if need > free:
        _, flag, _ = max(parts, key=lambda p: p[2])
        largest_first = sorted(parts, key=lambda p: -p[2])
        detail = ", ".join(f"{w} {format_bytes(b)}" for w, _, b in largest_first if b > 0.01 * need)
        fail(
            f"{flag}: this run would allocate about {format_bytes(need)} ({detail}), more than the "
            f"{format_bytes(free)} free on {where}; lower {flag}"
        )


# ---------------------------------------------------------------------------------------------------------------------
# Paths
def _existing_ancestor(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def name_max(folder: str) -> int:
    try:
        return os.pathconf(_existing_ancestor(folder), "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def probe_write(folder: str):
    """Create and remove a small file in `folder`; the OSError of a folder that refuses it (read-only, no
    permission, full) propagates."""
    path = os.path.join(folder, f".l2t-write-probe-{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.remove(path)


def check_name(flag: str, name: str, fail):
    """A name that becomes one path component: not empty, no '/', no NUL, not '.' or '..'."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        fail(
            f"{flag} must be a plain name (not empty, no '/', not '.' or '..'): it names the run's folder and "
            f"files, got {name!r}"
        )


def check_writable_folder(flag: str, folder: str, fail):
    """`folder` exists or can be created, and a file can be written in it (tried)."""
    anchor = _existing_ancestor(folder)
    if not os.path.isdir(anchor):
        fail(
            f"{flag}: '{anchor}' is a file, not a folder"
            if anchor == os.path.abspath(folder)
            else f"{flag}: cannot create '{folder}': '{anchor}' is a file, not a folder"
        )
    limit = name_max(anchor)
    for part in os.path.relpath(os.path.abspath(folder), anchor).split(os.sep):
        if len(os.fsencode(part)) > limit:
            fail(
                f"{flag}: the name '{part[:40]}...' in '{folder}' is longer than the {limit} bytes the file system "
                "allows"
            )
    try:
        probe_write(anchor)
    except OSError as e:
        fail(f"{flag}: cannot write in '{anchor}' ({e.strerror or first_line(e)})")


def check_run_folder(flag: str, runs_dir: str, run_name: str, files: tuple, fail, name_flag: str = "--exp-name"):
    """--runs-dir (`flag`) is writable and the run folder `run_name` (with a collision suffix) and the `files` it will
    hold (with atomic_write's temporary suffix) have names the file system accepts."""
    check_writable_folder(flag, runs_dir, fail)
    limit = name_max(runs_dir)
    too_long = [
        (n, extra)
        for n, extra in [(run_name, len(f"-{MAX_RUN_SUFFIX}"))] + [(f, TEMP_SUFFIX_BYTES) for f in files]
        if len(os.fsencode(n)) + extra > limit
    ]
    if too_long:
        name, extra = too_long[0]
        fail(
            f"{name_flag}: the run would write '{name[:48]}...', {len(os.fsencode(name))} bytes with the "
            f"{extra} it adds, more than the {limit} bytes a file name may have here; shorten {name_flag}"
        )


def check_output_file(flag: str, path: str, fail, example: str = "student.pt"):
    """An output file: not a folder, in an existing folder that accepts a new file (tried)."""
    if os.path.isdir(path):
        fail(f"{flag}: '{path}' is a folder; give a file path, e.g. {os.path.join(path, example)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"{flag}: folder '{folder}' does not exist")
    limit = name_max(folder)
    if len(os.fsencode(os.path.basename(path))) + TEMP_SUFFIX_BYTES > limit:
        fail(
            f"{flag}: the file name '{os.path.basename(path)[:48]}...' is longer than the file system allows "
            f"({limit} bytes, with {TEMP_SUFFIX_BYTES} for the temporary name it is written under)"
        )
    try:
        probe_write(folder)
    except OSError as e:
        fail(f"{flag}: cannot write in folder '{folder}' ({e.strerror or first_line(e)})")


def check_resume_file(flag: str, path: str, fail):
    """--resume PATH: a file, whose folder (the run's, written on) accepts a new file. A missing checkpoint next to
    the temporary file of a killed write is explained, and that dead file removed."""
    if os.path.isdir(path):
        inside = os.path.join(path, "checkpoint.pt")
        fail(
            f"{flag}: '{path}' is a folder; give the checkpoint file"
            + (f", e.g. {inside}" if os.path.isfile(inside) else "")
        )
    if not os.path.isfile(path):
        stale = checkpoint_file.remove_stale_temps(path)
        if stale:
            fail(
                f"{flag}: no checkpoint file at '{path}': its first write was killed before it finished, so that "
                f"run saved nothing to resume (its unfinished {os.path.basename(stale[0])} is removed); start a new "
                "run"
            )
        fail(f"{flag}: no checkpoint file at '{path}'")
    try:
        probe_write(os.path.dirname(os.path.abspath(path)))
    except OSError as e:
        fail(
            f"{flag}: the run folder of '{path}' is not writable ({e.strerror or first_line(e)}); a resumed run "
            "writes its checkpoints there"
        )


def new_run_dir(runs_dir: str, name: str) -> str:
    """Create and return a new folder runs_dir/name; if that exists (another run of the same name and second),
    runs_dir/name-2, -3, ...: mkdir either creates a folder or fails, so two runs never get the same one."""
    os.makedirs(runs_dir, exist_ok=True)
    for k in range(1, MAX_RUN_SUFFIX + 1):
        path = os.path.join(runs_dir, name if k == 1 else f"{name}-{k}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, f"{MAX_RUN_SUFFIX} run folders named {name}[-k] exist already", runs_dir)


def resume_command(script_file: str, args, ckpt_path: str) -> str:
    """The command line that continues this run: the script as it was started (else its path from here), the flags
    that differ from their defaults, and --resume."""
    script = (
        sys.argv[0] if os.path.abspath(sys.argv[0]) == os.path.abspath(script_file) else os.path.relpath(script_file)
    )
    defaults = type(args)()
    words = ["python", script]
    for field in dataclasses.fields(args):
        value = getattr(args, field.name)
        if field.name in ("resume", "runs_dir") or value == getattr(defaults, field.name):
            continue
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + field.name.replace("_", "-"))
        elif isinstance(value, dict):
            words += [flag] + [str(x) for item in value.items() for x in item]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words + ["--resume", ckpt_path])


# ---------------------------------------------------------------------------------------------------------------------
# Signals and locks of one run
class Session:
    """`with Session(script) as session:` around a script's work. See the module docstring."""

    def __init__(self, script: str):
        self.script = script
        self.signal = None  # the name of the first SIGINT / SIGTERM received
        self._pid = os.getpid()
        self._previous = {}
        self._locks = []

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # (Python delivers signals there only)
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        for fd in self._locks:
            os.close(fd)
        self._locks.clear()
        return False

    @property
    def stop_requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame):
        if os.getpid() != self._pid:  # a worker forked by the run (the Digit env's) inherits this handler: its
            if os.getppid() != self._pid:  # run finishes the step and closes it; it exits only if the run is gone
                os._exit(128 + signum)
            return
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = name
            print(
                f"{self.script}: {name}: stopping after the current step to write a checkpoint (again: quit at "
                "once, without one)",
                file=sys.stderr,
                flush=True,
            )
            return
        removed = checkpoint_file.abandon_writes()
        print(
            f"{self.script}: {name} again: quit at once, no checkpoint written"
            + (f" (the unfinished {', '.join(os.path.basename(p) for p in removed)} removed)" if removed else ""),
            file=sys.stderr,
            flush=True,
        )
        os._exit(130)

    def lock(self, run_dir: str) -> bool:
        """An exclusive lock on the folder for the rest of the session; False if another process holds it."""
        fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._locks.append(fd)
        return True

    def exit_stopped(self, where: str, ckpt_path: str, resume: str):
        """After the checkpoint is written: one line saying where it is and how to continue; exit status 130."""
        print(
            f"{self.script}: stopped by {self.signal} at {where}; checkpoint written to {ckpt_path}; continue "
            f"with: {resume}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(130)
