"""Checkpoint files for every script: atomic writes, a digest of the payload, stale temporary files removed.

Not part of any algorithm, so it lives here and the scripts stay about their algorithm.

* ``save(obj, path)`` writes ``{**obj, "digest": payload_digest(obj)}`` with ``torch.save`` to ``path.tmp<pid>`` in
  the same folder, flushes it to disk, then renames it over ``path``: a crash leaves the previous file whole. A write
  the disk refuses (full, I/O error) raises ``WriteError``, one line naming the file, the reason, the space left and
  whether a previous file is kept; the temporary file is removed. (On a full disk torch's zip writer reports only
  "unexpected pos"; the writes are routed through a wrapper that keeps the operating system's error.)
* ``load(path)`` reads it back and recomputes the digest; a file whose bytes changed (a flipped bit in a tensor
  still unpickles: torch's zip reader does not check the CRCs) is refused with ``CheckpointError``.
* ``remove_stale_temps(path)`` deletes ``path.tmp<pid>`` files left by a process that no longer runs (a kill
  during a write); temporary files of live processes are left alone. ``remove_stale_temps_in(folder)``: those of
  every file in a folder. ``abandon_writes()``: removes this process's writes in progress (a second Ctrl-C).
* ``rng_state()`` / ``set_rng_state(d)``: the torch, numpy and python generators, saved with a run and restored
  on ``--resume``; ``open_writer(run_dir, args, step)``: the run's TensorBoard writer as a resumed run needs it;
  ``stop_nonfinite(...)``: the one-line stop of every script when a loss is not finite, after saving the state.

The digest is SHA-256 over a fixed walk of the payload: dict keys in sorted order, every tensor's dtype, shape and
raw bytes, every numpy array's, and ``repr`` of other leaves (numbers, strings, None). It is a check against
corruption, not a signature: anyone can write a file with a matching digest.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
import random
import re
import shutil

import numpy as np
import torch

DIGEST_KEY = "digest"


class CheckpointError(Exception):
    """A checkpoint file that cannot be used: unreadable, not a checkpoint, or its digest does not match."""


class WriteError(Exception):
    """A file that could not be written (disk full, I/O error, no permission); the message is one line."""


_IN_PROGRESS = set()  # temporary files this process is writing now


def _feed(h, x):
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        h.update(f"A{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).data if a.dtype != object else repr(a.tolist()).encode())
    elif isinstance(x, dict):
        h.update(f"D{len(x)}".encode())
        for key in sorted(x, key=repr):
            h.update(repr(key).encode())
            _feed(h, x[key])
    elif isinstance(x, (list, tuple)):
        h.update(f"{type(x).__name__[0]}{len(x)}".encode())
        for item in x:
            _feed(h, item)
    else:  # numbers, strings, None, numpy scalars
        h.update(repr(x).encode())


def payload_digest(obj) -> str:
    """SHA-256 (hex) of the payload (``obj`` without a ``digest`` entry)."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != DIGEST_KEY} if isinstance(obj, dict) else obj)
    return h.hexdigest()


def temp_path(path: str) -> str:
    return f"{path}.tmp{os.getpid()}"


class _KeepOSError:
    """A file for torch's and numpy's writers, remembering the OSError that a write raised (torch turns it
    into a RuntimeError without the reason)."""

    def __init__(self, f):
        self.f, self.error, self.written = f, None, 0

    def write(self, data):
        try:
            n = self.f.write(data)
            self.written += n or 0
            return n
        except OSError as e:
            self.error = e
            raise

    def flush(self):
        self.f.flush()

    def __getattr__(self, name):  # seek, tell, ... of the file itself
        return getattr(self.f, name)


def _size(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def write_error(path: str, error: OSError, written: int = 0) -> WriteError:
    """The one-line WriteError of a failed write of `path`: the reason, how much was written, the space left, the
    previous file's fate."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        space = f"{_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        space = "free space unknown"
    lines = str(error).strip().splitlines()
    reason = error.strerror or (lines[0] if lines else type(error).__name__)
    after = f" after {_size(written)}" if written else ""
    kept = (
        f"the previous {os.path.basename(path)} is unchanged"
        if os.path.exists(path)
        else f"there is no earlier {os.path.basename(path)}"
    )
    return WriteError(f"cannot write '{path}' ({reason}{after}; {space} in '{folder}'); {kept}")


def atomic_write(path: str, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, flush it to disk, then rename it over ``path``
    (atomic on POSIX): a crash leaves the previous file whole, and the temporary file is removed on any error. An
    OSError of the disk (full, I/O error, permission) becomes a one-line ``WriteError``."""
    tmp = temp_path(path)
    _IN_PROGRESS.add(tmp)
    sink = None
    try:
        with open(tmp, "wb") as f:
            sink = _KeepOSError(f)
            write(sink)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        cause = sink.error if sink is not None and sink.error is not None else e
        if isinstance(cause, OSError):
            raise write_error(path, cause, sink.written if sink is not None else 0) from None
        raise
    finally:
        _IN_PROGRESS.discard(tmp)


def abandon_writes() -> list:
    """Remove the temporary files of this process's writes in progress (before an immediate exit); their targets
    keep their previous contents. Returns the removed paths."""
    removed = []
    for tmp in list(_IN_PROGRESS):
        try:
            os.remove(tmp)
            removed.append(tmp)
        except OSError:
            pass
    return removed


def save(obj: dict, path: str) -> None:
    """torch.save ``obj`` plus its digest, atomically (``atomic_write``)."""
    atomic_write(path, lambda f: torch.save({**obj, DIGEST_KEY: payload_digest(obj)}, f))


def load(path: str) -> dict:
    """The checkpoint dict at ``path``, its digest checked; ``CheckpointError`` (one line) otherwise."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        lines = str(e).strip().splitlines()
        raise CheckpointError(f"cannot read '{path}' ({type(e).__name__}: {lines[0] if lines else ''})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"'{path}' is not a checkpoint (a {type(obj).__name__}, not a dict)")
    if DIGEST_KEY not in obj:
        raise CheckpointError(f"'{path}' has no digest (not written by this project, or by an older version)")
    if payload_digest(obj) != obj[DIGEST_KEY]:
        raise CheckpointError(f"'{path}' is corrupted: its contents do not match the digest stored in it")
    return obj


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str) -> list:
    """Remove ``path.tmp<pid>`` files whose writer is gone (or is this process); returns the removed paths."""
    removed = []
    for tmp in glob.glob(glob.escape(path) + ".tmp*"):
        match = re.fullmatch(r"\.tmp(\d+)", tmp[len(path) :])
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or not _alive(pid):
            try:
                os.remove(tmp)
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def remove_stale_temps_in(folder: str) -> list:
    """``remove_stale_temps`` for every file of `folder` (the run folder of a resumed run)."""
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(folder), "*.tmp*")):
        match = re.fullmatch(r"(.+)\.tmp\d+", tmp)
        if match is not None:
            removed += remove_stale_temps(match.group(1))
    return removed


def rng_state() -> dict:
    """The states of torch's, numpy's and python's global generators, for a checkpoint."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def open_writer(run_dir: str, args, global_step: int):
    """The run's TensorBoard writer. purge_step drops events a crashed run logged after its last checkpoint (those
    AT the checkpoint's step were logged before it was written), so a resumed curve has no duplicates; the
    hyperparameter text (a table of the dataclass `args`) is written once, at the run's start."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(run_dir, purge_step=global_step + 1 if global_step > 0 else None)
    if global_step == 0:
        writer.add_text(
            "hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items())
        )
    return writer


def stop_nonfinite(script: str, stats: dict, global_step: int, run_dir: str, ckpt_path: str, checkpoint) -> None:
    """Save the state that produced a non-finite statistic with `checkpoint(path)` and stop with one line naming the
    statistics, the step, the file written and whether a periodic checkpoint exists (`stats`: name -> tensor)."""
    bad = [name for name, value in stats.items() if not math.isfinite(float(value))]
    path = os.path.join(run_dir, f"nonfinite_step{global_step}.pt")
    checkpoint(path)
    last = f"last periodic checkpoint {ckpt_path}" if os.path.exists(ckpt_path) else "no periodic checkpoint yet"
    raise SystemExit(
        f"{script}: error: non-finite {', '.join(bad)} at global_step={global_step}; state saved to {path}, {last}"
    )
