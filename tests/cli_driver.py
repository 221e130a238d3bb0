"""Run a top-level script once per argument list, each run in its own forked child process, as `python SCRIPT ARGS`.

Used by the bad-input tests: the heavy imports (torch, gymnasium, MuJoCo, tyro) happen once here, then every child
re-executes the script as `__main__` with its own `sys.argv`, so that forty bad inputs take seconds, not minutes.
A child behaves as the interpreter would: `SystemExit(str)` prints the text to stderr and exits 1, an uncaught
exception prints its traceback and exits 1.

stdin: JSON list of argument lists; stdout: JSON list of {"returncode", "stdout", "stderr"}.
"""

import json
import os
import runpy
import signal
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import gymnasium  # noqa: E402,F401
import torch  # noqa: E402,F401
import tyro  # noqa: E402,F401
from torch.utils.tensorboard import SummaryWriter  # noqa: E402,F401

import envs  # noqa: E402,F401


CHILD_SECONDS = 60  # a refusal takes well under a second; a child still running then is a run that started


def run_child(script, argv):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # the child: stdout/stderr to the files, run the script, exit as python would
        os.setpgid(0, 0)  # its own process group, so that a run that did start (and its env workers) can be killed
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        try:
            sys.argv = [script] + argv
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = time.time() + CHILD_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            result = {"returncode": os.waitstatus_to_exitcode(status)}
            break
        if time.time() > deadline:  # an input that was not refused started a run: stop it and say so
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            result = {"returncode": None, "timed_out": True}
            break
        time.sleep(0.005)
    for name, f in (("stdout", out), ("stderr", err)):
        f.seek(0)
        result[name] = f.read().decode(errors="replace")
    return result


if __name__ == "__main__":
    script = os.path.abspath(sys.argv[1])
    argvs = json.load(sys.stdin)
    results = [run_child(script, argv) for argv in argvs]
    sys.stdout.write(json.dumps(results))
