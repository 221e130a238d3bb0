"""What the scripts print: one progress line at a steady interval, and silence for two warnings a user cannot act on.

Plumbing shared by the four scripts (the algorithm stays in each script). A line looks like

    step 76800/1000000 | train return 9.91, length 432 | eval teacher 27.9 (46), student 28.6 (47) | 625 steps/s | 22 min left

"train" averages the last 100 training episodes, "eval" is the latest evaluation (mean return, mean length in
brackets), steps/s is measured since the previous line with evaluation and checkpoint time left out, and the time
left is the rest of the run at that rate. Plain lines, not a tqdm bar: they survive `nohup ... > log` and `tail -f`
(a bar rewrites one line with carriage returns) and need no extra dependency.
"""

import contextlib
import sys
import time
import warnings
from collections import deque

import mujoco
import numpy as np

PROGRESS_SECONDS = 20.0  # wall seconds between two progress lines


def quiet_known_warnings():
    """Drop three messages that a user of these scripts cannot act on; every other warning passes through.

    - gymnasium's "The environment HalfCheetah-v4 is out of date": paper 1's MuJoCo numbers (section 4.1) were
      measured on the -v4 tasks, so -v4 is the default on purpose (the README says so).
    - MuJoCo's "compiler attribute 'settotalmass' is deprecated", printed by MuJoCo's C library (not Python's
      warnings) each time gymnasium's own `half_cheetah.xml` is compiled: the XML is gymnasium's, not ours.
    - gymnasium's RecordVideo "Overwriting existing videos": the Digit script writes every evaluation's videos,
      under distinct names, into the run's one `videos` folder.
    """
    warnings.filterwarnings("ignore", message=r".*The environment \S+-v4 is out of date", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r".*Overwriting existing videos at")  # one video folder per run
    previous = mujoco.get_mju_user_warning()

    def warn(message):
        if "settotalmass" in message:
            return
        if previous is not None:
            previous(message)
        else:  # what MuJoCo prints without a callback
            print(f"\nWARNING: {message}\n", file=sys.stderr, flush=True)

    mujoco.set_mju_user_warning(warn)


def format_duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class Progress:
    """Collects training episodes and evaluations; `update` prints a line when PROGRESS_SECONDS have passed.

    It also keeps the run's clock for steps/s: time inside `with progress.pause():` (evaluation, checkpoints) is left
    out; `mark(step)` notes a point and `rate(mark, step)` gives the steps/s since it."""

    def __init__(self, total_steps: int, step: int, interval: float = PROGRESS_SECONDS, window: int = 100, stream=None):
        self.total, self.interval, self.stream = total_steps, interval, stream
        self.returns, self.lengths = deque(maxlen=window), deque(maxlen=window)
        self.evals = {}  # who -> (mean return, mean length)
        self.paused, self._pause_start = 0.0, None
        self.last = self.mark(step)  # at the previous line

    def _paused_now(self) -> float:
        return self.paused + (time.time() - self._pause_start if self._pause_start is not None else 0.0)

    def mark(self, step: int):
        return time.time(), step, self._paused_now()

    def rate(self, mark, step: int) -> float:
        """Training steps per second since `mark` (paused time left out)."""
        t0, step0, paused0 = mark
        return (step - step0) / max(time.time() - t0 - (self._paused_now() - paused0), 1e-9)

    @contextlib.contextmanager
    def pause(self):
        """A block whose time is not training time (evaluation, checkpoints)."""
        self._pause_start = time.time()
        try:
            yield
        finally:
            self.paused += time.time() - self._pause_start
            self._pause_start = None

    def restart(self, total_steps: int, step: int):
        """A new stage with its own final step (tsl_dagger_baseline.py's stage 2): steps/s count from here."""
        self.total, self.last = total_steps, self.mark(step)

    def episode(self, ret: float, length: float):
        self.returns.append(float(ret))
        self.lengths.append(float(length))

    def evaluation(self, who: str, ret: float, length: float):
        self.evals[who] = (float(ret), float(length))

    def line(self, step: int, extra: str = "", where: str = "") -> str:
        """The progress line at `step` (steps/s since the previous line); `where`: a prefix naming the stage."""
        rate = self.rate(self.last, step)
        self.last = self.mark(step)
        text = f"{where + ' | ' if where else ''}step {step}/{self.total}"
        if self.returns:
            text += f" | train return {np.mean(self.returns):.2f}, length {np.mean(self.lengths):.0f}"
        if self.evals:
            text += " | eval " + ", ".join(f"{who} {r:.1f} ({n:.0f})" for who, (r, n) in self.evals.items())
        left = (self.total - step) / rate if rate > 0 else float("inf")
        return f"{text} | {rate:.0f} steps/s{' | ' + extra if extra else ''} | {format_duration(left)} left"

    def update(self, step: int, extra: str = "", force: bool = False, where: str = ""):
        """Print the line if PROGRESS_SECONDS of wall time have passed since the previous one (or `force`)."""
        if force or time.time() - self.last[0] >= self.interval:
            print(self.line(step, extra, where), file=self.stream or sys.stdout, flush=True)
