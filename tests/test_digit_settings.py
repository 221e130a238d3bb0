"""One source of truth for the Digit task's settings (``l2t/Digit-v3``).

``DigitEnv``'s keyword defaults (``envs.digit.env.task_defaults``) are the task, and ``DigitVectorEnv``'s
``terrain_columns`` default is the vector envs' column rule. Every way the project builds the task must give exactly
those settings, read from the built env objects (never from the kwargs handed to them): ``gym.make``, ``DigitEnv()``,
``DigitVectorEnv`` and ``gym.make_vec``, ``l2t_ppo_digit.py``'s own ``train()`` from a default ``Args()`` (through
its ``make_envs``, both backends), ``DigitWarpVectorEnv``, the TSL baseline from a default teacher run's saved args
(both backends), and the benchmarks' builders. ``l2t_ppo_digit.py``'s ``Args`` equal the env's defaults flag by flag.

Deliberate differences, not counted as drift:
- the script's first episodes run at its randomisation ramp's strength (``randomization_scale(0, ramp)``, 0 by
  default; the env's default 1.0 is the ramp's end, which the TSL baseline and the benchmarks use);
- the vector envs' default ``alpha`` is 0 (no observation noise); the script, the TSL baseline on Digit and the
  benchmarks use the paper's 0.1 (compared below);
- ``benchmarks/digit_terrain_cost.py`` times each terrain type on its own column (``terrain_col``), standing without
  randomisation (``randomize=False``), walking at full strength: only its grid is the default task's, and it
  passes no other task setting, so it is not built here;
- ``benchmarks/digit_eval.py`` evaluates a checkpoint on that run's task: from a default run, the default task.

The Warp vector env is built on a stand-in for ``WarpDigitSim`` (the grid and the model index exactly as the
simulator makes them, no upload to Warp: a first real one took 20-40 s to build on this 2-core machine, and
``tests/test_digit_warp.py`` builds real ones); what the Warp env passes to the simulator is bound to
``WarpDigitSim``'s own signature, and the grid it gets is compared.
"""

import ast
import importlib.util
import inspect
import os
import re

import gymnasium as gym
import pytest
import torch

from envs.digit import env as env_mod  # (importing envs registers l2t/Digit-v3)
from envs.digit.env import DigitEnv, task_defaults
from envs.digit.rewards import REWARD_WEIGHT_SETS, REWARD_WEIGHTS
from envs.digit.task import ModelIndex
from envs.digit.vector import DigitVectorEnv
from envs.digit.warp_vector import DigitWarpVectorEnv
from envs.noise import NoisyObservation

from conftest import ROOT, load_script

NUM_ENVS = 4  # enough for the column rule (fixed: columns 0, 5, 10, 15 of 20) and cheap on the rough grid
TASK_FLAGS = ("terrain", "reward_weights", "gravity_axes", "curriculum", "terrain_preset")
TASK_FLAGS += ("max_episode_steps",)  # l2t_ppo_digit.py's Args flags that are DigitEnv kwargs of the same name


def default_of(fn, name):
    return inspect.signature(fn).parameters[name].default


COLUMNS = default_of(DigitVectorEnv, "terrain_columns")  # the vector envs' column rule


# ----------------------------------------------------------------------------- what an env object has


def grid_settings(terrain):
    """The grid an env plays on: the key under which ``compiled_model`` holds it (flat: the floor, no grid)."""
    if terrain is None:
        return {"terrain": "flat"}
    (key,) = [k for k, v in env_mod._COMPILED.items() if v[0] is terrain]
    kind, rows, cols, seed, preset = key
    assert (terrain.num_rows, terrain.num_cols, terrain.seed) == (rows, cols, seed)
    return {"terrain": kind, "terrain_rows": rows, "terrain_cols": cols, "terrain_seed": seed, "terrain_preset": preset}


def env_settings(env):
    """The task settings of a ``DigitEnv`` (or of a wrapper of one), read from the object."""
    e = env.unwrapped
    return {
        **grid_settings(e.terrain),
        "terrain_col": e.terrain_col,
        "randomize": e.randomize,
        "randomization_scale": e.randomization_scale,
        "max_episode_steps": e.max_episode_steps,
        "source_physics": e.source_physics,
        "action_scale": e.action_scale,
        "reward_weights": e.reward_weights,
        "gravity_axes": e.gravity_axes,
        "curriculum": e.curriculum,
        "max_init_level": e.max_init_level,
    }


def column_rule(columns, num_cols):
    """The rule per-env fixed columns follow (None: drawn at each reset): "random", "fixed" or the list itself."""
    n = len(columns)
    if all(c is None for c in columns):
        return "random"
    if num_cols is not None and list(columns) == [i * num_cols // n for i in range(n)]:
        return "fixed"
    return tuple(columns)


def vector_settings(venv):
    """The task settings of a ``DigitVectorEnv`` built with ``num_workers=0`` (its sub-envs live in this process):
    its sub-envs' (all alike), their column rule and their observation noise."""
    assert venv.num_workers == 0
    subs = venv._block.envs
    each = [env_settings(e) for e in subs]
    columns = [s.pop("terrain_col") for s in each]
    assert all(s == each[0] for s in each[1:])
    noise = {(e.noise, e.noise_alpha) for e in subs}
    assert len(noise) == 1
    ((kind, alpha),) = noise
    return {
        **each[0],
        "terrain_columns": column_rule(columns, each[0].get("terrain_cols")),
        "noise": kind,
        "alpha": alpha,
    }


def warp_settings(wenv):
    """The task settings of a ``DigitWarpVectorEnv``, read from its attributes."""
    grid = grid_settings(wenv.terrain)
    fixed = wenv._fixed_col if wenv.terrain is not None else None
    columns = [None] * wenv.num_envs if fixed is None else fixed.tolist()
    return {
        **grid,
        "randomize": wenv.randomize,
        "randomization_scale": wenv.randomization_scale,
        "max_episode_steps": wenv.max_episode_steps,
        "source_physics": False,  # not supported by the Warp backend
        "action_scale": wenv.action_scale,
        "reward_weights": wenv.reward_weights,
        "gravity_axes": wenv.gravity_axes,
        "curriculum": wenv.curriculum,
        "max_init_level": wenv.max_init_level,
        "terrain_columns": column_rule(columns, grid.get("terrain_cols")),
        "noise": wenv.noise,
        "alpha": wenv.noise_alpha,
    }


# ----------------------------------------------------------------------------- what the defaults define


def task_settings(**changes):
    """The settings ``DigitEnv``'s defaults define (with ``changes``), in ``env_settings``' terms."""
    d = {**task_defaults(), **changes}
    grid = {"terrain": "flat"}
    if d["terrain"] == "rough":
        grid = {k: d[k] for k in ("terrain", "terrain_rows", "terrain_cols", "terrain_seed", "terrain_preset")}
    w = d["reward_weights"]
    weights = dict(REWARD_WEIGHT_SETS[w]) if isinstance(w, str) else {**REWARD_WEIGHTS, **w}
    keep = ("terrain_col", "randomize", "randomization_scale", "max_episode_steps", "source_physics", "action_scale")
    keep += ("gravity_axes", "curriculum", "max_init_level")
    return {**grid, **{k: d[k] for k in keep}, "reward_weights": weights}


def vector_task(alpha, noise="uniform", **changes):
    """``task_settings`` of a vector env: the column rule instead of one column, and the observation noise."""
    out = task_settings(**changes)
    del out["terrain_col"]
    return {**out, "terrain_columns": COLUMNS, "noise": noise, "alpha": alpha}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ppo():
    return load_script("l2t_ppo_digit")


@pytest.fixture(scope="module")
def tsl():
    return load_script("tsl_dagger_baseline")


def load_benchmark(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def host_sim(monkeypatch):
    """``WarpDigitSim`` up to its uploads to Warp: the grid (``compiled_model``, as the simulator builds it) and the
    model index, on the CPU. Each call is bound to the real ``WarpDigitSim``'s signature first."""
    from envs.digit import warp_backend

    real = warp_backend.WarpDigitSim

    class HostSim:
        def __init__(self, *args, **kwargs):
            call = inspect.signature(real).bind(*args, **kwargs)  # raises if the Warp env passes what it lacks
            call.apply_defaults()
            a, d = call.arguments, task_defaults()
            grid = [d[k] if a[k] is None else a[k] for k in ("terrain_rows", "terrain_cols", "terrain_seed")]
            preset = d["terrain_preset"] if a["terrain_preset"] is None else a["terrain_preset"]
            self.terrain, model, _ = env_mod.compiled_model(a["terrain"], *grid, preset)
            self.device = torch.device("cpu")
            self.idx = ModelIndex(model).as_torch(self.device, torch.float32)

    monkeypatch.setattr(warp_backend, "WarpDigitSim", HostSim)


class Built(BaseException):
    """Raised by a spy with the env a caller just built, to stop the caller there (train() and the benchmarks catch
    Exception, not this)."""

    def __init__(self, envs):
        super().__init__("built")
        self.envs = envs


def script_envs(ppo, monkeypatch, tmp_path, **flags):
    """The training envs ``l2t_ppo_digit.py``'s train() builds from ``Args(**flags)`` through its own make_envs."""
    real = ppo.make_envs

    def spy(*args, **kwargs):
        raise Built(real(*args, **kwargs))

    monkeypatch.setattr(ppo, "make_envs", spy)
    with pytest.raises(Built) as caught:
        ppo.main(ppo.Args(runs_dir=str(tmp_path), num_envs=NUM_ENVS, num_workers=0, **flags))
    return caught.value.envs


# ----------------------------------------------------------------------------- the defaults themselves


def test_the_script_flags_and_every_builder_default_are_the_env_defaults(ppo, tsl):
    args, d = ppo.Args(), task_defaults()
    assert {k: getattr(args, k) for k in TASK_FLAGS} == {k: d[k] for k in TASK_FLAGS}
    assert gym.spec("l2t/Digit-v3").kwargs == {}  # v3 is DigitEnv's defaults; v2 and v1 pass their own
    assert gym.spec("l2t/Digit-v2").kwargs == {"terrain_preset": "gentle_v2"}
    assert gym.spec("l2t/Digit-v3").max_episode_steps == d["max_episode_steps"]
    # the compiled model's own terrain defaults (every backend builds its worlds from it) are the env's
    compiled = {k: default_of(env_mod.compiled_model, k) for k in inspect.signature(env_mod.compiled_model).parameters}
    assert compiled == {k: d[k] for k in compiled}
    # the column rule and the noise model: one default for both vector envs, make_envs and the script's curriculum
    assert COLUMNS == default_of(DigitWarpVectorEnv, "terrain_columns") == default_of(ppo.make_envs, "terrain_columns")
    assert ppo.CURRICULUM_START == {"max_init_level": d["max_init_level"], "terrain_columns": COLUMNS}
    noise = default_of(NoisyObservation, "noise")
    assert args.noise == default_of(DigitVectorEnv, "noise") == default_of(DigitWarpVectorEnv, "noise") == noise
    # the TSL baseline on Digit: the script's env, episode length and student noise
    t = tsl.resolve_defaults(tsl.Args(env_id=tsl.DIGIT_ENV_ID))
    assert tsl.DIGIT_ENV_ID == "l2t/Digit-v3"
    assert (t.terrain, t.max_episode_steps, t.alpha, t.noise) == (
        args.terrain,
        args.max_episode_steps,
        args.alpha,
        args.noise,
    )


def test_the_env_docstring_table_gives_the_signature_defaults():
    """``DigitEnv``'s "Arguments" table (the documentation of the defaults) against its signature."""
    table = {}
    for names, default in re.findall(r"^\s*\| (`[^|]*`)\s*\|[^|]*\|\s*([^|]*?)\s*\|", DigitEnv.__doc__, re.M):
        names = re.findall(r"`(\w+)`", names)
        values = [v.strip() for v in default.split(",")] if len(names) > 1 else [default]
        table.update({n: ast.literal_eval(v) for n, v in zip(names, values, strict=True)})
    assert table == task_defaults()


# ----------------------------------------------------------------------------- every way of building the task


def test_gym_make_and_digit_env_build_the_default_task():
    made = gym.make("l2t/Digit-v3")
    assert env_settings(made) == task_settings()
    assert made.spec.max_episode_steps == task_defaults()["max_episode_steps"]  # gymnasium's TimeLimit
    assert env_settings(DigitEnv()) == task_settings()


@pytest.mark.parametrize("how", ["DigitVectorEnv", "gym.make_vec"])
def test_the_vector_env_builds_the_default_task(how):
    if how == "DigitVectorEnv":
        venv = DigitVectorEnv(num_envs=NUM_ENVS, num_workers=0)
    else:
        venv = gym.make_vec("l2t/Digit-v3", NUM_ENVS, vectorization_mode="vector_entry_point", num_workers=0)
    try:
        assert vector_settings(venv) == vector_task(alpha=0.0)  # its default: no observation noise
    finally:
        venv.close()


def test_the_warp_vector_env_builds_the_default_task(host_sim):
    wenv = DigitWarpVectorEnv(num_envs=NUM_ENVS)
    assert warp_settings(wenv) == vector_task(alpha=0.0)


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_the_script_trains_on_the_default_task(ppo, monkeypatch, tmp_path, host_sim, backend):
    """train() from a default Args(): the default task, at the ramp's strength, with the paper's student noise."""
    args = ppo.Args()
    ramp = ppo.randomization_scale(0, args.randomization_ramp_steps)  # the deliberate difference: the ramp's start
    expected = vector_task(args.alpha, args.noise, randomization_scale=ramp)
    envs = script_envs(ppo, monkeypatch, tmp_path, backend=backend, device="cpu")
    try:
        assert (vector_settings if backend == "mujoco" else warp_settings)(envs) == expected
    finally:
        envs.close()


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_the_tsl_baseline_builds_its_teachers_task(ppo, tsl, host_sim, backend):
    """The TSL baseline on a teacher saved by a default l2t_ppo_digit.py run (its "args": saved_args(Args())), with the
    baseline's own default flags: the default task at full randomisation strength."""
    args = tsl.resolve_defaults(tsl.Args(env_id=tsl.DIGIT_ENV_ID, num_workers=0, backend=backend, device="cpu"))
    task = tsl.digit_task(args, {"args": ppo.saved_args(ppo.Args())})
    envs = tsl.make_digit_envs(NUM_ENVS, 0, 1, args.alpha, args.noise, task, args.backend, "cpu")
    try:
        settings = vector_settings(envs) if backend == "mujoco" else warp_settings(envs.envs)
        assert settings == vector_task(args.alpha, args.noise)
    finally:
        (envs if backend == "mujoco" else envs.envs).close()


def test_digit_throughput_measures_the_default_task(ppo, monkeypatch, host_sim):
    """benchmarks/digit_throughput.py: the single env, the vector env (at the script's alpha) and the Warp env of
    --backend warp (its timing and its --check) are the default task."""
    bench = load_benchmark("digit_throughput")
    built = []

    def read_when_built(cls, read):  # read as built (the benchmark closes it)
        def make(*args, **kwargs):
            obj = cls(*args, **kwargs)
            built.append(read(obj))
            return obj

        return make

    monkeypatch.setattr(bench, "DigitEnv", read_when_built(DigitEnv, env_settings))
    monkeypatch.setattr(bench, "DigitVectorEnv", read_when_built(DigitVectorEnv, vector_settings))
    bench.step_vs_physics(1)
    bench.vector_throughput(NUM_ENVS, 0, 1, warmup=0)
    assert built == [task_settings(), vector_task(alpha=ppo.Args().alpha)]

    from envs.digit import warp_vector

    def stop(*a, **k):
        raise Built(DigitWarpVectorEnv(*a, **k))

    monkeypatch.setattr(warp_vector, "DigitWarpVectorEnv", stop)
    for measure in (lambda: bench.warp_throughput(NUM_ENVS, 1, "cpu"), lambda: bench.check(NUM_ENVS, "cpu")):
        with pytest.raises(Built) as caught:
            measure()
        assert warp_settings(caught.value.envs) == vector_task(alpha=ppo.Args().alpha)


RUN_FLAGS = {  # a run on another task: every task flag changed
    "reward_weights": "v1",
    "gravity_axes": "xyz",
    "curriculum": "isaac",
    "terrain_preset": "isaac",
    "max_episode_steps": 500,
}


@pytest.mark.parametrize("flags", [{}, RUN_FLAGS], ids=["default run", "other run"])
def test_digit_eval_evaluates_a_run_on_its_task(ppo, flags):
    """benchmarks/digit_eval.py on a run's checkpoint (its "args"), at its default --alpha and --randomization-scale:
    that run's task (a default run: the default task; the other, saved by an older version of the script, also
    with other initial levels)."""
    bench = load_benchmark("digit_eval")
    args = ppo.Args(**flags, noise="gaussian" if flags else "uniform")
    older = {"max_init_level": 5} if flags else {}
    env = bench.make_env({**ppo.saved_args(args), **older}, args.alpha)
    assert env_settings(env) == task_settings(**flags, **older)
    assert (env.noise, env.noise_alpha) == (args.noise, args.alpha)


def test_a_run_saved_before_v3_is_read_on_v2s_grid(ppo):
    """A run saved before l2t/Digit-v3 (its args have no env_id) played "gentle" as v2 had it: the TSL baseline and
    benchmarks/digit_eval.py build v2's grid for it (preset "gentle_v2"), a v3 run's "gentle" stays v3's."""
    saved = ppo.saved_args(ppo.Args())
    assert saved["env_id"] == "l2t/Digit-v3" == env_mod.ENV_ID
    assert env_mod.task_from_run_args(saved)[0]["terrain_preset"] == "gentle"
    del saved["env_id"]
    assert env_mod.task_from_run_args(saved)[0]["terrain_preset"] == "gentle_v2"
    assert env_mod.task_from_run_args({**saved, "terrain_preset": "isaac"})[0]["terrain_preset"] == "isaac"
