"""Observation noise for teacher-student learning: every step returns the clean state AND the noisy observation.

L2T (paper 1, section 4.1.1) trains the teacher on the privileged, noise-free state ``s`` and the
student on a noisy observation ``o`` of the same step. `NoisyObservation` turns any Box-observation
env into one whose observation is the dict ``{"state": s, "observation": o}``, so that both reach the
training loop together, through `gymnasium.vector` too (a Dict space is batched key by key).

Noise models (``noise=``):

* ``"uniform"`` (the paper's, default): ``o = s + alpha * eps`` with ``eps_i ~ Unif[-|s_i|, |s_i|]``,
  drawn fresh for every element at every step. The perturbation is relative: ``|o_i - s_i| <= alpha*|s_i|``,
  and an element that is exactly 0 stays 0.
* ``"gaussian"``: ``o = s + alpha * N(0, 1)``, i.e. additive noise with standard deviation ``sigma = alpha``
  in the units of the state. We chose an absolute scale (not relative like ``uniform``) because that is
  how sensor noise is usually specified (a standard deviation per channel), and so that elements near 0
  are perturbed too, which the uniform scheme never does.

Reproducibility: the noise has its own random generator, seeded from the seed given to ``reset(seed=...)``
(``gymnasium.vector`` gives sub-env ``i`` the seed ``seed + i``), separate from the env's own generator so
that adding noise does not change the env's initial states. The unscaled draws do not depend on alpha,
so two runs with the same seed and different alphas see the same noise pattern, scaled.

Changing alpha while running (a curriculum): call `set_noise_alpha(env, alpha)`, which works on a
single env and on a `SyncVectorEnv` or `AsyncVectorEnv`: it calls the wrapper's method inside every
sub-environment (in the worker processes for the async case) and then reads the value back from each
of them, raising if any sub-environment did not take it. Setting a plain attribute from the main
process (``env.alpha = x``) would silently never reach async workers.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from envs.draws import NumpyDraws

NOISE_TYPES = ("uniform", "gaussian")

# A constant mixed into the reset seed, so that the noise stream differs from the env's own stream
# even though both are derived from the same user seed.
_NOISE_STREAM = 0x4C3254  # "L2T"


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return alpha as a float, or raise ValueError naming `name` if it is negative or not finite."""
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {alpha}")
    return alpha


def noisy_copy(state, alpha, noise, mask, draws):
    """``o = s + alpha * eps`` of states ``s`` (any shape; numpy, or torch with ``envs.draws.TorchDraws``):
    ``noise="uniform"``: eps_i = |s_i| u_i, u_i ~ U[-1, 1]; ``"gaussian"``: eps_i ~ N(0, 1); only where ``mask``
    (None: everywhere). ``NoisyObservation`` and the batched Digit envs on a device both draw through this."""
    if noise == "uniform":
        # eps_i ~ Unif[-|s_i|, |s_i|]  <=>  eps_i = |s_i| * u_i,  u_i ~ Unif[-1, 1]
        eps = abs(state) * draws.uniform(-1.0, 1.0, state.shape)
    else:
        eps = draws.normal(state.shape)
    if mask is not None:
        eps = eps * mask
    return state + alpha * eps


class NoisyObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observation ``{"state": s, "observation": o}`` with ``o`` a noisy copy of the clean state ``s``.

    Args:
        env: an env with a 1-D `Box` observation space.
        alpha: noise scale (see the module docstring), >= 0; changeable with `set_noise_alpha`.
        noise: one of `NOISE_TYPES`.
        noisy_mask: optional boolean array over the state's elements; only True elements get noise
            (e.g. a gait clock that the real robot knows exactly stays clean). Default: all elements.
    """

    def __init__(self, env: gym.Env, alpha: float, noise: str = "uniform", noisy_mask=None):
        # recorded so that gymnasium can rebuild the wrapper from the env's spec (and check_env accepts it)
        gym.utils.RecordConstructorArgs.__init__(self, alpha=alpha, noise=noise, noisy_mask=noisy_mask)
        gym.Wrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"NoisyObservation needs a 1-D Box observation space, got {space}")
        if noise not in NOISE_TYPES:
            raise ValueError(f"noise must be one of {NOISE_TYPES}, got {noise!r}")
        self.noise = noise
        self.noise_alpha = check_alpha(alpha)
        self._mask = None if noisy_mask is None else np.asarray(noisy_mask, dtype=bool)
        if self._mask is not None and self._mask.shape != space.shape:
            raise ValueError(f"noisy_mask has shape {self._mask.shape}, the state has {space.shape}")
        observation_box = gym.spaces.Box(-np.inf, np.inf, shape=space.shape, dtype=space.dtype)
        self.observation_space = gym.spaces.Dict({"state": space, "observation": observation_box})
        self._rng = np.random.default_rng()  # replaced by a seeded one on reset(seed=...)

    def set_noise_alpha(self, alpha: float) -> None:
        """Change the noise scale from the next observation on (called in every sub-env by `set_noise_alpha`)."""
        self.noise_alpha = check_alpha(alpha)

    def _observe(self, state: np.ndarray) -> dict:
        observation = noisy_copy(state, self.noise_alpha, self.noise, self._mask, NumpyDraws(self._rng))
        return {"state": state, "observation": observation.astype(state.dtype, copy=False)}

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng([seed, _NOISE_STREAM])
        state, info = self.env.reset(seed=seed, options=options)
        return self._observe(state), info

    def step(self, action):
        state, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(state), reward, terminated, truncated, info


def set_noise_alpha(env: gym.Env | gym.vector.VectorEnv, alpha: float) -> None:
    """Set the noise scale of every `NoisyObservation` in `env`, a single env or a (sync or async) vector env.

    Reads the value back from every sub-environment and raises RuntimeError if any did not take it.
    """
    alpha = check_alpha(alpha)
    if isinstance(env, gym.vector.VectorEnv):
        env.call("set_noise_alpha", alpha)  # runs inside each sub-env (inside each worker process if async)
    else:
        env.get_wrapper_attr("set_noise_alpha")(alpha)
    seen = get_noise_alpha(env)
    if any(a != alpha for a in seen):
        raise RuntimeError(f"noise alpha {alpha} did not reach every sub-environment: they report {seen}")


def get_noise_alpha(env: gym.Env | gym.vector.VectorEnv) -> tuple[float, ...]:
    """The noise scale as each sub-environment reports it (a 1-tuple for a single env)."""
    if isinstance(env, gym.vector.VectorEnv):
        return tuple(env.get_attr("noise_alpha"))
    return (env.get_wrapper_attr("noise_alpha"),)
