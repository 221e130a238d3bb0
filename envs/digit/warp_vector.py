"""``DigitWarpVectorEnv``: N ``l2t/Digit-v3`` envs on MuJoCo Warp, everything batched on one torch device.

    from envs.digit.warp_vector import DigitWarpVectorEnv
    envs = DigitWarpVectorEnv(num_envs=4096, device="cuda:0", seed=1, alpha=0.1, noise="uniform", env_kwargs=None)
    obs, infos = envs.reset()          # obs = {"state": (N, 307), "observation": (N, 307)} float32 tensors, on device
    obs, rewards, terminated, truncated, infos = envs.step(actions)    # actions (N, 20) tensor in [-1, 1]
    envs.check_overflow()              # once per rollout (a host sync): raises if a MuJoCo Warp buffer overflowed

The same task as ``DigitVectorEnv`` (``envs/digit/vector.py``: one ``DigitEnv`` per env over MuJoCo on the CPU) with
the same interface, except that every array is a torch tensor on ``device``: the physics is ``WarpDigitSim``
(``envs/digit/warp_backend.py``); the task is the CPU env's own code, run on the whole batch: observation,
termination and Table II rewards (``envs/digit/task.py``, ``rewards.py``), the random events (``task.draw_commands``,
``draw_push``, ``draw_env_params``, ``draw_reset_pose``, ``draw_spawn_offset``), the terrain curriculum
(``envs.terrain.update_levels`` / ``initial_levels``) and the observation noise (``envs.noise.noisy_copy``). What
is written here is only the batching around them: masks instead of per-env branches, and every draw from one torch
generator on the device (``envs.draws.TorchDraws``) where the CPU env uses its own numpy generator, so a seed gives
a different, equally distributed run on the two backends. Autoreset
is gymnasium's SAME_STEP: ``infos["final_obs"]`` (dict of tensors, valid where ``infos["_final_obs"]``) and
``infos["episode"]`` (``r``, ``l``, ``terrain_level``, ``distance_walked``, ``success``, ``terrain_col``, and
``reward/<term>``, valid where ``infos["_episode"]``). No step copies anything to the host or waits for the device
(the simulator polls its overflow flags asynchronously every ``overflow_poll_steps`` steps).

Per step the device runs: the control period (one captured Warp graph), the task (torch), and the reset of the envs
that ended, masked, for every world at every step (whether any ended would need a host sync; at 4096 envs several
end at every step anyway): ``reset_data``, the parameter writes and ``set_const``, ``kinematics`` for the spawn
height, and ``forward`` (four unconditional captured graphs; see ``envs/digit/warp_backend.py``).

env_kwargs: ``DigitEnv``'s, except ``source_physics`` and rendering (not supported here), default ``DigitEnv``'s
defaults; ``terrain_col`` fixes the column of every env (else ``terrain_columns``: "fixed", the default as in
``DigitVectorEnv``, spreads envs over columns, "random" draws one at each reset).
"""

from __future__ import annotations

import numpy as np

from envs import terrain as terrain_mod
from envs.digit import ACTION_DIM, STAND_CTRL, STAND_QPOS
from envs.digit import task
from envs.digit.env import task_defaults
from envs.digit.task import CURRICULUM_RULES, EPISODE_LENGTH_S, RESET_NOISE_IDX
from envs.digit.rewards import REWARD_WEIGHT_SETS, REWARD_WEIGHTS, reward_terms
from envs.draws import TorchDraws
from envs.noise import NOISE_TYPES, check_alpha, noisy_copy

SUPPORTED_KWARGS = (
    "terrain",
    "terrain_rows",
    "terrain_cols",
    "terrain_seed",
    "terrain_col",
    "randomize",
    "max_episode_steps",
    "action_scale",
    "reward_weights",
    "randomization_scale",
    "gravity_axes",
    "curriculum",
    "terrain_preset",
    "max_init_level",
)
TERMS = tuple(REWARD_WEIGHTS)
_FOOT_LOCAL = np.array([(u, v, 0.0) for u in (-1, 0, 1) for v in (-1, 0, 1)])  # 3 x 3 points over a foot box


class DigitWarpVectorEnv:
    """``num_envs`` noisy Digit envs on MuJoCo Warp (see the module docstring)."""

    on_device = True  # a learner passes actions and reads everything as tensors on ``self.device``

    def __init__(
        self,
        num_envs: int = 8,
        device: str = "cpu",
        seed: int | None = None,
        alpha: float = 0.0,
        noise: str = "uniform",
        env_kwargs: dict | None = None,
        terrain_columns: str = "fixed",
        graph: bool | None = None,
        njmax: int | None = None,
        nconmax: int | None = None,
        overflow_poll_steps: int | None = None,
    ):
        import torch
        from envs.digit.warp_backend import NJMAX, OVERFLOW_POLL_STEPS, WarpDigitSim

        self.torch = torch
        unknown = set(env_kwargs or {}) - set(SUPPORTED_KWARGS)
        if unknown:
            raise ValueError(f"env_kwargs {sorted(unknown)} are not supported by the Warp backend")
        defaults = task_defaults()  # DigitEnv's: one task definition for both backends
        kw = {**{k: defaults[k] for k in SUPPORTED_KWARGS if k in defaults}, **(env_kwargs or {})}
        if noise not in NOISE_TYPES:
            raise ValueError(f"noise must be one of {NOISE_TYPES}, got {noise!r}")
        if terrain_columns not in ("random", "fixed"):
            raise ValueError(f"terrain_columns must be 'random' or 'fixed', got {terrain_columns!r}")
        self.num_envs = n = int(num_envs)
        self.noise, self.noise_alpha = noise, check_alpha(alpha)
        self.terrain_kind = kw["terrain"]
        self.randomize = bool(kw["randomize"])
        self.max_episode_steps = int(kw["max_episode_steps"])
        self.action_scale = float(kw["action_scale"])
        weights = kw["reward_weights"]
        if isinstance(weights, str):
            if weights not in REWARD_WEIGHT_SETS:
                raise ValueError(f"reward_weights must be one of {sorted(REWARD_WEIGHT_SETS)} or a dict")
            weights = REWARD_WEIGHT_SETS[weights]
        else:
            weights = dict(REWARD_WEIGHTS, **{k: float(v) for k, v in weights.items()})
        self.reward_weights = dict(weights)
        self.gravity_axes = kw["gravity_axes"]
        self.curriculum = kw["curriculum"]
        if self.curriculum not in CURRICULUM_RULES or self.gravity_axes not in ("z", "xyz"):
            raise ValueError(f"curriculum must be one of {CURRICULUM_RULES} and gravity_axes 'z' or 'xyz'")
        self.max_init_level = int(kw["max_init_level"])
        self.randomization_scale = 1.0
        self.set_randomization_scale(kw["randomization_scale"])
        self.sim = sim = WarpDigitSim(
            n,
            terrain=self.terrain_kind,
            device=device,
            graph=graph,
            terrain_seed=kw["terrain_seed"],
            terrain_preset=kw["terrain_preset"],
            terrain_rows=kw["terrain_rows"],
            terrain_cols=kw["terrain_cols"],
            njmax=NJMAX if njmax is None else njmax,
            nconmax=nconmax,
            overflow_poll_steps=(OVERFLOW_POLL_STEPS if overflow_poll_steps is None else overflow_poll_steps),
        )
        self.device = dev = sim.device
        self.terrain = sim.terrain
        f32 = dict(device=dev, dtype=torch.float32)
        self._stand_qpos = torch.tensor(STAND_QPOS, **f32)
        self._stand_ctrl = torch.tensor(STAND_CTRL, **f32)
        self._reset_q = sim.idx.mq[torch.as_tensor(RESET_NOISE_IDX, device=dev)]
        self._reset_v = sim.idx.mv[torch.as_tensor(RESET_NOISE_IDX, device=dev)]
        self._weights = torch.as_tensor([self.reward_weights[k] for k in TERMS], **f32)
        self._noisy = torch.tensor(task.DIGIT_NOISY_MASK, device=dev)
        self._foot_local = torch.as_tensor(_FOOT_LOCAL, **f32)
        if self.terrain is not None:
            self._origins = torch.as_tensor(self.terrain.origins, **f32)
            self._stones = torch.as_tensor([t == "stepping_stones" for t in self.terrain.types], device=dev)
            cols = self.terrain.num_cols
            col = kw["terrain_col"]
            if col is not None:
                if not 0 <= int(col) < cols:
                    raise ValueError(f"terrain_col must be in [0, {cols}), got {col}")
                self._fixed_col = torch.full((n,), int(col), device=dev, dtype=torch.long)
            elif terrain_columns == "fixed":
                self._fixed_col = torch.arange(n, device=dev) * cols // n
            else:
                self._fixed_col = None
        self.rng = torch.Generator(device=dev)
        self.rng.manual_seed(0 if seed is None else int(seed))
        self.draws = TorchDraws(self.rng)  # every random draw: the task's shared functions take it
        self._seed = seed
        z = lambda *shape: torch.zeros(*shape, **f32)  # noqa: E731
        self.steps = z(n)
        self.command, self.last_action, self.action = z(n, 3), z(n, ACTION_DIM), z(n, ACTION_DIM)
        self.air_time, self.contact_time = z(n, 2), z(n, 2)
        self.env_params, self.origin, self.commanded_xy = z(n, len(task.ENV_PARAM_NAMES)), z(n, 3), z(n, 2)
        self.next_command_t, self.next_push_t = z(n), z(n)
        self.level = torch.zeros(n, device=dev, dtype=torch.long)
        self.col = torch.zeros(n, device=dev, dtype=torch.long)
        self.fell = torch.zeros(n, device=dev, dtype=torch.bool)
        self.ep_return, self.ep_length, self.ep_terms = z(n), z(n), z(n, len(TERMS))
        self.closed = False

    # ------------------------------------------------------------------ random draws (the env's generator)

    def set_randomization_scale(self, scale: float) -> None:
        """Strength s in [0, 1] of the Table III randomisation, from the next reset (as ``DigitEnv``'s)."""
        scale = float(scale)
        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"randomization_scale must be in [0, 1], got {scale!r}")
        self.randomization_scale = scale

    def set_noise_alpha(self, alpha: float) -> None:
        self.noise_alpha = check_alpha(alpha)

    # ------------------------------------------------------------------ gymnasium-like API

    def call(self, name, *args, **kwargs):
        """``DigitVectorEnv.call``'s analogue: one result per env."""
        attr = getattr(self, name)
        if callable(attr):
            result = attr(*args, **kwargs)
            return (result,) * self.num_envs
        return self.get_attr(name)

    def get_attr(self, name):
        if name == "terrain_level":
            return tuple(self.level.tolist())
        return (getattr(self, name),) * self.num_envs

    def reset(self, *, seed=None, options=None):
        torch = self.torch
        if seed is not None:
            self.rng.manual_seed(int(seed))
        everyone = torch.ones(self.num_envs, device=self.device, dtype=torch.bool)
        levels = None if options is None else options.get("terrain_level")
        self._reset_worlds(everyone, fresh=True, levels=levels)
        for acc in (self.ep_return, self.ep_length, self.ep_terms):
            acc.zero_()
        obs, _ = self._observe()
        return self._noisy_obs(obs), {}

    def step(self, actions):
        torch = self.torch
        sim = self.sim
        a = torch.as_tensor(actions, device=self.device, dtype=torch.float32)
        if a.shape != (self.num_envs, ACTION_DIM):
            raise ValueError(f"actions must have shape {(self.num_envs, ACTION_DIM)}, got {tuple(a.shape)}")
        a = a.clamp(-1.0, 1.0)
        # a non-finite action is executed as 0 (DigitEnv raises; here that would need a host sync every step, and
        # the learner's own checks stop a run whose networks go non-finite)
        a = torch.where(torch.isfinite(a), a, torch.zeros_like(a))
        self.action = a
        sim.step(self._stand_ctrl + self.action_scale * a)
        self.steps += 1
        t = self.steps * task.POLICY_DT
        finite = sim.finite()
        state = sim.state()
        self.air_time, self.contact_time = task.update_foot_timers(state.foot_force, self.air_time, self.contact_time)
        obs, extra = self._observe(state)
        done = task.terminated(state, obs, extra) | ~finite
        inputs = task.reward_inputs(
            state, sim.idx, obs, extra, a, self.last_action, self.command, self.air_time, self.contact_time, done, t
        )
        raw = reward_terms(inputs, dict.fromkeys(TERMS, 1.0))
        terms = torch.stack([raw[k] for k in TERMS], -1) * self._weights
        term_only = torch.zeros_like(terms)
        term_only[:, TERMS.index("termination")] = self._weights[TERMS.index("termination")] * task.POLICY_DT
        terms = torch.where(finite[:, None], torch.nan_to_num(terms), term_only)
        reward = terms.sum(-1)
        truncated = ~done & (self.steps >= self.max_episode_steps)
        self.last_action = a
        self.commanded_xy = torch.where(
            finite[:, None], task.commanded_path_step(self.commanded_xy, self.command, extra["yaw"]), self.commanded_xy
        )
        self.ep_return += reward
        self.ep_length += 1
        self.ep_terms += terms
        ended = done | truncated
        # events of the envs that go on (Isaac Lab's order: commands, then pushes), as DigitEnv.step
        going = ~ended
        resample = going & (t >= self.next_command_t - 1e-6)
        self._sample_command(resample, t)
        push = going & (t >= self.next_push_t - 1e-6)
        dv, interval = task.draw_push(self.draws, self.num_envs, self.randomization_scale)
        sim.qvel[:, :2] += torch.where(push[:, None], dv, torch.zeros_like(dv))
        self.env_params[:, 11:13] = torch.where(push[:, None], dv, self.env_params[:, 11:13])
        self.next_push_t = torch.where(push, t + interval, self.next_push_t)
        final = obs  # an ended env had no events, so its observation above is its last one
        walked = (sim.qpos[:, :2] - self.origin[:, :2]).norm(dim=-1)
        episode = {
            "r": self.ep_return.clone(),
            "l": self.ep_length.clone(),
            "terrain_level": self.level.float(),
            "distance_walked": torch.where(finite, walked, torch.zeros_like(walked)),
            "success": truncated.float(),
            "terrain_col": self.col.float(),
        }
        for k, name in enumerate(TERMS):
            episode[f"reward/{name}"] = self.ep_terms[:, k].clone()
        # SAME_STEP autoreset of the envs that ended
        self.fell = torch.where(ended, done, self.fell)
        self._reset_worlds(ended, fresh=False)
        self.ep_return = torch.where(ended, 0.0 * self.ep_return, self.ep_return)
        self.ep_length = torch.where(ended, 0.0 * self.ep_length, self.ep_length)
        self.ep_terms = torch.where(ended[:, None], 0.0 * self.ep_terms, self.ep_terms)
        obs_new, _ = self._observe()  # after the events (a pushed env's velocity, a new command) and the resets
        final_noisy = self._noisy_obs(final)
        infos = {"final_obs": final_noisy, "_final_obs": ended, "episode": episode, "_episode": ended}
        return self._noisy_obs(obs_new), reward, done, truncated, infos

    def check_overflow(self):
        """Raise ``envs.digit.warp_backend.WarpOverflowError`` (one line naming the setting to raise) if a MuJoCo Warp
        buffer overflowed in any world so far. Reads the device: call it once per rollout, not per step."""
        self.sim.check_overflow()

    def close(self):
        self.closed = True

    # ------------------------------------------------------------------ internals

    def _noisy_obs(self, state):
        """``NoisyObservation`` (envs/noise.py, the same ``noisy_copy``): the student's copy, sensor terms noised."""
        return {"state": state, "observation": noisy_copy(state, self.noise_alpha, self.noise, self._noisy, self.draws)}

    def _observe(self, state=None):
        state = self.sim.state() if state is None else state
        return task.observe(
            state,
            self.sim.idx,
            self.steps,
            self.command,
            self.last_action,
            self.origin,
            self.env_params,
            self.sim.ground_height,
        )

    def _sample_command(self, mask, t):
        cmd, delay = task.draw_commands(self.draws, self.num_envs)
        self.command = self.torch.where(mask[:, None], cmd, self.command)
        self.next_command_t = self.torch.where(mask, t + delay, self.next_command_t)

    def _reset_worlds(self, mask, fresh, levels=None):
        """``DigitEnv.reset`` for the worlds where ``mask`` is True (the others are untouched), batched. It runs at
        every step for every world, masked (asking whether any world ended would sync with the host): torch for the
        draws and poses, unconditional Warp graphs for ``reset_data``, ``set_const``, ``kinematics`` and
        ``forward``."""
        torch = self.torch
        sim, n, dev = self.sim, self.num_envs, self.device
        k = self.randomization_scale if self.randomize else 0.0
        # terrain curriculum and tile (Isaac Lab's terrain_levels_vel; DigitEnv.reset)
        if self.terrain is not None:
            rows, cols = self.terrain.num_rows, self.terrain.num_cols
            if levels is not None:
                lv = torch.as_tensor(np.broadcast_to(np.asarray(levels), (n,)).copy(), device=dev, dtype=torch.long)
                if bool(((lv < 0) | (lv >= rows)).any()):
                    raise ValueError(f"options['terrain_level'] must be integers in [0, {rows - 1}]")
                new_level = lv
            elif fresh:  # envs/terrain.py's rules, shared with the CPU env
                new_level = terrain_mod.initial_levels(n, rows, self.draws, self.max_init_level)
            else:
                walked = (sim.qpos[:, :2] - self.origin[:, :2]).norm(dim=-1)
                if self.curriculum == "isaac":
                    commanded = self.command[:, :2].norm(dim=-1) * EPISODE_LENGTH_S
                else:
                    commanded = self.commanded_xy.norm(dim=-1)
                new_level = terrain_mod.update_levels(
                    self.level, walked, commanded, rows, self.draws, fell=self.fell, rule=self.curriculum
                )
            col = self._fixed_col if self._fixed_col is not None else self.draws.integers(0, cols, n)
            self.level = torch.where(mask, new_level, self.level)
            self.col = torch.where(mask, col, self.col)
            origin = self._origins[self.level, self.col]
        else:
            origin = torch.zeros(n, 3, device=dev)
        self.origin = torch.where(mask[:, None], origin, self.origin)
        # Table III model randomisation (DigitEnv._randomize_model; the draws: task.draw_env_params)
        if self.randomize:
            p = task.draw_env_params(self.draws, n, k, self.gravity_axes)
        else:
            p = torch.zeros(n, len(task.ENV_PARAM_NAMES), device=dev)
            p[:, 0] = sim.nominal["pair_friction"][sim.ground_pairs[0], 0]
        self.env_params = torch.where(mask[:, None], p, self.env_params)
        sim.reset(mask)
        sim.set_params(mask, self.env_params[:, 0], self.env_params[:, 1], self.env_params[:, 2:5])
        # pose: standing, at the tile origin, random yaw and open-chain joint noise
        qpos = self._stand_qpos.expand(n, -1).clone()
        qvel = torch.zeros(n, sim.qvel.shape[1], device=dev)
        qpos[:, :2] = self.origin[:, :2]
        yaw, dq, dv = task.draw_reset_pose(self.draws, n, k)
        if self.randomize:
            qpos[:, self._reset_q] += dq
            qvel[:, self._reset_v] = dv
        else:
            yaw = torch.zeros(n, device=dev)
        qpos[:, 3:7] = torch.stack([torch.cos(yaw / 2), 0 * yaw, 0 * yaw, torch.sin(yaw / 2)], -1)
        sim.set_state(
            mask, qpos, qvel, self._stand_ctrl.expand(n, -1), xfrc=self.env_params[:, 5:11], derive="kinematics"
        )  # the feet's poses are all the spawn needs
        # spawn offset: on stepping stones redrawn until both feet are on the platform (DigitEnv.reset)
        foot_pos, foot_mat = sim.feet()
        feet = foot_pos[:, :, None, :] + torch.einsum(
            "ngij,gkj->ngki", foot_mat, self._foot_local[None] * sim.idx.foot_size[:, None]
        )
        feet = feet[..., :2].reshape(n, -1, 2)  # (N, 18, 2)
        if self.terrain is not None:
            on_stones = self._stones[self.col]
        else:
            on_stones = torch.zeros(n, dtype=torch.bool, device=dev)
        offset = task.draw_spawn_offset(self.draws, feet - self.origin[:, None, :2], on_stones, k)
        if not self.randomize:
            offset = torch.zeros_like(offset)
        ground = sim.ground_height(feet + offset[:, None]).amax(-1)
        sole = task.sole_z_of(foot_pos, foot_mat, sim.idx.foot_size).amin(-1)
        qpos = sim.qpos.clone()
        qpos[:, :2] += offset
        qpos[:, 2] += ground + 0.001 - sole
        sim.set_state(mask, qpos)  # then forward: contacts, velocities and forces of the new state
        # episode state (DigitEnv._init_episode_state), a command, the first push time
        zero = lambda x: torch.where(mask.reshape(-1, *[1] * (x.dim() - 1)), 0.0 * x, x)  # noqa: E731
        self.steps, self.last_action, self.action = zero(self.steps), zero(self.last_action), zero(self.action)
        self.air_time, self.contact_time, self.commanded_xy = (
            zero(self.air_time),
            zero(self.contact_time),
            zero(self.commanded_xy),
        )
        self.fell = self.fell & ~mask
        self._sample_command(mask, torch.zeros(n, device=dev))
        first_push = (
            task.draw_push(self.draws, n, k)[1]
            if self.randomize and k > 0
            else torch.full((n,), float("inf"), device=dev)
        )
        self.next_push_t = torch.where(mask, first_push, self.next_push_t)


class HostArrays:
    """A ``DigitWarpVectorEnv`` with ``DigitVectorEnv``'s numpy interface: actions in, observations, rewards, flags
    and infos out as numpy arrays (one copy each way per step). For code written against ``DigitVectorEnv``
    (``tsl_dagger_baseline.py``); ``l2t_ppo_digit.py`` uses the tensors directly."""

    def __init__(self, envs: DigitWarpVectorEnv):
        self.envs = envs
        self.num_envs = envs.num_envs

    @staticmethod
    def _np(x):
        if isinstance(x, dict):
            return {k: HostArrays._np(v) for k, v in x.items()}
        return x.detach().cpu().numpy() if hasattr(x, "detach") else x

    def reset(self, *, seed=None, options=None):
        obs, infos = self.envs.reset(seed=seed, options=options)
        return self._np(obs), infos

    def step(self, actions):
        out = self.envs.step(self.envs.torch.as_tensor(np.asarray(actions), device=self.envs.device))
        obs, reward, terminated, truncated, infos = (self._np(x) for x in out)
        infos = {k: v for k, v in infos.items()}
        if not infos["_episode"].any():  # as DigitVectorEnv: the keys only at a step where an episode ended
            for k in ("final_obs", "_final_obs", "episode", "_episode"):
                infos.pop(k)
        else:
            infos["episode"]["l"] = infos["episode"]["l"].astype(np.int64)
        return obs, reward, terminated, truncated, infos

    def call(self, name, *args, **kwargs):
        return self.envs.call(name, *args, **kwargs)

    def get_attr(self, name):
        return self.envs.get_attr(name)

    def close(self):
        self.envs.close()


__all__ = ["DigitWarpVectorEnv", "HostArrays", "SUPPORTED_KWARGS", "TERMS"]
