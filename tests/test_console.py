"""envs/console.py: the progress line's numbers, and the warning filter drops only the two known messages."""

import io
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from envs import console


def test_progress_line_reports_recent_episodes_evaluation_rate_and_time_left(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(console.time, "time", lambda: clock[0])
    out = io.StringIO()
    progress = console.Progress(total_steps=10_000, step=0, interval=20.0, window=2, stream=out)
    for ret, length in ((1.0, 10), (3.0, 30), (5.0, 50)):  # the window keeps the last two
        progress.episode(ret, length)
    progress.evaluation("teacher", 7.25, 100)
    clock[0] += 10.0
    progress.update(1000)
    assert out.getvalue() == ""  # not yet 20 s since the start
    with progress.pause():  # evaluation or a checkpoint: not training time
        clock[0] += 5.0
        assert (
            progress.rate(progress.mark(0), 0) == 0 and progress.rate((990.0, 0, 0.0), 1000) == 50
        )  # the pause so far left out
    clock[0] += 10.0  # 25 s since the start, 5 of them paused: 1000 steps in 20 training seconds
    progress.update(1000)
    assert out.getvalue().strip() == (
        "step 1000/10000 | train return 4.00, length 40 | eval teacher 7.2 (100) | 50 steps/s | 3 min left"
    )
    clock[0] += 1.0  # the next rate counts from the previous line only
    progress.update(1500, extra="lr 1e-3", force=True)
    assert out.getvalue().splitlines()[-1].endswith("| 500 steps/s | lr 1e-3 | 17 s left")


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (125, "2 min"), (7200, "2.0 h"), (float("inf"), "?")])
def test_format_duration(seconds, text):
    assert console.format_duration(seconds) == text


def test_known_warnings_are_dropped_and_others_kept():
    code = textwrap.dedent("""
        import warnings, gymnasium as gym, mujoco
        from envs.console import quiet_known_warnings
        quiet_known_warnings()
        gym.make("HalfCheetah-v4").close()  # the -v4 notice and MuJoCo's settotalmass warning
        warnings.warn("another deprecation", DeprecationWarning)
        mujoco.MjModel.from_xml_string('<mujoco><compiler settotalmass="3"/><worldbody><body><freejoint/>'
                                       '<geom size="0.1"/></body></worldbody></mujoco>')
        mujoco.get_mju_user_warning()("another MuJoCo warning")  # what MuJoCo calls for any other warning
    """)
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "out of date" not in proc.stderr and "settotalmass" not in proc.stderr
    assert "another deprecation" in proc.stderr and "WARNING: another MuJoCo warning" in proc.stderr
