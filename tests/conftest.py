import importlib.util
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


def load_script(name):
    """Import a top-level script (e.g. 'l2t_sac_mujoco') as a module, without running its main."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # torch.compile and pickling look modules up by name
        spec.loader.exec_module(module)
    return sys.modules[name]


def scalars(run_dir):
    """Every TensorBoard scalar of a run folder: {tag: [(step, value), ...]}."""
    ea = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    ea.Reload()
    return {tag: [(e.step, e.value) for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


@pytest.fixture
def sac():
    return load_script("l2t_sac_mujoco")


@pytest.fixture
def tsl():
    return load_script("tsl_dagger_baseline")
