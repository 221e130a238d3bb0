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
gym.register(
    "l2t-test/NaNReward-v0", entry_point=CounterEnv, max_episode_steps=6, kwargs={"reward_value": float("nan")}
)


# --- Reach: a toy control task whose optimal action depends on the state, for the learning tests ---------------------

REACH_STEP = 0.5  # how far one action of magnitude 1 moves the point
REACH_HORIZON = 5  # steps per episode (a time-out: truncated, never terminated)


def reach_optimal_action(x, g):
    """The optimal (greedy) action: as far towards the target as one step allows. Each step's reward is minus the
    distance AFTER the move, and a step can only shrink the distance by at most REACH_STEP, so this policy maximises
    every step's reward at once, whatever the discount."""
    return np.clip((np.asarray(g) - np.asarray(x)) / REACH_STEP, -1.0, 1.0)


class ReachEnv(gym.Env):
    """A point x on a line must be driven to a target g: state [x, g], both drawn from U(-1, 1) at reset; action
    a in [-1, 1] (only its first entry matters); x <- x + REACH_STEP * a; reward -|x - g| after the move.

    The optimal action clip(2 (g - x), -1, 1) depends on both state entries, so a policy must read its input; a
    uniformly random policy is far from it (see `reach_reference`). Episodes are truncated by the registered
    TimeLimit after REACH_HORIZON steps. Under `NoisyObservation` the student sees x and g with relative noise, so
    its best achievable return is somewhat below the teacher's."""

    def __init__(self, action_dim: int = 1):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(action_dim,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.g = self.np_random.uniform(-1.0, 1.0, 2)
        return np.array([self.x, self.g]), {}

    def step(self, action):
        self.x = self.x + REACH_STEP * float(np.clip(action[0], -1.0, 1.0))
        return np.array([self.x, self.g]), -abs(self.x - self.g), False, False, {}


gym.register("l2t-test/Reach-v0", entry_point=ReachEnv, max_episode_steps=REACH_HORIZON)


def reach_reference(seeds, random_draws: int = 20, rng_seed: int = 0):
    """(optimal, random) mean returns of Reach over the episodes that `reset(seed=s)` starts for s in `seeds` (the
    very episodes a script's evaluation plays when its sub-env i is seeded with seed + i): the optimal policy's, and
    a uniformly random policy's averaged over `random_draws` action sequences per episode."""
    rng = np.random.default_rng(rng_seed)
    env = gym.make("l2t-test/Reach-v0")
    optimal, random_ = [], []
    for s in seeds:
        for kind in ["optimal"] + ["random"] * random_draws:
            state, _ = env.reset(seed=int(s))
            total, done = 0.0, False
            while not done:
                a = reach_optimal_action(state[0], state[1]) if kind == "optimal" else rng.uniform(-1, 1)
                state, r, terminated, truncated, _ = env.step(np.array([a]))
                total += r
                done = terminated or truncated
            (optimal if kind == "optimal" else random_).append(total)
    return float(np.mean(optimal)), float(np.mean(random_))


def gap_closed(value, random_return, best_return):
    """The fraction of the gap from the random policy's return to `best_return` that `value` closes."""
    return (value - random_return) / (best_return - random_return)


class ReachDigitVec(gym.vector.VectorEnv):
    """Reach in the shape of l2t_ppo_digit.py's vector env (DigitVectorEnv's interface, as tests/test_ppo_digit.py's
    FakeDigitVec): N independent Reach problems; the privileged state is (N, obs_dim) with x in column 0, g in
    column 1 and zeros elsewhere; the student's observation is the state with NoisyObservation's uniform relative
    noise (|o_i - s_i| <= alpha |s_i|) on its first `student_dim` columns; actions (N, action_dim) of which only
    column 0 moves the point. Every episode is truncated after REACH_HORIZON steps; `infos["episode"]` carries the
    statistics the script reads (r, l, success, distance_walked, terrain_level, terrain_col)."""

    def __init__(self, num_envs, alpha=0.0, seed=0, obs_dim=None, student_dim=None):
        from envs.digit.env import OBS_DIM, STUDENT_DIM

        self.num_envs, self.alpha = num_envs, alpha
        self.obs_dim = OBS_DIM if obs_dim is None else obs_dim
        self.student_dim = STUDENT_DIM if student_dim is None else student_dim
        self.rng = np.random.default_rng(seed)
        box = gym.spaces.Box(-np.inf, np.inf, shape=(num_envs, self.obs_dim), dtype=np.float32)
        self.observation_space = gym.spaces.Dict({"state": box, "observation": box})

    def _draw(self, mask):
        self.x[mask] = self.rng.uniform(-1.0, 1.0, mask.sum())
        self.g[mask] = self.rng.uniform(-1.0, 1.0, mask.sum())
        self.t[mask] = 0
        self.ret[mask] = 0.0

    def _obs(self):
        state = np.zeros((self.num_envs, self.obs_dim), dtype=np.float32)
        state[:, 0], state[:, 1] = self.x, self.g
        obs = state.copy()
        k = self.student_dim
        obs[:, :k] += self.alpha * np.abs(state[:, :k]) * self.rng.uniform(-1.0, 1.0, (self.num_envs, k))
        return {"state": state, "observation": obs}

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        n = self.num_envs
        self.x, self.g, self.t, self.ret = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int), np.zeros(n)
        self._draw(np.ones(n, dtype=bool))
        return self._obs(), {}

    def step(self, actions):
        a = np.clip(np.asarray(actions, dtype=np.float64)[:, 0], -1.0, 1.0)
        self.x = self.x + REACH_STEP * a
        reward = -np.abs(self.x - self.g)
        self.t += 1
        self.ret += reward
        done = self.t >= REACH_HORIZON
        n = self.num_envs
        infos = {}
        if done.any():
            infos = {
                "final_obs": self._obs(),
                "_final_obs": done.copy(),
                "_episode": done.copy(),
                "episode": {
                    "r": self.ret.copy(),
                    "l": self.t.astype(float),
                    "success": done.astype(float),
                    "distance_walked": np.zeros(n),
                    "terrain_level": np.zeros(n),
                    "terrain_col": np.zeros(n),
                },
            }
            self._draw(done)
        return self._obs(), reward.astype(np.float32), np.zeros(n, dtype=bool), done, infos

    def call(self, name, *args, **kwargs):
        return (None,) * self.num_envs

    def get_attr(self, name):
        return (0,) * self.num_envs

    def close(self, **kwargs):
        pass


def reach_vec_reference(num_envs, seed, random_draws: int = 20):
    """(optimal, random) mean returns of the `num_envs` episodes that ReachDigitVec(num_envs).reset(seed=seed)
    starts: what l2t_ppo_digit.py's evaluation (one episode per env, reset with one seed) plays."""
    env = ReachDigitVec(num_envs, obs_dim=2, student_dim=2)
    env.reset(seed=seed)
    x0, g = env.x.copy(), env.g.copy()
    rng = np.random.default_rng(0)
    optimal, random_ = np.zeros(num_envs), np.zeros(num_envs)
    x = x0.copy()
    for _ in range(REACH_HORIZON):
        x = x + REACH_STEP * reach_optimal_action(x, g)
        optimal -= np.abs(x - g)
    for _ in range(random_draws):
        x = x0.copy()
        for _ in range(REACH_HORIZON):
            x = x + REACH_STEP * rng.uniform(-1.0, 1.0, num_envs)
            random_ -= np.abs(x - g) / random_draws
    return float(optimal.mean()), float(random_.mean())
