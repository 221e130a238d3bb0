"""Expert-demonstration files: one ``.npz`` per data set, any env with 1-D Box states and actions.

Layout version 1 (``LAYOUT_VERSION``). ``E`` episodes, episode ``i`` has ``T_i >= 1`` transitions,
``N = sum T_i``:

| key | shape, dtype | meaning |
|---|---|---|
| ``layout_version`` | (), int64 | 1 |
| ``env_id`` | (), str | the gymnasium id the demos were collected on, e.g. ``l2t/Cassie-v0`` |
| ``episode_lengths`` | (E,), int64 | ``T_i``; episode ``i`` is rows ``sum(T_<i)`` .. of the transition arrays |
| ``terminated`` | (E,), bool | True if episode ``i`` ended by termination (no bootstrap from its last state), False if truncated |
| ``states`` | (N + E, state_dim), float | ``T_i + 1`` states per episode, the last one is the state after the final action |
| ``actions`` | (N, action_dim), float | action taken in state ``t`` |
| ``rewards`` | (N,), float | reward of transition ``t`` (the env's reward; an IRL method may ignore it) |

States are the env's clean (teacher) state, not noisy observations. Every float must be finite.

`save_demos(path, env_id, episodes)` writes (atomically) from a list of `Episode`; `load_demos(path, env_id=None,
state_dim=None, action_dim=None)` reads and validates and returns `Demos`; anything wrong (missing or
unreadable file, missing or unexpected keys, wrong layout version, shapes that do not add up, dimensions or env
id other than expected, non-finite values) raises `DemoFormatError` (a ValueError) whose message is one line
naming the file and the problem.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from envs.checkpoint import atomic_write

LAYOUT_VERSION = 1
KEYS = ("layout_version", "env_id", "episode_lengths", "terminated", "states", "actions", "rewards")


class DemoFormatError(ValueError):
    """A demonstration file that is missing or does not follow the layout (one-line message)."""


@dataclass(frozen=True)
class Episode:
    states: np.ndarray  # (T + 1, state_dim)
    actions: np.ndarray  # (T, action_dim)
    rewards: np.ndarray  # (T,)
    terminated: bool  # ended by termination (True) or truncation (False)

    def __len__(self):
        return len(self.actions)


@dataclass(frozen=True)
class Demos:
    env_id: str
    episodes: list[Episode]

    @property
    def state_dim(self) -> int:
        return self.episodes[0].states.shape[1]

    @property
    def action_dim(self) -> int:
        return self.episodes[0].actions.shape[1]

    def transitions(self):
        """Flat arrays over all episodes: (states, actions, rewards, next_states, terminals), where
        ``terminals`` is True only for the last transition of a terminated episode."""
        s = np.concatenate([e.states[:-1] for e in self.episodes])
        s2 = np.concatenate([e.states[1:] for e in self.episodes])
        a = np.concatenate([e.actions for e in self.episodes])
        r = np.concatenate([e.rewards for e in self.episodes])
        term = np.concatenate(
            [np.arange(len(e)) == len(e) - 1 if e.terminated else np.zeros(len(e), bool) for e in self.episodes]
        )
        return s, a, r, s2, term


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(path, problem: str):
    raise DemoFormatError(_one_line(f"demo file {os.fspath(path)!r}: {problem}"))


def _check_episode(path, i: int, ep: Episode):
    states, actions, rewards = (np.asarray(x) for x in (ep.states, ep.actions, ep.rewards))
    if actions.ndim != 2 or len(actions) < 1:
        _fail(path, f"episode {i}: actions must have shape (T >= 1, action_dim), got {actions.shape}")
    if states.ndim != 2 or len(states) != len(actions) + 1:
        _fail(
            path,
            f"episode {i}: states must have shape (T + 1, state_dim) = ({len(actions) + 1}, d), got {states.shape}",
        )
    if rewards.shape != (len(actions),):
        _fail(path, f"episode {i}: rewards must have shape ({len(actions)},), got {rewards.shape}")


def save_demos(path, env_id: str, episodes) -> None:
    """Write `episodes` (a non-empty sequence of `Episode`) collected on `env_id` to `path` (.npz)."""
    episodes = list(episodes)
    if not episodes:
        _fail(path, "no episodes to save")
    for i, ep in enumerate(episodes):
        _check_episode(path, i, ep)
    dims = {(np.shape(ep.states)[1], np.shape(ep.actions)[1]) for ep in episodes}
    if len(dims) != 1:
        _fail(path, f"episodes have different (state_dim, action_dim): {sorted(dims)}")
    arrays = {
        "layout_version": np.array(LAYOUT_VERSION, dtype=np.int64),
        "env_id": np.array(str(env_id)),
        "episode_lengths": np.array([len(ep.actions) for ep in episodes], dtype=np.int64),
        "terminated": np.array([bool(ep.terminated) for ep in episodes]),
        "states": np.concatenate([np.asarray(ep.states) for ep in episodes]),
        "actions": np.concatenate([np.asarray(ep.actions) for ep in episodes]),
        "rewards": np.concatenate([np.asarray(ep.rewards) for ep in episodes]),
    }
    atomic_write(os.fspath(path), lambda f: np.savez(f, **arrays))  # a crash leaves any previous file whole


def load_demos(path, env_id: str | None = None, state_dim: int | None = None, action_dim: int | None = None) -> Demos:
    """Read and validate a demo file; the optional arguments are what the caller expects (checked if given)."""
    if not os.path.isfile(path):
        _fail(path, "no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            found = set(f.files)
            missing = [k for k in KEYS if k not in found]
            if missing:
                _fail(path, f"missing keys {missing} (layout {LAYOUT_VERSION} has {list(KEYS)})")
            extra = sorted(found - set(KEYS))
            if extra:
                _fail(path, f"unexpected keys {extra} (layout {LAYOUT_VERSION} has {list(KEYS)})")
            data = {k: f[k] for k in KEYS}
    except DemoFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        _fail(path, f"not a readable .npz file ({type(e).__name__}: {e})")

    version = data["layout_version"]
    if version.shape != () or not np.issubdtype(version.dtype, np.integer) or int(version) != LAYOUT_VERSION:
        _fail(path, f"layout_version is {version.tolist()!r}, this code reads version {LAYOUT_VERSION}")
    file_env = data["env_id"]
    if file_env.shape != () or file_env.dtype.kind != "U":
        _fail(path, f"env_id must be a string, got dtype {file_env.dtype} shape {file_env.shape}")
    file_env = str(file_env)
    if env_id is not None and file_env != env_id:
        _fail(path, f"collected on env {file_env!r}, expected {env_id!r}")

    lengths, terminated = data["episode_lengths"], data["terminated"]
    states, actions, rewards = data["states"], data["actions"], data["rewards"]
    if lengths.ndim != 1 or len(lengths) < 1 or not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 1:
        _fail(
            path,
            f"episode_lengths must be a non-empty 1-D integer array of values >= 1, got {lengths.tolist()}"
            if lengths.size <= 10
            else "episode_lengths must be a non-empty 1-D integer array of values >= 1",
        )
    if terminated.shape != lengths.shape or terminated.dtype != np.bool_:
        _fail(path, f"terminated must be bool of shape {lengths.shape}, got {terminated.dtype} {terminated.shape}")
    for name, arr in (("states", states), ("actions", actions), ("rewards", rewards)):
        if not np.issubdtype(arr.dtype, np.floating):
            _fail(path, f"{name} must be floating point, got {arr.dtype}")
        if not np.isfinite(arr).all():
            _fail(path, f"{name} holds non-finite values")
    n, e = int(lengths.sum()), len(lengths)
    if states.ndim != 2 or len(states) != n + e:
        _fail(
            path,
            f"states must have shape (sum(episode_lengths) + episodes, state_dim) = ({n + e}, d), got {states.shape}",
        )
    if actions.ndim != 2 or len(actions) != n:
        _fail(path, f"actions must have shape (sum(episode_lengths), action_dim) = ({n}, d), got {actions.shape}")
    if rewards.shape != (n,):
        _fail(path, f"rewards must have shape ({n},), got {rewards.shape}")
    if state_dim is not None and states.shape[1] != state_dim:
        _fail(path, f"state_dim is {states.shape[1]}, expected {state_dim}")
    if action_dim is not None and actions.shape[1] != action_dim:
        _fail(path, f"action_dim is {actions.shape[1]}, expected {action_dim}")

    episodes = []
    t0 = 0
    for i, (T, term) in enumerate(zip(lengths.tolist(), terminated.tolist())):
        episodes.append(
            Episode(
                states=states[t0 + i : t0 + i + T + 1],
                actions=actions[t0 : t0 + T],
                rewards=rewards[t0 : t0 + T],
                terminated=bool(term),
            )
        )
        t0 += T
    return Demos(env_id=file_env, episodes=episodes)


__all__ = ["LAYOUT_VERSION", "KEYS", "DemoFormatError", "Episode", "Demos", "save_demos", "load_demos"]
