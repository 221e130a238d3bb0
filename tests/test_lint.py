"""The linter and formatter CI enforces: ruff, configured in pyproject.toml (pycodestyle + pyflakes; the formatter's
layout at 120 columns). Either test fails on a file that breaks its rule; `ruff format .` and `ruff check --fix .`
mend most of it."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ruff(*args):
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_passes():
    out = ruff("check", "--output-format", "concise", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_leaves_every_file_unchanged():
    out = ruff("format", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_check_finds_a_planted_fault(tmp_path):
    """The same command on a file with an unused import and a badly formatted line fails: the tests above can fail."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nx=1\n")
    config = os.path.join(ROOT, "pyproject.toml")
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", config, str(bad)], capture_output=True, text=True
    )
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--config", config, str(bad)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "F401" in check.stdout
    assert fmt.returncode == 1
