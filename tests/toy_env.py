"""Tiny deterministic envs for fast tests; registered under the `l2t-test/` namespace on import."""

import gymnasium as gym
import numpy as np


class CounterEnv(gym.Env):
    """State [episode + 1, t + 1, x]: which episode, which step, and a random value; actions are ignored.

    Episodes terminate at a random length in [3, 8] (from the env's own seeded generator) and are
    truncated by the registered TimeLimit at 6 steps, so both kinds of episode end occur. The state's
    first two entries identify a transition exactly, which lets tests check the replay buffer's contents.
    """

    def __init__(self, reward_value: float = 1.0):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.reward_value = reward_value
        self.episode = -1

    def _state(self):
        return np.array([self.episode + 1.0, self.t + 1.0, self.np_random.normal(0.0, 3.0)])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        self.length = int(self.np_random.integers(3, 9))
        return self._state(), {}

    def step(self, action):
        self.t += 1
        return self._state(), self.reward_value, self.t >= self.length, False, {}


gym.register("l2t-test/Counter-v0", entry_point=CounterEnv, max_episode_steps=6)
gym.register("l2t-test/NaNReward-v0", entry_point=CounterEnv, max_episode_steps=6, kwargs={"reward_value": float("nan")})
