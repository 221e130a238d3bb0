"""MuJoCo Warp physics for the Digit task: N worlds of the same compiled model, stepped together on one device.

    from envs.digit.warp_backend import WarpDigitSim
    sim = WarpDigitSim(num_worlds=4096, terrain="rough", device="cuda:0")     # or device="cpu" (slow: tests only)
    sim.set_state(mask, qpos, qvel)          # torch (N,) bool, (N, nq), (N, nv): rows where mask is True
    sim.step(ctrl)                           # (N, nu) PD targets: one control period (10 x 2 ms) + mj_forward
    state = sim.state()                      # envs.digit.task.PhysicsState, torch float32 on the device
    sim.check_overflow()                     # raises WarpOverflowError if a buffer overflowed (reads the device)

Only the physics differs from the MuJoCo-CPU env (``envs/digit/env.py``): the model is the one ``compiled_model``
builds for ``DigitEnv`` (same MJCF, terrain, contact pairs and options, except MuJoCo's sleep flag, below), moved to
the device with ``mujoco_warp.put_model``; everything the task reads is computed from zero-copy torch views of Warp's
arrays (``warp.to_torch``), so the observation, reward and termination (``envs/digit/task.py``) run on the device with
no copy to the host. Per-world randomisation: ``body_mass``, ``geom_friction`` and ``pair_friction`` are batched
model fields (``put_model(batch_sizes=...)``) and gravity is a per-world array (Warp's kernels read
``gravity[world % len]``); ``set_params`` writes them and reruns ``set_const`` for the masses.

How the device work runs (the rules of CUDA graphs, followed by construction):

- One stream. All of a simulator's Warp work runs on one CUDA stream of its own, created once with torch
  (``torch.cuda.Stream``) and wrapped once for Warp (``DeviceStream``). Graphs are captured on it: CUDA refuses stream
  capture on the legacy default stream, which is torch's current stream unless a program sets another. Around each
  Warp call the stream waits for the caller's torch stream and the caller's stream waits for it (events on the
  device, no host sync).
- Unconditional graphs. Each call (the control period, ``reset``, ``set_params``, ``kinematics``, ``forward``) runs
  eagerly once (that compiles its kernels), is captured at its second call and replayed from then on, always doing
  its work for every world; masks select the worlds inside the kernels and torch writes. MuJoCo Warp allocates
  temporaries inside ``forward``, ``step`` and ``set_const``: a plain captured graph may hold allocations (CUDA memory
  pools), a conditional graph body (``wp.capture_if``) may not, so nothing here is captured conditionally.
- No host sync in a step: masks and parameters stay on the device. Overflow flags are accumulated on the device
  after every physics step and read by the host only every ``overflow_poll_steps`` control periods, from an
  asynchronous copy (``check_overflow`` reads them at once).

What differs from MuJoCo on the CPU (the README's backend table): float32 instead of float64; at most 4 contacts per
heightfield-geom pair (MuJoCo: up to 50), so rough-terrain trajectories diverge within about a second and agree only
in distribution; on a GPU the contact order and so the last bits are not deterministic. MuJoCo's sleep flag is off
in the Warp model: the robot never sleeps (its tree is actuated) and MuJoCo Warp computes static geoms' poses once
with or without it, so the flag only adds bookkeeping (wake and sleep updates, a second collision pass, the solver on
compacted awake DOFs; ~6x the launches of a physics step). It had one side effect that matters: with it, MuJoCo
Warp's ``step`` recomputes the velocity stage after integrating, and MuJoCo Warp 4.0.0 reads that stage's ``cvel`` /
``cdof_dot`` in the next step's equality constraints (the closed chains' Jdot v term) before recomputing them.
Without the flag they would be one physics step old, so the control period runs ``com_vel`` after each step instead
(10 steps from the same state, max |qvel - MuJoCo-CPU|: flag on 2.8e-4, off 3.4e-3, off + ``com_vel`` 2.5e-4).

Buffer sizes: ``njmax`` (constraint rows per world) 256 and ``nconmax`` (contacts per world, pooled over all worlds)
``NCONMAX``; see NJMAX. When one overflows MuJoCo Warp drops rows or contacts (their forces read 0) and sets a flag:
``check_overflow`` turns a flag into ``WarpOverflowError`` with one line naming the setting to raise.

Kernel compilation: the first Warp step on a machine compiles the kernels (~60 s on this project's 2-core CPU;
cached in ``~/.cache/warp`` for later processes).
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

from envs.digit import MOTOR_JOINTS
from envs.digit.ground import TorchGround
from envs.digit.rewards import CONTACT_FORCE
from envs.digit.task import SUBSTEPS, TORSO_GEOMS, ModelIndex, PhysicsState

# model fields with one row per world: what Table III randomises, and what set_const derives from the masses (with a
# single row, every world's set_const would write the same row)
BATCHED_FIELDS = (
    "body_mass",
    "geom_friction",
    "pair_friction",
    "body_subtreemass",
    "body_invweight0",
    "dof_invweight0",
    "actuator_acc0",
)
# Constraint rows per world. Measured maxima (rough ground, random actions of amplitude 0.3-1.0 on every terrain
# type and level, falls included): 146 rows on MuJoCo-CPU (155k physics steps; its heightfield gives up to 50
# contacts per geom pair, Warp's 4), fewer on Warp; 256 leaves a margin of 1.75x over the larger.
NJMAX = 256
NCONMAX = {"flat": 32, "rough": 96}  # contacts per world (Warp pools naconmax = this x worlds; measured max 27)
OVERFLOW_POLL_STEPS = 24  # control periods between two host reads of the overflow flags (one rollout of 24 steps)
_GROUND_LANES = 32  # threads per world of the ground-friction kernel


class WarpOverflowError(RuntimeError):
    """A MuJoCo Warp buffer overflowed: some constraint rows or contacts were dropped. The message names the setting
    to raise."""


def _import_warp():
    try:
        import warp as wp
        import mujoco_warp as mjw
    except ImportError as e:  # pragma: no cover - requirements.txt installs both
        raise ImportError("the Warp backend needs mujoco-warp and warp-lang: pip install -r requirements.txt") from e
    return wp, mjw


def overflow_settings(mjw):
    """{overflow bit: (what overflowed, the setting to raise)} of the overflows that drop physics (the flags
    ``check_overflow`` stops on). Not among them: solver iteration limits (a warning, not lost data) and MuJoCo
    Warp's cap of contacts per heightfield pair (its documented approximation)."""
    o = mjw.OverflowType
    return {
        int(o.NEFC): ("constraint rows > njmax", "njmax"),
        int(o.NJMAX_NNZ): ("constraint Jacobian entries > njmax x nv", "njmax"),
        int(o.BROADPHASE): ("collision candidates > nconmax x worlds", "nconmax"),
        int(o.NARROWPHASE): ("contacts > nconmax x worlds", "nconmax"),
        int(o.CCD): ("CCD contacts > nconmax x worlds", "nconmax"),
    }


_KERNELS = None


def _kernels():
    """The Warp kernels of this module (defined once per process, at first use, so that importing the module does
    not need warp)."""
    global _KERNELS
    if _KERNELS is None:
        wp, _ = _import_warp()

        @wp.kernel(module="unique")  # a module of its own: defining another kernel never reloads it
        def track_overflow(
            overflow: wp.array(dtype=wp.int32),
            nefc: wp.array(dtype=wp.int32),
            nacon: wp.array(dtype=wp.int32),
            ncollision: wp.array(dtype=wp.int32),
            seen: wp.array(dtype=wp.int32),
            rows: wp.array(dtype=wp.int32),
            pool: wp.array(dtype=wp.int32),
        ):
            # after a physics step: OR the world's overflow flags into `seen` (reset_data clears MuJoCo Warp's own),
            # and keep the largest row count of the world and the largest contact / candidate counts of the pool
            w = wp.tid()
            seen[w] = seen[w] | overflow[w]
            rows[w] = wp.max(rows[w], nefc[w])
            if w == 0:
                pool[0] = wp.max(pool[0], nacon[0])
                pool[1] = wp.max(pool[1], ncollision[0])

        @wp.kernel(module="unique")  # a module of its own: defining another kernel never reloads it
        def ground_friction(
            mask: wp.array(dtype=wp.bool),
            friction: wp.array(dtype=wp.float32),
            ground: wp.array(dtype=wp.int32),
            lanes: int,
            geom_friction: wp.array2d(dtype=wp.vec3),
        ):
            # sliding friction of every ground geom of the masked worlds; an unmasked world's threads return at once
            w, lane = wp.tid()
            if not mask[w]:
                return
            f = friction[w]
            for k in range(lane, ground.shape[0], lanes):
                g = ground[k]
                v = geom_friction[w, g]
                geom_friction[w, g] = wp.vec3(f, v[1], v[2])

        _KERNELS = {"track_overflow": track_overflow, "ground_friction": ground_friction}
    return _KERNELS


class DeviceStream:
    """The one stream a simulator's Warp work runs and is captured on. On CUDA: a torch stream created once
    (``torch.cuda.Stream``: never the legacy default stream, on which CUDA refuses graph capture) and its Warp
    wrapper, created once too (a ``warp.Stream`` wrapper unregisters its handle when freed, so it is kept).
    ``scope()`` makes it Warp's current stream and orders it after the caller's current torch stream, and the
    caller's stream after it, with events (no host sync). On the CPU there is no stream: ``scope()`` yields None."""

    def __init__(self, wp, torch, wp_device, torch_device):
        self.wp, self.torch, self.device = wp, torch, torch_device
        self.torch_stream = self.wp_stream = None
        if wp_device.is_cuda:
            self.torch_stream = torch.cuda.Stream(device=torch_device)
            self.wp_stream = wp.stream_from_torch(self.torch_stream)

    @contextlib.contextmanager
    def scope(self):
        if self.wp_stream is None:
            yield None
            return
        caller = self.torch.cuda.current_stream(self.device)
        self.torch_stream.wait_stream(caller)  # Warp's work after the caller's queued torch work ...
        with self.wp.ScopedStream(self.wp_stream, sync_enter=False):
            yield self.wp_stream
        caller.wait_stream(self.torch_stream)  # ... and the caller's next work after Warp's


class GraphRunner:
    """Runs named, fixed sequences of Warp launches on ``device`` in ``stream.scope()``: eagerly at the first call of
    a name (that compiles and loads its kernels), captured as a graph on the stream at the second (a capture records
    the launches without running them, and the graph is then launched once, so every call runs the sequence exactly
    once), replayed from then on. ``graph=False``: always eagerly. Every graph is unconditional."""

    def __init__(self, wp, device, stream: DeviceStream, graph: bool = True):
        self.wp, self.device, self.stream, self.graph = wp, device, stream, bool(graph)
        self.graphs, self._warm = {}, set()

    def run(self, name, fn):
        wp = self.wp
        with wp.ScopedDevice(self.device), self.stream.scope() as stream:
            if not self.graph or name not in self._warm:
                fn()
                self._warm.add(name)
                return
            if name not in self.graphs:
                with wp.ScopedCapture(device=self.device, stream=stream) as capture:
                    fn()
                self.graphs[name] = capture.graph
            wp.capture_launch(self.graphs[name], stream=stream)


class WarpDigitSim:
    """``num_worlds`` Digit worlds in MuJoCo Warp on ``device`` ("cpu", "cuda", "cuda:1", ...). ``terrain`` and the
    terrain kwargs as ``DigitEnv``'s (None: ``DigitEnv``'s defaults, ``envs.digit.env.task_defaults``). ``graph``
    (default on): each call runs eagerly once, is captured as a graph at its second call and replayed from then on
    (on the CPU too: it removes Python's per-launch cost, ~1 250 launches a control period). ``njmax`` /
    ``nconmax``: constraint rows / contacts per world (the settings an overflow names)."""

    def __init__(
        self,
        num_worlds: int,
        terrain: str = "flat",
        device: str = "cpu",
        terrain_rows: int | None = None,
        terrain_cols: int | None = None,
        terrain_seed: int | None = None,
        terrain_preset: str | None = None,
        njmax: int = NJMAX,
        nconmax: int | None = None,
        graph: bool | None = None,
        overflow_poll_steps: int = OVERFLOW_POLL_STEPS,
    ):
        import mujoco
        import torch
        from envs import terrain as terrain_mod
        from envs.digit.env import compiled_model, task_defaults

        wp, mjw = _import_warp()
        self.wp, self.mjw, self.torch = wp, mjw, torch
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        if terrain not in ("flat", "rough"):
            raise ValueError(f"terrain must be 'rough' or 'flat', got {terrain!r}")
        defaults = task_defaults()
        self.num_worlds = n = int(num_worlds)
        wp.init()
        self.wp_device = wp.get_device(device)
        self.device = torch.device("cuda", self.wp_device.ordinal) if self.wp_device.is_cuda else torch.device("cpu")
        rows = terrain_mod.NUM_ROWS if terrain_rows is None else terrain_rows
        cols = terrain_mod.NUM_COLS if terrain_cols is None else terrain_cols
        seed = defaults.get("terrain_seed", 0) if terrain_seed is None else terrain_seed
        preset = defaults["terrain_preset"] if terrain_preset is None else terrain_preset
        self.terrain, nominal, ground_names = compiled_model(terrain, rows, cols, seed, preset)
        self.mjm = mjm = copy.deepcopy(nominal)
        mjm.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_SLEEP)  # see the module docstring
        self.njmax = int(njmax)
        self.nconmax = int(nconmax or NCONMAX[terrain])
        index = ModelIndex(mjm)
        self.idx = index.as_torch(self.device, torch.float32)
        use_graph = True if graph is None else bool(graph)
        if self.wp_device.is_cuda and use_graph and not wp.is_mempool_enabled(self.wp_device):
            # MuJoCo Warp allocates temporaries in the captured calls: a capture holds them only from a memory pool
            wp.set_mempool_enabled(self.wp_device, True)
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(mjm, batch_sizes={name: n for name in BATCHED_FIELDS})
            self.m.opt.gravity = wp.array(np.tile(mjm.opt.gravity, (n, 1)), dtype=wp.vec3)
            if self.wp_device.is_cuda and not wp.is_conditional_graph_supported():
                self.m.opt.graph_conditional = False  # the solver's early exit needs CUDA >= 12.4 in a graph
            self.d = mjw.make_data(mjm, nworld=n, njmax=self.njmax, nconmax=self.nconmax)
            self._contact_ids = wp.array(np.arange(self.d.naconmax, dtype=np.int32), dtype=int)
            self._contact_force = wp.zeros(self.d.naconmax, dtype=wp.spatial_vector)
            # overflow flags seen since construction (OR over physics steps), largest rows per world, largest
            # contact and candidate counts of the pool
            self._seen_wp = wp.zeros(n, dtype=wp.int32)
            self._rows_wp = wp.zeros(n, dtype=wp.int32)
            self._pool_wp = wp.zeros(2, dtype=wp.int32)
        wp.synchronize_device(self.wp_device)  # the uploads above (on Warp's own stream) land before any other work
        self.stream = DeviceStream(wp, torch, self.wp_device, self.device)
        self.runner = GraphRunner(wp, self.wp_device, self.stream, use_graph)
        t = wp.to_torch
        d, m = self.d, self.m
        # zero-copy torch views (writes go through to Warp)
        self.qpos, self.qvel, self.qacc, self.ctrl = t(d.qpos), t(d.qvel), t(d.qacc), t(d.ctrl)
        self.actuator_force, self.xfrc_applied = t(d.actuator_force), t(d.xfrc_applied)
        self.geom_xpos, self.geom_xmat = t(d.geom_xpos), t(d.geom_xmat)
        self.xipos, self.subtree_com, self.cvel = t(d.xipos), t(d.subtree_com), t(d.cvel)
        self.body_mass, self.geom_friction, self.pair_friction = t(m.body_mass), t(m.geom_friction), t(m.pair_friction)
        self.gravity = t(m.opt.gravity)
        self.nacon = t(d.nacon)
        self.contact_geom, self.contact_world = t(d.contact.geom), t(d.contact.worldid)
        self.contact_force = t(self._contact_force)
        self._seen, self._rows, self._pool = t(self._seen_wp), t(self._rows_wp), t(self._pool_wp)
        # geom classes of the contact scan (as DigitEnv's); robot geoms get a compact index (the terrain's
        # thousands of ground geoms never enter the per-step arrays)
        kw = dict(device=self.device)
        ground = np.zeros(mjm.ngeom, bool)
        ground[[mjm.geom(g).id for g in ground_names]] = True
        foot_of = np.full(mjm.ngeom, -1)
        foot_of[index.feet] = [0, 1]
        is_torso = np.zeros(mjm.ngeom, bool)
        is_torso[[mjm.geom(g).id for g in TORSO_GEOMS]] = True
        robot_of = np.full(mjm.ngeom, -1)
        robot_of[~ground] = np.arange(int((~ground).sum()))
        self.num_robot_geoms = int((~ground).sum())
        self.ground_geom = torch.as_tensor(ground, **kw)
        self.robot_of = torch.as_tensor(robot_of, **kw)
        # friction targets (as DigitEnv's): pairs with a ground geom, and the ground geoms
        self.ground_pairs = torch.as_tensor(np.flatnonzero(ground[mjm.pair_geom1] | ground[mjm.pair_geom2]), **kw)
        self.ground_geoms = torch.as_tensor(np.flatnonzero(ground), **kw)
        self.foot_of = torch.as_tensor(foot_of, **kw)
        self.is_torso = torch.as_tensor(is_torso, **kw)
        root = mjm.body_rootid[index.foot_bodies]
        self._foot_root = torch.as_tensor(root, **kw)
        self.ground_height = TorchGround(self.terrain, self.device, torch.float32)
        self.nominal = dict(
            body_mass=self.body_mass[0].clone(),
            geom_friction=self.geom_friction[0].clone(),
            pair_friction=self.pair_friction[0].clone(),
            gravity=self.gravity[0].clone(),
        )
        # persistent inputs of the captured graphs (a graph reads these addresses at every replay)
        self._mask = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._friction = torch.zeros(n, dtype=torch.float32, device=self.device)
        self._mask_wp, self._friction_wp = wp.from_torch(self._mask), wp.from_torch(self._friction)
        self._ground_i32 = self.ground_geoms.to(torch.int32)  # kept: the Warp array below is a view of it
        self._ground_wp = wp.from_torch(self._ground_i32)
        # the host's asynchronous view of the overflow flags (see _poll_overflow)
        self.overflow_poll_steps = int(overflow_poll_steps)
        self._periods = 0
        self._poll_pending = False
        if self.wp_device.is_cuda:
            self._seen_host = torch.zeros(n, dtype=torch.int32, pin_memory=True)
            self._poll_event = torch.cuda.Event()
        assert tuple(mjm.actuator(i).name for i in range(mjm.nu)) == MOTOR_JOINTS

    @property
    def _graphs(self):
        return self.runner.graphs

    def _run(self, name, fn):
        self.runner.run(name, fn)

    # ------------------------------------------------------------------ physics

    def _track(self):
        d = self.d
        self.wp.launch(
            _kernels()["track_overflow"],
            dim=self.num_worlds,
            inputs=[d.overflow, d.nefc, d.nacon, d.ncollision, self._seen_wp, self._rows_wp, self._pool_wp],
        )

    def _period(self):
        for _ in range(SUBSTEPS):
            self.mjw.step(self.m, self.d)
            # MuJoCo Warp builds the equality constraints' velocity term (Jdot v) in the next step's position stage
            # from cvel / cdof_dot, before that step's velocity stage recomputes them: refresh them for the new
            # qvel, as mj_step does with the sleep flag on (see the module docstring)
            self.mjw.com_vel(self.m, self.d)
            self._track()
        self.mjw.forward(self.m, self.d)  # contacts, velocities, CoM and actuator forces of the final state
        self.mjw.contact_force(self.m, self.d, self._contact_ids, False, self._contact_force)

    def step(self, ctrl=None):
        """One control period of every world: PD targets ``ctrl`` (N, nu) (None: keep the current ones), 10 physics
        steps, then ``forward`` and the contact forces (one captured graph). Every ``overflow_poll_steps`` periods
        the overflow flags are checked (``check_overflow``) without waiting for the device."""
        if ctrl is not None:
            self.ctrl.copy_(ctrl)
        self._run("period", self._period)
        self._poll_overflow()

    def _forward(self):
        self.mjw.forward(self.m, self.d)
        self.mjw.contact_force(self.m, self.d, self._contact_ids, False, self._contact_force)

    def forward(self):
        """``mj_forward`` of every world (after writing a state) and the contact forces."""
        self._run("forward", self._forward)

    def kinematics(self):
        """Positions and orientations of every world's bodies and geoms from ``qpos`` (``mj_kinematics``): enough to
        read the feet after writing a state, at a fraction of ``forward``'s cost."""
        self._run("kinematics", lambda: self.mjw.kinematics(self.m, self.d))

    def reset(self, mask):
        """``mujoco_warp.reset_data`` of the worlds where ``mask`` (N,) is True: their state back to the model's
        defaults (qpos0, zero velocities, controls, applied forces and warm start); the other worlds keep theirs."""
        self._mask.copy_(mask)  # a persistent buffer, so that the captured graph reads the new mask
        self._run("reset", lambda: self.mjw.reset_data(self.m, self.d, reset=self._mask_wp))

    def set_state(self, mask, qpos, qvel=None, ctrl=None, xfrc=None, derive="forward"):
        """Write the rows of ``qpos`` (N, nq), ``qvel`` (N, nv) (None: kept), optionally ``ctrl`` (N, nu) and the
        torso's applied force + torque ``xfrc`` (N, 6) where ``mask`` (N,) is True (no host sync), then ``derive``
        the rest of every world's state from them: "forward" (``forward``), "kinematics" (``kinematics``) or None."""
        torch = self.torch
        m = mask.to(torch.bool)[:, None]
        self.qpos.copy_(torch.where(m, qpos.to(self.qpos.dtype), self.qpos))
        if qvel is not None:
            self.qvel.copy_(torch.where(m, qvel.to(self.qvel.dtype), self.qvel))
        if ctrl is not None:
            self.ctrl.copy_(torch.where(m, ctrl.to(self.ctrl.dtype), self.ctrl))
        if xfrc is not None:
            torso = self.idx.torso
            self.xfrc_applied[:, torso].copy_(torch.where(m, xfrc.to(self.qpos.dtype), self.xfrc_applied[:, torso]))
        if derive == "forward":
            self.forward()
        elif derive == "kinematics":
            self.kinematics()
        elif derive is not None:
            raise ValueError(f"derive must be 'forward', 'kinematics' or None, got {derive!r}")

    def _set_const(self):
        self.wp.launch(
            _kernels()["ground_friction"],
            dim=(self.num_worlds, _GROUND_LANES),
            inputs=[self._mask_wp, self._friction_wp, self._ground_wp, _GROUND_LANES],
            outputs=[self.m.geom_friction],
        )
        self.mjw.set_const(self.m, self.d)

    def set_params(self, mask, friction, added_mass, gravity_delta):
        """Table III's model randomisation of the worlds where ``mask`` is True, from the nominal model: ground
        friction ``friction`` (N,) on the ground pairs and geoms (as ``DigitEnv``), torso mass + ``added_mass`` (N,),
        gravity + ``gravity_delta`` (N, 3); then ``set_const`` (the masses' derived quantities) of every world (an
        unchanged world's are recomputed to the same values). The ground geoms' friction is written by a masked
        kernel, so no per-call array scales with the terrain's geom count."""
        torch = self.torch
        m = mask.to(torch.bool)
        nom = self.nominal
        pf = nom["pair_friction"].expand_as(self.pair_friction).clone()
        pf[:, self.ground_pairs, :2] = friction[:, None, None].to(pf.dtype)
        bm = nom["body_mass"].expand_as(self.body_mass).clone()
        bm[:, self.idx.torso] += added_mass.to(bm.dtype)
        g = nom["gravity"] + gravity_delta.to(self.gravity.dtype)
        self.pair_friction.copy_(torch.where(m[:, None, None], pf, self.pair_friction))
        self.body_mass.copy_(torch.where(m[:, None], bm, self.body_mass))
        self.gravity.copy_(torch.where(m[:, None], g, self.gravity))
        self._mask.copy_(m)
        self._friction.copy_(friction)
        self._run("set_const", self._set_const)

    # ------------------------------------------------------------------ buffer overflows

    def _overflow_message(self, seen):
        """One line naming what overflowed and the setting to raise, or None; ``seen`` (N,) int flags."""
        seen = np.asarray(seen)
        parts, settings = [], []
        for bit, (what, setting) in overflow_settings(self.mjw).items():
            worlds = int(((seen & bit) != 0).sum())
            if worlds:
                value = self.njmax if setting == "njmax" else self.nconmax
                parts.append(f"{what} in {worlds} of {self.num_worlds} worlds")
                if f"{setting}={value}" not in settings:
                    settings.append(f"{setting}={value}")
        if not parts:
            return None
        return (
            f"MuJoCo Warp overflow ({'; '.join(parts)}): rows or contacts were dropped, so forces read 0; raise "
            f"{' and '.join(settings)} (DigitWarpVectorEnv(njmax=..., nconmax=...); defaults NJMAX, NCONMAX in "
            f"envs/digit/warp_backend.py)"
        )

    def check_overflow(self):
        """Raise ``WarpOverflowError`` if any world overflowed a buffer since construction (reads the flags from the
        device: a host sync; ``step`` polls them without one)."""
        message = self._overflow_message(self._seen.cpu().numpy())
        if message:
            raise WarpOverflowError(message)

    def _poll_overflow(self):
        """Every ``overflow_poll_steps`` periods: on CUDA, raise on the flags copied at the previous poll if that copy
        has landed (an event query, never a wait), then start the next asynchronous copy; on the CPU, read them."""
        self._periods += 1
        if self.overflow_poll_steps <= 0 or self._periods % self.overflow_poll_steps:
            return
        if self._seen.device.type == "cpu":
            self.check_overflow()
            return
        if self._poll_pending and self._poll_event.query():
            message = self._overflow_message(self._seen_host.numpy())
            if message:
                raise WarpOverflowError(message)
        self._seen_host.copy_(self._seen, non_blocking=True)
        self._poll_event.record(self.torch.cuda.current_stream(self.device))
        self._poll_pending = True

    def usage(self):
        """What the buffers held at most since construction (a host sync): {"rows": largest constraint rows of a
        world, "njmax", "contacts": largest contacts of the pool, "candidates": largest collision candidates of the
        pool, "naconmax", "flags": {overflow name: worlds that set it}} (every MuJoCo Warp flag, the ones
        ``check_overflow`` ignores included)."""
        seen = self._seen.cpu().numpy()
        pool = self._pool.cpu().numpy()
        flags = {
            f.name: int(((seen & int(f.value)) != 0).sum())
            for f in self.mjw.OverflowType
            if f.value and not (int(f.value) & (int(f.value) - 1))
        }
        return {
            "rows": int(self._rows.max()),
            "njmax": self.njmax,
            "contacts": int(pool[0]),
            "candidates": int(pool[1]),
            "naconmax": int(self.d.naconmax),
            "flags": {k: v for k, v in flags.items() if v},
        }

    # ------------------------------------------------------------------ what the task reads

    def feet(self):
        """(foot_pos (N, 2, 3), foot_mat (N, 2, 3, 3)) of the foot geoms, from the last kinematics or forward."""
        return self.geom_xpos[:, self.idx.feet], self.geom_xmat[:, self.idx.feet]

    def state(self) -> PhysicsState:
        """The task's ``PhysicsState`` of every world (torch float32 on the device; no host sync)."""
        torch = self.torch
        n, idx = self.num_worlds, self.idx
        # contacts: normal force of each active contact, classified by its geoms as DigitEnv._contacts does
        k = torch.arange(self.contact_geom.shape[0], device=self.device)
        normal = self.contact_force[:, 0]
        keep = (k < self.nacon[0]) & (normal > CONTACT_FORCE)
        g1, g2 = self.contact_geom[:, 0].long(), self.contact_geom[:, 1].long()
        world = self.contact_world.long().clamp(0, n - 1)
        gr1, gr2 = self.ground_geom[g1], self.ground_geom[g2]
        with_ground = gr1 | gr2
        robot = torch.where(gr1, g2, g1)
        foot = self.foot_of[robot]
        on_foot = keep & with_ground & (foot >= 0)
        foot_force = torch.zeros(n * 2, device=self.device, dtype=normal.dtype)
        foot_force.index_add_(0, world * 2 + foot.clamp(min=0), torch.where(on_foot, normal, 0.0 * normal))
        torso_hit = (keep & with_ground & self.is_torso[robot]).to(normal.dtype)
        torso = torch.zeros(n, device=self.device, dtype=normal.dtype).index_add_(0, world, torso_hit) > 0
        # undesired contacts: distinct robot geoms touching (a non-foot, non-torso geom on the ground; both geoms of a
        # robot-robot contact), marked per world over the robot's geoms only
        nr = self.num_robot_geoms
        other = keep & with_ground & (foot < 0) & ~self.is_torso[robot]
        self_contact = keep & ~with_ground
        marks = torch.zeros(n * nr, device=self.device, dtype=normal.dtype)
        for geom, hit in ((robot, other), (g1, self_contact), (g2, self_contact)):
            marks.index_add_(0, world * nr + self.robot_of[geom].clamp(min=0), hit.to(normal.dtype))
        undesired = (marks.view(n, nr) > 0).sum(1)
        # foot body velocity in the world frame as MuJoCo 4's mj_objectVelocity gives it for a body: at the body's
        # centre of mass (xipos; measured: not at its origin). cvel is [angular, linear] at the subtree CoM of the
        # body's root.
        fb = idx.foot_bodies
        cv = self.cvel[:, fb]  # (N, 2, 6)
        offset = self.xipos[:, fb] - self.subtree_com[:, self._foot_root]
        lin = cv[..., 3:] + torch.linalg.cross(cv[..., :3], offset, dim=-1)
        foot_pos, foot_mat = self.feet()
        return PhysicsState(
            qpos=self.qpos,
            qvel=self.qvel,
            qacc=self.qacc,
            actuator_force=self.actuator_force,
            foot_pos=foot_pos,
            foot_mat=foot_mat,
            com_z=self.subtree_com[:, idx.torso, 2],
            foot_vel_xy=lin[..., :2],
            foot_force=foot_force.view(n, 2),
            torso_contact=torso,
            undesired=undesired,
        )

    def finite(self):
        """(N,) bool: the world's state is finite."""
        return self.torch.isfinite(self.qpos).all(1) & self.torch.isfinite(self.qvel).all(1)


__all__ = [
    "WarpDigitSim",
    "WarpOverflowError",
    "DeviceStream",
    "GraphRunner",
    "NJMAX",
    "NCONMAX",
    "OVERFLOW_POLL_STEPS",
    "SUBSTEPS",
    "BATCHED_FIELDS",
    "overflow_settings",
]
