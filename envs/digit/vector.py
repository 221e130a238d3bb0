"""``DigitVectorEnv``: many ``l2t/Digit-v3`` envs stepped in a few worker processes, data in shared memory.

    from envs.digit.vector import DigitVectorEnv
    envs = DigitVectorEnv(num_envs=8, num_workers=2, seed=1, alpha=0.1, noise="uniform", env_kwargs=None)
    obs, infos = envs.reset()                      # obs = {"state": (8, 307) float32, "observation": (8, 307) float32}
    obs, rewards, terminations, truncations, infos = envs.step(actions)   # actions (8, 20) in [-1, 1]

Sub-env ``i`` is ``NoisyObservation(DigitEnv(**env_kwargs), alpha, noise, noisy_mask=DIGIT_NOISY_MASK)``
(``env_kwargs`` default ``{}``: ``DigitEnv``'s defaults, the ``l2t/Digit-v3`` task of ``l2t_ppo_digit.py``). The
student reads ``obs["observation"][:, :STUDENT_DIM]`` (94), the teacher ``obs["state"]`` (``OBS_DIM`` = 307).

Workers. ``num_workers=0`` steps every env in the calling process. ``num_workers=k >= 1`` starts ``k`` processes;
worker ``j`` owns the contiguous block of ``num_envs / k`` envs ``[j * num_envs / k, (j + 1) * num_envs / k)``
(``num_envs`` must be a multiple of ``k``). Actions, observations, rewards, flags, final observations and episode
statistics live in ONE shared-memory buffer (``multiprocessing.RawArray``, numpy views on both sides); per step
the parent writes the actions, sends a one-word "step" message down each worker's pipe and waits for a one-word
reply, so the per-step IPC is two tiny pickles per worker whatever the number of envs. Start method: ``"fork"``
by default (each worker builds its own envs after the fork, copying a compiled model the parent may already hold;
works for scripts without a ``__main__`` guard); ``context="forkserver"`` also works. Workers are daemonic, each
closes the parent's ends of all pipes it inherited, asks the kernel for SIGTERM when the parent dies
(``PR_SET_PDEATHSIG``; with "fork" this fires when the creating THREAD ends, so build the vector env in a thread
that outlives it, e.g. the main thread) and, as a fallback, exits when its pipe reaches EOF or its parent process
is gone.
``close()`` is idempotent and is also called at garbage collection. ``worker_busy_seconds`` (one float per worker)
is the time each worker has spent stepping its envs, to compare with wall time when checking the load balance.

Extra keyword arguments: ``context`` (``"fork"`` or ``"forkserver"``) and ``max_episode_steps`` (put into
``env_kwargs`` unless that has it; ``gym.make_vec("l2t/Digit-v3", num_envs=8, num_workers=2, ...)`` passes the
registration's 1000, which is also the env's default).

Seeding. Sub-env ``i`` is reset with seed ``seed + i`` at the first ``reset()`` (``seed`` of the constructor, or of
``reset(seed=...)`` if given there; a list gives one seed per env). Later ``reset(seed=None)`` and the autoresets
keep each env's random streams. Same seed and actions give the same outputs for any ``num_workers``.

Autoreset: gymnasium 1.x ``AutoresetMode.SAME_STEP``. The step that ends an episode (terminated or truncated) of
env ``i`` resets it at once and returns the NEW episode's first observation in row ``i``; the last observation of
the ended episode is in ``infos["final_obs"]``, which is a dict of arrays ``{"state": (N, 307) float32,
"observation": (N, 307) float32}`` (NOT gymnasium's object array of per-env dicts), valid in the rows where
``infos["_final_obs"]`` (bool (N,)) is True. Rewards, terminations and truncations of that step belong to the ended
episode. The keys are present only on steps where some episode ended.

Episode statistics, on steps where some episode ended: ``infos["episode"]`` = dict of (N,) arrays, valid where
``infos["_episode"]`` (bool (N,)) is True: ``"r"`` return (float64, the sum of the float64 step rewards), ``"l"``
length (int64), ``"terrain_level"``, ``"distance_walked"`` (m from the spawn origin), ``"success"`` (1.0 if it
survived to the time-out, else 0.0), ``"terrain_col"`` (the tile's column), and ``"reward/<term>"`` for every
Table II term (``REWARD_WEIGHTS`` keys, episode sums of ``info["reward_terms"]``, so they sum to ``"r"``), all
float64. Per-step infos of the single env
(``reward_terms``, ``command``, ``foot_contact``) are not passed on (the command is in the observation).

``call(name, *args, **kwargs)``, ``get_attr(name)`` and ``set_attr(name, values)`` reach every sub-env (through
the workers) like gymnasium's vector envs (``get_wrapper_attr``), results in env order, so
``envs.noise.set_noise_alpha(envs, a)`` and ``get_noise_alpha(envs)`` work unchanged, and
``envs.call("set_randomization_scale", s)`` sets the randomisation strength of every sub-env (from its next reset).
Their arguments and results are pickled, so they are for occasional use, not per step.

Terrain columns (rough ground): ``terrain_columns="fixed"`` (default, as ``DigitWarpVectorEnv`` and
``l2t_ppo_digit.py``): sub-env ``i`` always plays column ``floor(i * terrain_cols / num_envs)`` (Isaac Lab's
``TerrainImporter``: envs spread evenly over the columns, each keeping its type), so each env's curriculum level
measures one terrain type: with random columns an env promoted on flat tiles is next dropped on stairs at that
level, and the types that fail pull every env's level down. ``"random"``: every sub-env draws its column, i.e. its
terrain type, at each reset (a single ``DigitEnv``'s rule).

``reset(options=...)`` passes the same options to every sub-env, except ``{"terrain_level": levels}`` with one
level per env, which starts env i's episode on ``levels[i]`` (a resumed run continues its terrain curriculum:
``envs.get_attr("terrain_level")`` at the checkpoint, these options at the resume).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import time
import traceback
import weakref

import gymnasium as gym
import numpy as np

from envs.digit import ACTION_DIM
from envs.digit.env import DIGIT_NOISY_MASK, OBS_DIM, REWARD_WEIGHTS, DigitEnv, step_task
from envs.noise import NoisyObservation
from envs.terrain import NUM_COLS

EPISODE_KEYS = ("r", "l", "terrain_level", "distance_walked", "success", "terrain_col") + tuple(
    f"reward/{k}" for k in REWARD_WEIGHTS
)
_TERM_COL = 6  # first reward/<term> column of the episode table
_POLL_S = 1.0  # idle workers check that their parent is alive this often


def _layout(n):
    """Name -> (shape, dtype) of every shared array for n envs (row i belongs to env i)."""
    return {
        "actions": ((n, ACTION_DIM), np.float64),
        "state": ((n, OBS_DIM), np.float32),
        "observation": ((n, OBS_DIM), np.float32),
        "final_state": ((n, OBS_DIM), np.float32),
        "final_observation": ((n, OBS_DIM), np.float32),
        "episode": ((n, len(EPISODE_KEYS)), np.float64),
        "rewards": ((n,), np.float32),
        "terminated": ((n,), np.bool_),
        "truncated": ((n,), np.bool_),
        "done": ((n,), np.bool_),
    }


def _nbytes(n):
    return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize + 8 for shape, dtype in _layout(n).values())


def _views(buffer, n, lo=0, hi=None):
    """Numpy views of every shared array on `buffer`, rows lo:hi."""
    hi = n if hi is None else hi
    out, offset = {}, 0
    for name, (shape, dtype) in _layout(n).items():
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        array = np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
        out[name] = array[lo:hi]
        offset += size + (-size % 8)
    return out


def make_env(alpha=0.0, noise="uniform", env_kwargs=None):
    """One sub-env: ``NoisyObservation(DigitEnv(**env_kwargs), alpha, noise, noisy_mask=DIGIT_NOISY_MASK)``."""
    return NoisyObservation(DigitEnv(**(env_kwargs or {})), alpha, noise, noisy_mask=DIGIT_NOISY_MASK)


def column_assignment(num_envs, terrain_columns, env_kwargs):
    """Per sub-env extra kwargs: ``{"terrain_col": floor(i * cols / num_envs)}`` under ``"fixed"`` on rough ground
    (Isaac Lab's rule), else nothing (each env draws its column at each reset)."""
    if terrain_columns not in ("random", "fixed"):
        raise ValueError(f"terrain_columns must be 'random' or 'fixed', got {terrain_columns!r}")
    if terrain_columns == "random" or env_kwargs.get("terrain", "rough") != "rough" or "terrain_col" in env_kwargs:
        return [{} for _ in range(num_envs)]
    cols = int(env_kwargs.get("terrain_cols", NUM_COLS))
    return [{"terrain_col": i * cols // num_envs} for i in range(num_envs)]


class _Block:
    """A contiguous block of sub-envs and their rows of the shared arrays; runs in a worker or in the parent.
    ``per_env``: one dict of extra env kwargs per sub-env of the block (``terrain_columns="fixed"``)."""

    def __init__(self, views, alpha, noise, env_kwargs, per_env):
        self.v = views
        self.envs = [make_env(alpha, noise, {**env_kwargs, **extra}) for extra in per_env]
        n = len(self.envs)
        self._ret = np.zeros(n)
        self._len = np.zeros(n, dtype=np.int64)
        self._terms = np.zeros((n, len(REWARD_WEIGHTS)))

    def _write_obs(self, i, obs, prefix=""):
        self.v[prefix + "state"][i] = obs["state"]
        self.v[prefix + "observation"][i] = obs["observation"]

    def reset(self, seeds, options):
        self.v["done"][:] = False
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=seeds[i], options=options[i])
            self._write_obs(i, obs)
        self._ret[:] = 0.0
        self._len[:] = 0
        self._terms[:] = 0.0

    def step(self):
        v = self.v
        actions = v["actions"]
        for i, env in enumerate(self.envs):  # the physics, env by env
            env.unwrapped._physics_step(actions[i])
        results = step_task([env.unwrapped for env in self.envs])  # the task, batched over the block
        for i, env in enumerate(self.envs):
            state, reward, terminated, truncated, info = results[i]
            obs = env._observe(state)  # NoisyObservation: the student's noisy copy
            self._ret[i] += reward
            self._len[i] += 1
            self._terms[i] += np.fromiter(info["reward_terms"].values(), np.float64, len(REWARD_WEIGHTS))
            v["rewards"][i] = reward
            v["terminated"][i] = terminated
            v["truncated"][i] = truncated
            done = terminated or truncated
            v["done"][i] = done
            if done:
                self._write_obs(i, obs, "final_")
                row = v["episode"][i]
                row[:_TERM_COL] = (
                    self._ret[i],
                    self._len[i],
                    info["terrain_level"],
                    info["distance_walked"],
                    float(info["success"]),
                    info["terrain_col"],
                )
                row[_TERM_COL:] = self._terms[i]
                self._ret[i], self._len[i], self._terms[i] = 0.0, 0, 0.0
                obs, _ = env.reset()
            self._write_obs(i, obs)

    def call(self, name, args, kwargs):
        results = []
        for env in self.envs:
            attr = env.get_wrapper_attr(name)
            results.append(attr(*args, **kwargs) if callable(attr) else attr)
        return results

    def set_attr(self, name, values):
        for env, value in zip(self.envs, values):
            env.set_wrapper_attr(name, value)

    def close(self):
        for env in self.envs:
            env.close()


def _parent_alive(parent_pid):
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.getppid() != 1 or parent_pid == 1


def _worker(conn, inherited, buffer, busy, j, n, lo, hi, alpha, noise, env_kwargs, per_env, parent_pid):
    for c in inherited:  # the parent's pipe ends (fork copies them): close, so that EOF means the parent is gone
        try:
            c.close()
        except OSError:
            pass
    try:  # Linux: SIGTERM when the parent dies
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which closes us
    block = None
    try:
        block = _Block(_views(buffer, n, lo, hi), alpha, noise, env_kwargs, per_env)
        conn.send(("ok", None))
        while True:
            while not conn.poll(_POLL_S):
                if not _parent_alive(parent_pid):
                    return
            command, payload = conn.recv()
            if command == "close":
                conn.send(("ok", None))
                return
            try:  # an error is reported to the parent (which raises it) and the worker keeps serving
                if command == "step":
                    t0 = time.perf_counter()
                    result = block.step()
                    busy[j] += time.perf_counter() - t0
                elif command == "reset":
                    result = block.reset(*payload)
                elif command == "call":
                    result = block.call(*payload)
                elif command == "set_attr":
                    result = block.set_attr(*payload)
                else:
                    raise RuntimeError(f"unknown command {command!r}")
            except Exception:
                conn.send(("error", f"DigitVectorEnv worker for envs {lo}..{hi - 1}:\n{traceback.format_exc()}"))
            else:
                conn.send(("ok", result))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
    except Exception:  # building the envs failed
        try:
            conn.send(("error", f"DigitVectorEnv worker for envs {lo}..{hi - 1}:\n{traceback.format_exc()}"))
        except Exception:
            pass
    finally:
        if block is not None:
            block.close()
        conn.close()


def _shutdown(conns, processes):
    """Stop the workers (used by close() and at garbage collection): ask, wait a little, then terminate."""
    for conn in conns:
        try:
            conn.send(("close", None))
        except Exception:
            pass
    for p in processes:
        p.join(timeout=2.0)
        if p.is_alive():
            p.terminate()
            p.join(timeout=1.0)
    for conn in conns:
        try:
            conn.close()
        except Exception:
            pass


class DigitVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` noisy Digit envs, stepped in ``num_workers`` processes (0: in this process). See the module
    docstring for the observation, autoreset (SAME_STEP, ``final_obs`` as a dict of arrays) and info keys."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 8,
        num_workers: int = 2,
        seed: int | None = None,
        alpha: float = 0.0,
        noise: str = "uniform",
        env_kwargs: dict | None = None,
        context: str = "fork",
        max_episode_steps: int | None = None,
        terrain_columns: str = "fixed",
    ):
        num_envs, num_workers = int(num_envs), int(num_workers)
        if num_envs < 1 or num_workers < 0 or (num_workers > 0 and num_envs % num_workers != 0):
            raise ValueError(
                f"num_envs={num_envs} must be >= 1 and a multiple of num_workers={num_workers} (num_workers >= 0)"
            )
        self.metadata = dict(type(self).metadata)
        self.metadata["autoreset_mode"] = gym.vector.AutoresetMode.SAME_STEP
        self.num_envs = num_envs
        self.num_workers = num_workers
        self.render_mode = None
        self._seed = seed
        self._seeded_once = False
        self.env_kwargs = dict(env_kwargs or {})
        if max_episode_steps is not None:  # gym.make_vec passes the registration's; env_kwargs wins
            self.env_kwargs.setdefault("max_episode_steps", int(max_episode_steps))
        per_env = column_assignment(num_envs, terrain_columns, self.env_kwargs)
        self.closed = False
        self._conns, self._processes = [], []
        self._finalizer = None

        box = gym.spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float32)
        self.single_observation_space = gym.spaces.Dict({"state": box, "observation": box})
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
        batch = gym.spaces.Box(-np.inf, np.inf, shape=(num_envs, OBS_DIM), dtype=np.float32)
        self.observation_space = gym.spaces.Dict({"state": batch, "observation": batch})
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(num_envs, ACTION_DIM), dtype=np.float32)

        if num_workers == 0:
            self._buffer = bytearray(_nbytes(num_envs))
            self._v = _views(self._buffer, num_envs)
            self._block = _Block(self._v, alpha, noise, self.env_kwargs, per_env)
        else:
            ctx = mp.get_context(context)
            self._buffer = ctx.RawArray(ctypes.c_char, _nbytes(num_envs))
            self._v = _views(self._buffer, num_envs)
            self._block = None
            self._busy = ctx.RawArray(ctypes.c_double, num_workers)  # seconds each worker spent stepping its envs
            per = num_envs // num_workers
            for j in range(num_workers):
                parent, child = ctx.Pipe()
                self._conns.append(parent)
                # a forked worker inherits the parent's ends of its own and the earlier pipes: it closes them
                inherited = list(self._conns) if context == "fork" else []
                p = ctx.Process(
                    target=_worker,
                    name=f"DigitVectorEnv-{j}",
                    daemon=True,
                    args=(
                        child,
                        inherited,
                        self._buffer,
                        self._busy,
                        j,
                        num_envs,
                        j * per,
                        (j + 1) * per,
                        alpha,
                        noise,
                        self.env_kwargs,
                        per_env[j * per : (j + 1) * per],
                        os.getpid(),
                    ),
                )
                p.start()
                child.close()  # so that the worker's death gives EOF here
                self._processes.append(p)
            self._finalizer = weakref.finalize(self, _shutdown, self._conns, self._processes)
            try:
                self._gather()
            except Exception:
                self.close()
                raise

    # ------------------------------------------------------------------ worker plumbing

    def _gather(self):
        """One reply per worker, in order; raise the first worker error."""
        results, error = [], None
        for conn in self._conns:
            try:
                status, payload = conn.recv()
            except (EOFError, OSError) as e:
                status, payload = "error", f"DigitVectorEnv worker died ({type(e).__name__})"
            if status == "error" and error is None:
                error = payload
            results.append(payload)
        if error is not None:
            raise RuntimeError(error)
        return results

    def _broadcast(self, command, payload_for):
        for j, conn in enumerate(self._conns):
            conn.send((command, payload_for(j)))
        return self._gather()

    @property
    def worker_busy_seconds(self) -> np.ndarray:
        """Seconds each worker has spent inside its envs' steps so far (a diagnostic for load balance: compare
        with the wall time of the same steps). Empty for ``num_workers=0``."""
        return np.array(self._busy[:]) if self.num_workers else np.zeros(0)

    def _check_open(self):
        if self.closed:
            raise RuntimeError("DigitVectorEnv is closed")

    # ------------------------------------------------------------------ gymnasium API

    def _obs(self):
        return {"state": self._v["state"].copy(), "observation": self._v["observation"].copy()}

    def reset(self, *, seed=None, options=None):
        self._check_open()
        if seed is None and not self._seeded_once:
            seed = self._seed
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != self.num_envs:
                raise ValueError(f"got {len(seed)} seeds for num_envs={self.num_envs}")
            seeds = [None if s is None else int(s) for s in seed]
        else:
            seeds = [int(seed) + i for i in range(self.num_envs)]
        if seed is not None:
            self._seeded_once = True
            super().reset(seed=seeds[0])
        per_env = [options] * self.num_envs  # the same options for every sub-env, except per-env terrain levels
        if options is not None and np.ndim(options.get("terrain_level")) == 1:
            levels = options["terrain_level"]
            if len(levels) != self.num_envs:
                raise ValueError(f"got {len(levels)} terrain levels for num_envs={self.num_envs}")
            per_env = [{**options, "terrain_level": level} for level in levels]
        if self._block is not None:
            self._block.reset(seeds, per_env)
        else:
            per = self.num_envs // self.num_workers
            self._broadcast("reset", lambda j: (seeds[j * per : (j + 1) * per], per_env[j * per : (j + 1) * per]))
        return self._obs(), {}

    def step(self, actions):
        self._check_open()
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, ACTION_DIM):
            raise ValueError(f"actions must have shape {(self.num_envs, ACTION_DIM)}, got {actions.shape}")
        v = self._v
        v["actions"][:] = actions
        if self._block is not None:
            self._block.step()
        else:
            for conn in self._conns:
                conn.send(("step", None))
            self._gather()
        infos = {}
        done = v["done"]
        if done.any():
            mask = done.copy()
            infos["final_obs"] = {"state": v["final_state"].copy(), "observation": v["final_observation"].copy()}
            infos["_final_obs"] = mask
            table = v["episode"]
            episode = {key: table[:, k].copy() for k, key in enumerate(EPISODE_KEYS)}
            episode["l"] = episode["l"].astype(np.int64)
            infos["episode"] = episode
            infos["_episode"] = mask.copy()
        return self._obs(), v["rewards"].copy(), v["terminated"].copy(), v["truncated"].copy(), infos

    def call(self, name: str, *args, **kwargs) -> tuple:
        self._check_open()
        if self._block is not None:
            return tuple(self._block.call(name, args, kwargs))
        return tuple(r for block in self._broadcast("call", lambda j: (name, args, kwargs)) for r in block)

    def get_attr(self, name: str) -> tuple:
        return self.call(name)

    def set_attr(self, name: str, values) -> None:
        self._check_open()
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"got {len(values)} values for num_envs={self.num_envs}")
        if self._block is not None:
            self._block.set_attr(name, values)
        else:
            per = self.num_envs // self.num_workers
            self._broadcast("set_attr", lambda j: (name, list(values[j * per : (j + 1) * per])))

    def close_extras(self, **kwargs):
        if self._block is not None:
            self._block.close()
            self._block = None
        if self._finalizer is not None:
            self._finalizer()  # runs _shutdown once
            self._finalizer = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


__all__ = ["DigitVectorEnv", "EPISODE_KEYS", "make_env"]
