import contextlib
import glob
import importlib.util
import math
import os
import sys

# Headless rendering for the render tests (set before anything imports mujoco); where EGL is missing they skip
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # `envs` and the top-level scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `toy_env`

import toy_env  # noqa: E402,F401  (registers the l2t-test/ envs)

# Exact comparisons repeat only at a fixed thread count; subprocesses get the same via --torch-threads 1
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _denormals_back_on():
    """l2t_ppo_digit.main flushes denormals for the whole process (--flush-denormal): undo it after every test, so
    that no test depends on which ran before it."""
    yield
    torch.set_flush_denormal(False)


def load_script(name):
    """Import a top-level script (e.g. 'l2t_sac_mujoco') as a module, without running its main."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # torch.compile and pickling look modules up by name
        spec.loader.exec_module(module)
    return sys.modules[name]


def scalars(run_dir):
    """Every TensorBoard scalar of a run folder: {tag: [(step, value), ...]}.

    The event files are read in the order they were written (their first event's wall time), and a later file's
    events replace an earlier file's from that file's first step on (the writers' purge_step on --resume). Not
    TensorBoard's own directory loading: it orders files by name, and within ONE process (as in these tests) the
    names end in a counter that sorts "10" before "9"."""
    files = []
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        ea = EventAccumulator(path, size_guidance={"scalars": 0})
        ea.Reload()
        events = {tag: ea.Scalars(tag) for tag in ea.Tags()["scalars"]}
        first = min((e[0].wall_time for e in events.values() if e), default=math.inf)
        files.append((first, events))
    out = {}
    for _, events in sorted(files, key=lambda f: f[0]):
        for tag, evs in events.items():
            if evs:
                kept = [(s, v) for s, v in out.get(tag, []) if s < evs[0].step]
                out[tag] = kept + [(e.step, e.value) for e in evs]
    return out


@pytest.fixture
def sac():
    return load_script("l2t_sac_mujoco")


@pytest.fixture
def tsl():
    return load_script("tsl_dagger_baseline")


@contextlib.contextmanager
def crash_on_call(monkeypatch, module, name, n):
    """Within the block, the n-th call of module.name raises KeyboardInterrupt (a run killed mid-way), which the
    block expects; afterwards module.name is the original again. (A kill during a checkpoint write itself:
    tests/test_checkpoint.py, in a subprocess.)"""
    original, calls = getattr(module, name), []

    def wrapper(*a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(module, name, wrapper)
    with pytest.raises(KeyboardInterrupt):
        yield
    monkeypatch.setattr(module, name, original)


def assert_position_actuators(model, joints, kp, kd, limits):
    """Each actuator i drives joints[i] as a MuJoCo position actuator: force = kp (ctrl - q) - kd qdot, clamped to
    +-limits[i], gear 1, control range = the joint's range."""
    import numpy as np

    assert [model.actuator(i).name for i in range(model.nu)] == list(joints)
    for i, joint in enumerate(joints):
        assert model.actuator_trnid[i, 0] == model.joint(joint).id
        assert model.actuator_gainprm[i, 0] == pytest.approx(kp[i])
        assert model.actuator_biasprm[i, :3] == pytest.approx([0.0, -kp[i], -kd[i]])
        assert model.actuator_gear[i, 0] == 1.0
        assert model.actuator_forcelimited[i]
        assert model.actuator_forcerange[i] == pytest.approx([-limits[i], limits[i]])
        assert np.allclose(model.actuator_ctrlrange[i], model.jnt_range[model.joint(joint).id])


def run_cli_many(script, argvs, cwd, timeout=300):
    """Run `python script *argv` for each argument list (forked children of one driver, see cli_driver.py);
    returns a list of dicts with returncode, stdout and stderr."""
    import json
    import subprocess
    import sys as _sys

    driver = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_driver.py")
    proc = subprocess.run(
        [_sys.executable, driver, os.path.join(ROOT, script)],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


# MuJoCo Warp on warp's CPU device: one simulator per terrain for the whole session, so that Warp's kernel
# compilation (~60 s at the first Warp step on a machine, then cached in ~/.cache/warp) is loaded once, not per test.
def _warp_sim(num_worlds, terrain):
    import mujoco_warp  # noqa: F401  (pinned in requirements.txt: a broken install fails the tests, never skips them)
    from envs.digit.warp_backend import WarpDigitSim

    sim = WarpDigitSim(num_worlds, terrain=terrain, device="cpu")
    sim.step()  # compile
    return sim


@pytest.fixture(scope="session")
def warp_flat_sim():
    return _warp_sim(3, "flat")


@pytest.fixture(scope="session")
def warp_rough_sim():
    return _warp_sim(4, "rough")


def medium_precision_changes_products() -> bool:
    """Whether torch's "medium" float32 matmul precision changes a product on this CPU: it rounds the inputs to
    bfloat16 only where the CPU has bfloat16 matmul hardware (AMX / AVX512-BF16); elsewhere it computes in float32."""
    import torch

    a = torch.randn(64, 64, generator=torch.Generator().manual_seed(0))
    exact = a @ a
    try:
        torch.set_float32_matmul_precision("medium")
        return not torch.equal(a @ a, exact)
    finally:
        torch.set_float32_matmul_precision("highest")
