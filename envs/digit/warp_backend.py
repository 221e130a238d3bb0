"""MuJoCo Warp physics for the Digit task: N worlds of the same compiled model, stepped together on one device.

    from envs.digit.warp_backend import WarpDigitSim
    sim = WarpDigitSim(num_worlds=4096, terrain="rough", device="cuda:0")     # or device="cpu" (slow: tests only)
    sim.set_state(mask, qpos, qvel)          # torch (N,) bool, (N, nq), (N, nv): rows where mask is True
    sim.step(ctrl)                           # (N, nu) PD targets: one control period (10 x 2 ms) + mj_forward
    state = sim.state()                      # envs.digit.task.PhysicsState, torch float32 on the device

Only the physics differs from the MuJoCo-CPU env (``envs/digit/env.py``): the model is the one ``compiled_model``
builds for ``DigitEnv`` (same MJCF, terrain, contact pairs and options), moved to the device with
``mujoco_warp.put_model``; everything the task reads is computed from zero-copy torch views of Warp's arrays
(``warp.to_torch``), so the observation, reward and termination (``envs/digit/task.py``) run on the device with no
copy to the host. Per-world randomisation: ``body_mass``, ``geom_friction`` and ``pair_friction`` are batched model
fields (``put_model(batch_sizes=...)``) and gravity is a per-world array (Warp's kernels read
``gravity[world % len]``); ``set_params`` writes them and reruns ``set_const`` for the masses.

What differs from MuJoCo on the CPU (the README's backend table): float32 instead of float64; at most 4 contacts per
heightfield-geom pair (MuJoCo: up to 50), so rough-terrain trajectories diverge within about a second and agree only
in distribution; on a GPU the contact order and so the last bits are not deterministic. ``njmax`` (constraint rows per
world) defaults to 256: standing Digit needs ~160 (the mujoco_warp default, 64, overflows).

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
BATCHED_FIELDS = ("body_mass", "geom_friction", "pair_friction", "body_subtreemass", "body_invweight0",
                  "dof_invweight0", "actuator_acc0")
NJMAX = 256  # constraint rows per world (standing Digit: ~160)
NCONMAX = {"flat": 32, "rough": 96}  # contacts per world (Warp allocates naconmax = this x worlds)


def _import_warp():
    try:
        import warp as wp
        import mujoco_warp as mjw
    except ImportError as e:  # pragma: no cover - requirements.txt installs both
        raise ImportError("the Warp backend needs mujoco-warp and warp-lang: pip install -r requirements.txt") from e
    return wp, mjw


class WarpDigitSim:
    """``num_worlds`` Digit worlds in MuJoCo Warp on ``device`` ("cpu", "cuda", "cuda:1", ...). ``terrain`` and the
    terrain kwargs as ``DigitEnv``'s. ``graph`` (default on): the control period, ``forward`` and ``set_const`` each
    run eagerly once (that compiles the kernels), are captured as a Warp graph at their second call and replayed from
    then on (on the CPU too: it removes Python's per-launch cost, ~10 000 launches a period)."""

    def __init__(self, num_worlds: int, terrain: str = "flat", device: str = "cpu", terrain_rows: int | None = None,
                 terrain_cols: int | None = None, terrain_seed: int = 0, terrain_preset: str = "isaac",
                 njmax: int = NJMAX, nconmax: int | None = None, graph: bool | None = None):
        import torch
        from envs import terrain as terrain_mod
        from envs.digit.env import compiled_model
        wp, mjw = _import_warp()
        self.wp, self.mjw, self.torch = wp, mjw, torch
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be >= 1, got {num_worlds}")
        if terrain not in ("flat", "rough"):
            raise ValueError(f"terrain must be 'rough' or 'flat', got {terrain!r}")
        self.num_worlds = n = int(num_worlds)
        wp.init()
        self.wp_device = wp.get_device(device)
        self.device = torch.device("cuda", self.wp_device.ordinal) if self.wp_device.is_cuda else torch.device("cpu")
        rows = terrain_mod.NUM_ROWS if terrain_rows is None else terrain_rows
        cols = terrain_mod.NUM_COLS if terrain_cols is None else terrain_cols
        self.terrain, nominal, ground_names = compiled_model(terrain, rows, cols, terrain_seed, terrain_preset)
        self.mjm = mjm = copy.deepcopy(nominal)
        index = ModelIndex(mjm)
        self.idx = index.as_torch(self.device, torch.float32)
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(mjm, batch_sizes={name: n for name in BATCHED_FIELDS})
            self.m.opt.gravity = wp.array(np.tile(mjm.opt.gravity, (n, 1)), dtype=wp.vec3)
            self.d = mjw.make_data(mjm, nworld=n, njmax=njmax, nconmax=nconmax or NCONMAX[terrain])
            self._contact_ids = wp.array(np.arange(self.d.naconmax, dtype=np.int32), dtype=int)
            self._contact_force = wp.zeros(self.d.naconmax, dtype=wp.spatial_vector)
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
        # geom classes of the contact scan (as DigitEnv's)
        kw = dict(device=self.device)
        ground = np.zeros(mjm.ngeom, bool)
        ground[[mjm.geom(g).id for g in ground_names]] = True
        foot_of = np.full(mjm.ngeom, -1)
        foot_of[index.feet] = [0, 1]
        is_torso = np.zeros(mjm.ngeom, bool)
        is_torso[[mjm.geom(g).id for g in TORSO_GEOMS]] = True
        self.ground_geom = torch.as_tensor(ground, **kw)
        # friction targets (as DigitEnv's): pairs with a ground geom, and the ground geoms
        self.ground_pairs = torch.as_tensor(np.flatnonzero(ground[mjm.pair_geom1] | ground[mjm.pair_geom2]), **kw)
        self.ground_geoms = torch.as_tensor(np.flatnonzero(ground), **kw)
        self.foot_of = torch.as_tensor(foot_of, **kw)
        self.is_torso = torch.as_tensor(is_torso, **kw)
        root = mjm.body_rootid[index.foot_bodies]
        self._foot_root = torch.as_tensor(root, **kw)
        self.ground_height = TorchGround(self.terrain, self.device, torch.float32)
        self.nominal = dict(body_mass=self.body_mass[0].clone(), geom_friction=self.geom_friction[0].clone(),
                            pair_friction=self.pair_friction[0].clone(), gravity=self.gravity[0].clone())
        self._graphs, self._warm = {}, set()
        self._reset_mask = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._reset_mask_wp = wp.from_torch(self._reset_mask)
        self._flag = torch.zeros(1, dtype=torch.int32, device=self.device)  # capture_if's condition (any row masked)
        self._flag_wp = wp.from_torch(self._flag)
        self._use_graph = True if graph is None else bool(graph)
        assert tuple(mjm.actuator(i).name for i in range(mjm.nu)) == MOTOR_JOINTS

    # ------------------------------------------------------------------ physics

    def _period(self):
        for _ in range(SUBSTEPS):
            self.mjw.step(self.m, self.d)
        self.mjw.forward(self.m, self.d)  # contacts, velocities, CoM and actuator forces of the final state
        self.mjw.contact_force(self.m, self.d, self._contact_ids, False, self._contact_force)

    def _run(self, name, fn, when=None):
        """Run ``fn`` (a fixed sequence of Warp launches) on the device: eagerly the first time (that compiles and
        loads its kernels), captured as a Warp graph the second time, replayed from then on (``graph`` on). A capture
        records the launches without running them, so every call runs ``fn`` exactly once. ``when`` (an (N,) bool
        tensor): the graph runs ``fn`` only if any entry is True, decided on the device (``wp.capture_if``, no host
        sync); ``fn`` must then be a no-op for rows where it is False anyway (resets, ``forward`` after writing the
        masked rows, ``set_const`` after masked parameter changes), so skipping it when none is True is exact. On
        CUDA, Warp runs on torch's current stream, so the two never race."""
        wp = self.wp
        stream = (wp.ScopedStream(wp.stream_from_torch(self.torch.cuda.current_stream(self.device)))
                  if self.wp_device.is_cuda else contextlib.nullcontext())
        with wp.ScopedDevice(self.wp_device), stream:
            if not self._use_graph or name not in self._warm:
                fn()
                self._warm.add(name)
                return
            if when is not None:
                self._flag.copy_(when.any().to(self._flag.dtype).reshape(1))
            if name not in self._graphs:
                with wp.ScopedCapture() as capture:
                    if when is None:
                        fn()
                    else:
                        wp.capture_if(self._flag_wp, on_true=fn)
                self._graphs[name] = capture.graph
            wp.capture_launch(self._graphs[name])

    def step(self, ctrl=None):
        """One control period of every world: PD targets ``ctrl`` (N, nu) (None: keep the current ones), 10 physics
        steps, then ``forward`` (one captured graph per control period)."""
        if ctrl is not None:
            self.ctrl.copy_(ctrl)
        self._run("period", self._period)

    def _forward(self):
        self.mjw.forward(self.m, self.d)
        self.mjw.contact_force(self.m, self.d, self._contact_ids, False, self._contact_force)

    def forward(self, when=None):
        """``mj_forward`` of every world (after writing a state) and the contact forces; with ``when`` (N,) bool, only
        if any entry is True (decided on the device)."""
        self._run("forward" if when is None else "forward_if", self._forward, when)

    def reset(self, mask):
        """``mujoco_warp.reset_data`` of the worlds where ``mask`` (N,) is True: their state back to the model's
        defaults (qpos0, zero velocities, controls and applied forces); the other worlds keep theirs."""
        self._reset_mask.copy_(mask)  # a persistent buffer, so that the captured graph reads the new mask
        self._run("reset", lambda: self.mjw.reset_data(self.m, self.d, reset=self._reset_mask_wp), mask)

    def set_state(self, mask, qpos, qvel, ctrl=None, xfrc=None):
        """Write the rows of ``qpos`` (N, nq), ``qvel`` (N, nv), optionally ``ctrl`` (N, nu) and the torso's applied
        force + torque ``xfrc`` (N, 6) where ``mask`` (N,) is True (no host sync), then ``forward``."""
        m = mask.to(self.torch.bool)[:, None]
        self.qpos.copy_(self.torch.where(m, qpos.to(self.qpos.dtype), self.qpos))
        self.qvel.copy_(self.torch.where(m, qvel.to(self.qvel.dtype), self.qvel))
        if ctrl is not None:
            self.ctrl.copy_(self.torch.where(m, ctrl.to(self.ctrl.dtype), self.ctrl))
        if xfrc is not None:
            torso = self.idx.torso
            self.xfrc_applied[:, torso].copy_(self.torch.where(m, xfrc.to(self.qpos.dtype),
                                                               self.xfrc_applied[:, torso]))
        self.forward(when=mask)

    def set_params(self, mask, friction, added_mass, gravity_delta):
        """Table III's model randomisation of the worlds where ``mask`` is True, from the nominal model: ground
        friction ``friction`` (N,) on the ground pairs and geoms (as ``DigitEnv``), torso mass + ``added_mass`` (N,),
        gravity + ``gravity_delta`` (N, 3); then ``set_const`` (the masses' derived quantities)."""
        ground_pairs, ground_geoms = self.ground_pairs, self.ground_geoms
        torch = self.torch
        m = mask.to(torch.bool)
        nom = self.nominal
        pf = nom["pair_friction"].expand_as(self.pair_friction).clone()
        pf[:, ground_pairs, :2] = friction[:, None, None].to(pf.dtype)
        gf = nom["geom_friction"].expand_as(self.geom_friction).clone()
        gf[:, ground_geoms, 0] = friction[:, None].to(gf.dtype)
        bm = nom["body_mass"].expand_as(self.body_mass).clone()
        bm[:, self.idx.torso] += added_mass.to(bm.dtype)
        g = nom["gravity"] + gravity_delta.to(self.gravity.dtype)
        self.pair_friction.copy_(torch.where(m[:, None, None], pf, self.pair_friction))
        self.geom_friction.copy_(torch.where(m[:, None, None], gf, self.geom_friction))
        self.body_mass.copy_(torch.where(m[:, None], bm, self.body_mass))
        self.gravity.copy_(torch.where(m[:, None], g, self.gravity))
        self._run("set_const", lambda: self.mjw.set_const(self.m, self.d), mask)

    # ------------------------------------------------------------------ what the task reads

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
        ngeom = self.ground_geom.shape[0]
        other = keep & with_ground & (foot < 0) & ~self.is_torso[robot]  # a non-foot robot geom on the ground
        self_contact = keep & ~with_ground  # robot-robot: both geoms count
        marks = torch.zeros(n * ngeom, device=self.device, dtype=normal.dtype)
        marks.index_add_(0, world * ngeom + robot, other.to(normal.dtype))
        marks.index_add_(0, world * ngeom + g1, self_contact.to(normal.dtype))
        marks.index_add_(0, world * ngeom + g2, self_contact.to(normal.dtype))
        undesired = (marks.view(n, ngeom) > 0).sum(1)
        # foot body velocity in the world frame as MuJoCo 4's mj_objectVelocity gives it for a body: at the body's
        # centre of mass (xipos; measured: not at its origin). cvel is [angular, linear] at the subtree CoM of the
        # body's root.
        fb = idx.foot_bodies
        cv = self.cvel[:, fb]  # (N, 2, 6)
        offset = self.xipos[:, fb] - self.subtree_com[:, self._foot_root]
        lin = cv[..., 3:] + torch.linalg.cross(cv[..., :3], offset, dim=-1)
        return PhysicsState(
            qpos=self.qpos, qvel=self.qvel, qacc=self.qacc, actuator_force=self.actuator_force,
            foot_pos=self.geom_xpos[:, idx.feet], foot_mat=self.geom_xmat[:, idx.feet],
            com_z=self.subtree_com[:, idx.torso, 2], foot_vel_xy=lin[..., :2], foot_force=foot_force.view(n, 2),
            torso_contact=torso, undesired=undesired)

    def finite(self):
        """(N,) bool: the world's state is finite."""
        return self.torch.isfinite(self.qpos).all(1) & self.torch.isfinite(self.qvel).all(1)


__all__ = ["WarpDigitSim", "NJMAX", "NCONMAX", "SUBSTEPS", "BATCHED_FIELDS"]
