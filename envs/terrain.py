"""Rough terrain for the Digit task: tile-grid generator, teacher height scan, Isaac Lab terrain curriculum.

Numbers from Isaac Lab's ``ROUGH_TERRAINS_CFG`` (``source/isaaclab/isaaclab/terrains/config/rough.py`` in the public
``isaac-sim/IsaacLab`` repository; curriculum: ``terrain_levels_vel`` in
``source/isaaclab_tasks/isaaclab_tasks/manager_based/locomotion/velocity/mdp/curriculums.py``) and mjlab
1.6.0 (PyPI; ``mjlab/terrains/config.py``); paper 2 (L2T-PPO on Digit, section IV-D) uses Isaac Lab's curriculum over
flat ground, slopes, stepping stones and pyramid stairs up and down. Our own code; nothing copied.

Grid
----
``num_rows`` (10) x ``num_cols`` (20) tiles of 8 m x 8 m, centred on the world origin, plus a flat border
(20 m) all round at z = 0. Row r (along world x) has difficulty ``d = r / (num_rows - 1)`` (mjlab 1.6.0's
deterministic rule, so row 0 is exactly the easiest and the last row exactly the hardest setting; Isaac Lab adds
U(0, 1) inside the row). Column c (along world y) has the type ``min{i : c / num_cols + 0.001 < cumsum(p)_i}``
(Isaac Lab's rule) for the proportions below, in this order; with 20 columns: 4, 4, 4, 2, 2, 2, 2.
Every parameter is ``p_lo + d * (p_hi - p_lo)``. Every tile edge is at z = 0, so tiles join without seams.

==================  =====  ====================================================================================
type                 prop.  parameters (d = 0 -> d = 1)
==================  =====  ====================================================================================
pyramid_stairs       0.2   step height 0.05 -> 0.23 m, tread 0.3 m, border 1.0 m (z = 0), centre platform 3 m:
                           5 treads at k*h (k = 1..5) and the platform at 6h (Isaac Lab)
pyramid_stairs_inv   0.2   the same going down: treads at -k*h, platform at -6h
stepping_stones      0.2   stone size 0.8 -> 0.4 m, gap 0.2 -> 0.5 m (mjlab's preset, Isaac Lab's interpolation:
                           pitch = size + gap), stone tops U(-0.05 d, 0.05 d), pit floor at -2 m (mjlab), centre
                           platform 1 m and border >= 0.25 m at z = 0. (mjlab's size/xy jitter is left out, so each
                           gap between stones is exactly the nominal one; the ring between the outermost stones and
                           the border is too under the "gentle" preset, see PRESETS.) Isaac Lab's ``boxes`` slot,
                           which the paper does not list.
random_rough         0.1   heights U{0, 0.02, ..., a} per 0.1 m sample, a = 0.02 -> 0.10 m (Isaac Lab's noise range
                           0.02-0.10, step 0.02, read as an amplitude that grows with d), border 0.25 m at z = 0
pyramid_slope        0.1   gradient 0 -> 0.4 rise/run (Isaac Lab; mjlab goes to 1.0), border 0.25 m, platform 2 m
pyramid_slope_inv    0.1   the same, inverted (a pit)
flat                 0.1   z = 0 (mjlab has a flat slot; the rough slot of Isaac Lab is split into flat + rough)
==================  =====  ====================================================================================

Representation in MuJoCo (``add_to_spec``, ``ground_pieces``)
-------------------------------------------------------------
* The generator's model is a height map on a 0.1 m grid (``Terrain.heights``, as Isaac Lab / mjlab) plus
  axis-aligned boxes (``Terrain.boxes``); the ground is max(height map, box tops). MuJoCo gets the same ground in
  cheaper pieces (``ground_pieces``): every tile whose height map is one constant (flat tiles, stairs up, row 0 of
  the gentle preset) or a pit (stairs down, stepping stones: one floor height inside a ring that lies under the
  tile's border frame) is a FLOOR BOX with its top at that height (runs along a column merged into one box; the
  border is four boxes at z = 0); only random rough and slopes are HEIGHTFIELD patches (one per run of such tiles
  along a column). A foot on a floor box costs a box-box collision (as on Digit's flat floor) instead of a
  heightfield one (a foot box spans ~3 x 2 cells, each two triangular prisms); tests/test_terrain.py checks with
  mj_ray that the compiled ground equals ``ground_height`` to 1 mm along every tile edge, and docs/environments.md
  has the cost per terrain type.
* Axis-aligned BOXES for stairs and stepping stones. A heightfield cannot have vertical faces (MuJoCo joins
  neighbouring samples by triangles, so at 0.1 m a riser would be a 0.1 m ramp, a third of a tread, and a 0.4 m
  stone would lose a quarter of its top), and the treads/stones need true edges. Stairs up are nested boxes
  standing on z = 0 (6 a tile), stairs down and stones are frames/stones standing on the pit floor (24 and ~53 a
  tile).
* Contacts. Every terrain geom collides through MuJoCo's broadphase + BVH midphase (``box_contacts="filter"``,
  the default): the terrain geoms get ``conaffinity = TERRAIN_BIT``, the named robot geoms ``contype |=
  TERRAIN_BIT`` (their conaffinity stays 0, so they touch nothing else through this), and the terrain geoms get
  ``priority`` 1 and the condim, friction, solref and (default) solimp of Digit's floor pairs, so every such contact
  has exactly the parameters of an explicit pair (tests check condim, friction and solref). Explicit pairs for
  ~4000 geoms would cost ~6.5 ns each per step whether near or not (~20,000 pairs: mj_collision ~10-20 us ->
  ~120-190 us); ``box_contacts="pairs"`` adds them anyway (a check of the filter).

Height scan (``height_scan``)
-----------------------------
Read from the generator's own height map, not ray cast: ``ground_height`` evaluates the hfield samples with the
SAME triangle interpolation as MuJoCo (cell (c, r) split along the diagonal from sample (c, r) to (c+1, r+1);
checked with mj_ray) and takes the max with the tops of the boxes containing the point (boxes are bucketed in
1 m cells, so the lookup is O(points x boxes per bucket)), all vectorised numpy. It therefore equals what a
downward ``mj_ray`` on the compiled model returns (tests/test_terrain.py checks 1 cm; the error is float32
rounding of the hfield, < 1e-6 m). Points: a yaw-aligned 17 x 11 grid, x (forward) in {-0.8, ..., 0.8},
y (left) in {-0.5, ..., 0.5}, 0.1 m apart; flat index ``i = iy * 17 + ix`` (x fastest, then y; ``SCAN_POINTS``).
Value (``scan_values``): ``base_z - ground_z - 0.5`` clipped to [-1, 1] (Isaac Lab's offset and clip; noise is the
caller's). Outside the hfield the lookup clamps to its edge (z = 0 border). ``scan_points_world``, ``ground_height``
and ``scan_values`` are the pieces of ``height_scan``; the Digit env calls them itself to look the feet up in the same
``ground_height`` call.

Curriculum (``initial_levels``, ``update_levels``)
--------------------------------------------------
Isaac Lab's ``terrain_levels_vel`` + ``update_env_origins``: on reset, up one level if the robot walked more than
half a tile (4 m) from its origin, else down one if it walked less than half its commanded distance
(``0.5 * |cmd_xy| * episode_length_s``); past the top level it wraps to a uniformly random level, below 0 it
stays at 0. Initial levels uniform on {0, ..., max_init_level} (Isaac Lab's ``randint(0, max_init_level + 1)``,
max_init_level = 5). The spawn origin of level (row) r in column c is ``Terrain.origins[r, c]``.
"""

from dataclasses import dataclass, field

import mujoco
import numpy as np

from envs.draws import as_draws

TILE_SIZE = 8.0  # m
NUM_ROWS = 10
NUM_COLS = 20
BORDER_WIDTH = 20.0  # m of flat ground around the grid
HORIZONTAL_SCALE = 0.1  # m between hfield samples
HFIELD_BASE = 1.0  # m of solid hfield base below its lowest point
TERRAIN_BIT = 1 << 3  # contype/conaffinity bit used by box_contacts="filter"

# (type, proportion), in column order
PROPORTIONS = (
    ("pyramid_stairs", 0.2),
    ("pyramid_stairs_inv", 0.2),
    ("stepping_stones", 0.2),
    ("random_rough", 0.1),
    ("pyramid_slope", 0.1),
    ("pyramid_slope_inv", 0.1),
    ("flat", 0.1),
)
TYPES = tuple(name for name, _ in PROPORTIONS)

# Parameter ranges (d = 0, d = 1) and fixed sizes, metres unless noted.
STAIRS = dict(step_height=(0.05, 0.23), step_width=0.3, platform=3.0, border=1.0)
SLOPE = dict(slope=(0.0, 0.4), platform=2.0, border=0.25)  # slope: rise / run
STONES = dict(stone_size=(0.8, 0.4), gap=(0.2, 0.5), height_var=(0.0, 0.1), depth=2.0, platform=1.0, border=0.25)
ROUGH = dict(amplitude=(0.02, 0.10), step=0.02, border=0.25)
# Presets: "isaac" (the ranges above) or "gentle" (ours): stairs from 0 m (mjlab's stairs start at 0.0) and stone gaps
# from 0 m, so that row 0 of stairs and stones is flat ground, and each row adds 2.6 cm of step / 5.6 cm of gap; the
# tile's border reaches in to one gap from the outermost stones ("stone_ring": "gap"), so every gap, the ring round
# the stones included, is the nominal one. Under "isaac" and "gentle_v2" (l2t/Digit-v2's) the border keeps its
# nominal 0.25 m and the ring is whatever the stones' grid leaves: 15 cm at gentle_v2's row 0, a trench down to the
# pit floor round a field of flat stones. Row 0 of random rough keeps its 2 cm bumps under every preset (zero action
# falls there in 69 steps; it stands 20 s on every other row 0).
PRESETS = {
    "isaac": {},
    "gentle": {"step_height": (0.0, 0.23), "gap": (0.0, 0.5), "stone_ring": "gap"},
    "gentle_v2": {"step_height": (0.0, 0.23), "gap": (0.0, 0.5)},
}

# Contact parameters of Digit's floor pairs (envs/digit/README.md).
PAIR_PARAMS = dict(condim=3, friction=(0.7, 0.7, 0.01, 0.005, 0.005), solref=(0.005, 1.0))

SCAN_X = np.arange(-8, 9) * 0.1  # 17 forward offsets
SCAN_Y = np.arange(-5, 6) * 0.1  # 11 lateral offsets
SCAN_POINTS = np.stack([g.ravel() for g in np.meshgrid(SCAN_X, SCAN_Y, indexing="xy")], -1)  # (187, 2), x fastest
_SCAN_X, _SCAN_Y = SCAN_POINTS[:, 0].copy(), SCAN_POINTS[:, 1].copy()
SCAN_OFFSET = 0.5
SCAN_CLIP = 1.0
MAX_INIT_LEVEL = 5
LEVEL_RULES = ("isaac", "tracking")  # update_levels' rules
PROMOTE_DISTANCE = 2.0  # m from the origin that the "tracking" rule asks for a promotion (a quarter tile)


def _lerp(lo_hi, d):
    lo, hi = lo_hi
    return lo + d * (hi - lo)


def tile_params(kind: str, d: float, preset: str = "isaac") -> dict:
    """The parameters of a tile of type ``kind`` at difficulty ``d`` in [0, 1] (see the module docstring), with the
    ranges of ``PRESETS[preset]`` in place of the defaults."""
    if preset not in PRESETS:
        raise ValueError(f"terrain preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    r = PRESETS[preset]
    if kind in ("pyramid_stairs", "pyramid_stairs_inv"):
        p = dict(STAIRS, step_height=_lerp(r.get("step_height", STAIRS["step_height"]), d))
        p["num_steps"] = int(round((TILE_SIZE - 2 * p["border"] - p["platform"]) / (2 * p["step_width"])))
        return p
    if kind in ("pyramid_slope", "pyramid_slope_inv"):
        return dict(SLOPE, slope=_lerp(SLOPE["slope"], d))
    if kind == "stepping_stones":
        return dict(
            STONES,
            stone_size=_lerp(STONES["stone_size"], d),
            gap=_lerp(r.get("gap", STONES["gap"]), d),
            height_var=_lerp(STONES["height_var"], d),
            stone_ring=r.get("stone_ring", "border"),
        )
    if kind == "random_rough":
        return dict(ROUGH, amplitude=_lerp(ROUGH["amplitude"], d))
    if kind == "flat":
        return {}
    raise ValueError(f"unknown terrain type {kind!r}")


def column_types(num_cols: int, proportions=PROPORTIONS) -> tuple:
    """Isaac Lab's curriculum column -> type rule: type of column c = min{i : c/num_cols + 0.001 < cumsum(p)_i}."""
    names = [n for n, _ in proportions]
    cum = np.cumsum([p for _, p in proportions]) / sum(p for _, p in proportions)
    return tuple(
        names[min(int(np.searchsorted(cum, c / num_cols + 0.001, side="right")), len(names) - 1)]
        for c in range(num_cols)
    )


def _tile(kind, d, rng, preset="isaac"):
    """Tile in local coordinates (centre at 0): hfield samples (n, n) indexed [y, x] on the 0.1 m grid from -4 to 4,
    and boxes as rows (x_lo, y_lo, z_lo, x_hi, y_hi, z_hi)."""
    n = int(round(TILE_SIZE / HORIZONTAL_SCALE)) + 1
    s = np.linspace(-TILE_SIZE / 2, TILE_SIZE / 2, n)
    x, y = np.meshgrid(s, s, indexing="xy")
    half = TILE_SIZE / 2
    edge = half - np.maximum(np.abs(x), np.abs(y))  # distance from the tile's outline (pyramid coordinate)
    h = np.zeros((n, n))
    boxes = []
    p = tile_params(kind, d, preset)

    def square_frame(inner, outer, z_lo, z_hi):  # 4 boxes filling outer square minus inner square
        boxes.extend(
            [
                (-outer, -outer, z_lo, outer, -inner, z_hi),
                (-outer, inner, z_lo, outer, outer, z_hi),
                (-outer, -inner, z_lo, -inner, inner, z_hi),
                (inner, -inner, z_lo, outer, inner, z_hi),
            ]
        )

    if kind in ("pyramid_slope", "pyramid_slope_inv"):
        rise = p["slope"] * np.clip(edge - p["border"], 0.0, half - p["border"] - p["platform"] / 2)
        h = rise if kind == "pyramid_slope" else -rise
    elif kind == "random_rough":
        levels = np.arange(0.0, p["amplitude"] + 1e-9, p["step"])
        h = np.where(edge > p["border"], rng.choice(levels, size=(n, n)), 0.0)
    elif kind == "pyramid_stairs":
        hs, w, k = p["step_height"], p["step_width"], p["num_steps"]
        for i in range(1, k + 2):  # nested boxes on z = 0; the last one is the platform
            a = half - p["border"] - (i - 1) * w
            boxes.append((-a, -a, 0.0, a, a, i * hs))
    elif kind == "pyramid_stairs_inv":
        hs, w, k = p["step_height"], p["step_width"], p["num_steps"]
        bottom = -(k + 1) * hs  # the platform is the hfield floor of the pit
        h = np.where(edge > HORIZONTAL_SCALE / 2, bottom, 0.0)  # the one-cell ramp lies under the border frame
        square_frame(half - p["border"], half, bottom, 0.0)
        for i in range(1, k + 1):
            outer = half - p["border"] - (i - 1) * w
            square_frame(outer - w, outer, bottom, -i * hs)
    elif kind == "stepping_stones":
        depth, size, gap = p["depth"], p["stone_size"], p["gap"]
        pitch = size + gap
        h = np.where(edge > HORIZONTAL_SCALE / 2, -depth, 0.0)
        if p["stone_ring"] == "gap":  # as many stones as fit with one gap before the border, which reaches in to it
            kmax = int(np.floor((half - p["border"] - size / 2 - gap) / pitch + 1e-9))
            square_frame(kmax * pitch + size / 2 + gap, half, -depth, 0.0)
        else:  # the border at its nominal width; the ring is what the stones leave
            kmax = int(np.floor((half - p["border"] - size / 2) / pitch + 1e-9))
            square_frame(half - p["border"], half, -depth, 0.0)
        pl = p["platform"] / 2
        boxes.append((-pl, -pl, -depth, pl, pl, 0.0))
        for i in range(-kmax, kmax + 1):
            for j in range(-kmax, kmax + 1):
                if i == 0 and j == 0:
                    continue  # the platform
                top = rng.uniform(-0.5, 0.5) * p["height_var"]
                cx, cy = i * pitch, j * pitch
                boxes.append((cx - size / 2, cy - size / 2, -depth, cx + size / 2, cy + size / 2, top))
    elif kind != "flat":
        raise ValueError(f"unknown terrain type {kind!r}")
    boxes = [b for b in boxes if b[5] - b[2] > 1e-9]  # "gentle" row 0: stairs of height 0 are no boxes
    return h, np.array(boxes, dtype=np.float64).reshape(-1, 6)


@dataclass
class Terrain:
    """A generated grid. Heights are world z (m); ``heights[iy, ix]`` is the hfield sample at
    (``x0 + ix * scale``, ``y0 + iy * scale``). ``boxes`` rows are (x_lo, y_lo, z_lo, x_hi, y_hi, z_hi)."""

    heights: np.ndarray  # (ny, nx)
    x0: float
    y0: float
    scale: float
    boxes: np.ndarray  # (B, 6)
    box_tile: np.ndarray  # (B, 2) row, col of each box
    difficulty: np.ndarray  # (num_rows,)
    types: tuple  # (num_cols,) type name of each column
    origins: np.ndarray  # (num_rows, num_cols, 3): tile centre x, y and its ground height
    seed: int
    _lookup: tuple = field(default=None, repr=False)  # see _box_lookup

    @property
    def num_rows(self):
        return len(self.difficulty)

    @property
    def num_cols(self):
        return len(self.types)

    def tile_center(self, row, col):
        return self.origins[row, col, :2]

    def _box_lookup(self):
        """The boxes bucketed on a 1 m grid, built once: (bx0, by0, nbx, nby, table (cells, K) of box ids (-1 =
        none), nonempty (cells,) bool, rect (B + 1, 5) of x_lo, y_lo, x_hi, y_hi, top, last row = an empty box)."""
        if self._lookup is None:
            ny, nx = self.heights.shape
            bx0, by0 = self.x0, self.y0
            nbx = int(np.ceil((nx - 1) * self.scale)) + 1
            nby = int(np.ceil((ny - 1) * self.scale)) + 1
            lists = [[] for _ in range(nbx * nby)]
            for b, (xl, yl, _, xh, yh, _) in enumerate(self.boxes):
                ix = range(max(int(np.floor(xl - bx0)), 0), min(int(np.floor(xh - bx0)), nbx - 1) + 1)
                iy = range(max(int(np.floor(yl - by0)), 0), min(int(np.floor(yh - by0)), nby - 1) + 1)
                for j in iy:
                    for i in ix:
                        lists[j * nbx + i].append(b)
            k = max([len(cell) for cell in lists] + [1])
            table = np.full((nbx * nby, k), -1, dtype=np.int64)
            for c, cell in enumerate(lists):
                table[c, : len(cell)] = cell
            rect = np.vstack([self.boxes[:, [0, 1, 3, 4, 5]], [np.inf, np.inf, -np.inf, -np.inf, -np.inf]])
            self._lookup = (bx0, by0, nbx, nby, table, table[:, 0] >= 0, rect)
        return self._lookup

    def hfield_height(self, xy):
        """MuJoCo's interpolation of the hfield at points xy (..., 2): cell (c, r) is split along the diagonal from
        sample (c, r) to (c + 1, r + 1); u = along x, v = along y in the cell."""
        ny, nx = self.heights.shape  # (np.minimum(np.maximum()) is np.clip without its Python overhead)
        fx = np.minimum(np.maximum((xy[..., 0] - self.x0) / self.scale, 0.0), nx - 1)
        fy = np.minimum(np.maximum((xy[..., 1] - self.y0) / self.scale, 0.0), ny - 1)
        c = np.minimum(np.floor(fx).astype(np.int64), nx - 2)
        r = np.minimum(np.floor(fy).astype(np.int64), ny - 2)
        u, v = fx - c, fy - r
        h, k = self.heights.reshape(-1), r * nx + c  # flat gathers: cheaper than 2-d fancy indexing
        h00, h10, h01, h11 = h[k], h[k + 1], h[k + nx], h[k + (nx + 1)]
        lower = h00 + (h10 - h00) * u + (h11 - h10) * v  # triangle (0,0) (1,0) (1,1), u >= v
        upper = h00 + (h11 - h01) * u + (h01 - h00) * v  # triangle (0,0) (1,1) (0,1), u < v
        return np.where(u >= v, lower, upper)

    def ground_height(self, xy, chunk=32768):
        """Ground z at points xy (..., 2): max of the hfield and the tops of the boxes containing the point. Only
        points whose 1 m bucket holds a box are tested against its boxes (``_box_lookup``); ``chunk`` points at a
        time bound the memory."""
        xy = np.asarray(xy, dtype=np.float64)
        z = self.hfield_height(xy)
        if not len(self.boxes):
            return z
        bx0, by0, nbx, nby, table, nonempty, rect = self._box_lookup()
        flat_xy, flat_z = xy.reshape(-1, 2), z.reshape(-1)  # z is a fresh array: writing to it is fine
        for a in range(0, len(flat_xy), chunk):
            p = flat_xy[a : a + chunk]
            i = np.minimum(np.maximum(np.floor(p[:, 0] - bx0).astype(np.int64), 0), nbx - 1)
            j = np.minimum(np.maximum(np.floor(p[:, 1] - by0).astype(np.int64), 0), nby - 1)
            cell = j * nbx + i
            hit = np.flatnonzero(nonempty[cell])
            if len(hit):
                r = rect[table[cell[hit]]]  # (h, K, 5); box id -1 = the empty box
                x, y = p[hit, 0:1], p[hit, 1:2]
                inside = (r[..., 0] <= x) & (x <= r[..., 2]) & (r[..., 1] <= y) & (y <= r[..., 3])
                hit += a
                flat_z[hit] = np.maximum(flat_z[hit], np.where(inside, r[..., 4], -np.inf).max(-1))
        return flat_z.reshape(z.shape)


def generate(
    num_rows=NUM_ROWS,
    num_cols=NUM_COLS,
    seed=0,
    types=None,
    border_width=BORDER_WIDTH,
    proportions=PROPORTIONS,
    preset="isaac",
) -> Terrain:
    """Generate the tile grid (deterministic in ``seed``). ``types`` (one name a column) overrides the Isaac Lab
    column rule; row r has difficulty r / (num_rows - 1) (0 if there is one row); ``preset``: see ``PRESETS``."""
    if preset not in PRESETS:
        raise ValueError(f"terrain preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    types = tuple(types) if types is not None else column_types(num_cols, proportions)
    num_cols = len(types)
    rng = np.random.default_rng(seed)
    difficulty = np.linspace(0.0, 1.0, num_rows) if num_rows > 1 else np.zeros(1)
    per_tile = int(round(TILE_SIZE / HORIZONTAL_SCALE))
    nb = int(round(border_width / HORIZONTAL_SCALE))
    nx, ny = num_rows * per_tile + 2 * nb + 1, num_cols * per_tile + 2 * nb + 1
    heights = np.zeros((ny, nx))
    x0 = -(num_rows * TILE_SIZE / 2 + nb * HORIZONTAL_SCALE)
    y0 = -(num_cols * TILE_SIZE / 2 + nb * HORIZONTAL_SCALE)
    boxes, box_tile = [], []
    centers = np.zeros((num_rows, num_cols, 2))
    for r in range(num_rows):
        for c in range(num_cols):
            cx = (r - (num_rows - 1) / 2) * TILE_SIZE
            cy = (c - (num_cols - 1) / 2) * TILE_SIZE
            centers[r, c] = cx, cy
            h, b = _tile(types[c], float(difficulty[r]), rng, preset)
            ix, iy = nb + r * per_tile, nb + c * per_tile
            heights[iy : iy + per_tile + 1, ix : ix + per_tile + 1] = h  # edges are z = 0 in every tile
            if len(b):
                boxes.append(b + [cx, cy, 0.0, cx, cy, 0.0])
                box_tile.append(np.tile([r, c], (len(b), 1)))
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, 6))
    box_tile = np.concatenate(box_tile) if box_tile else np.zeros((0, 2), np.int64)
    terrain = Terrain(
        heights, x0, y0, HORIZONTAL_SCALE, boxes, box_tile, difficulty, types, np.zeros((num_rows, num_cols, 3)), seed
    )
    terrain.origins[..., :2] = centers
    terrain.origins[..., 2] = terrain.ground_height(centers)
    return terrain


def ground_pieces(terrain):
    """How ``add_to_spec`` represents ``terrain`` in MuJoCo: (floor boxes (F, 6) as rows (x_lo, y_lo, z_lo, x_hi,
    y_hi, z_hi), hfield patches [(ix0, iy0, nx, ny)] of ``terrain.heights`` samples). A tile whose samples are all
    one height, or a pit tile whose inner samples are (its outer ring lies under its border frame), is a floor box
    at that height; runs of such tiles along a column with one height are one box. The other tiles (random rough,
    slopes) are hfield patches, one per run along a column. The border is four boxes at z = 0."""
    h, s = terrain.heights, terrain.scale
    ny, nx = h.shape
    per = int(round(TILE_SIZE / s))
    floors, patches = [], []
    for c in range(terrain.num_cols):
        tiles = []  # (kind, floor height or None, first hfield sample x, y) per row
        for r in range(terrain.num_rows):
            cx, cy = terrain.origins[r, c, :2]
            ix = int(round((cx - TILE_SIZE / 2 - terrain.x0) / s))
            iy = int(round((cy - TILE_SIZE / 2 - terrain.y0) / s))
            t = h[iy : iy + per + 1, ix : ix + per + 1]
            inner = t[1:-1, 1:-1]
            has_boxes = bool(np.any((terrain.box_tile[:, 0] == r) & (terrain.box_tile[:, 1] == c)))
            if np.ptp(t) == 0.0:
                tiles.append(("floor", float(t[0, 0]), ix, iy))
            elif has_boxes and np.ptp(inner) == 0.0:
                tiles.append(("floor", float(inner[0, 0]), ix, iy))
            else:
                tiles.append(("hfield", None, ix, iy))
        r = 0
        while r < len(tiles):
            kind, z, ix, iy = tiles[r]
            e = r + 1
            while e < len(tiles) and tiles[e][0] == kind and tiles[e][1] == z:
                e += 1
            if kind == "floor":
                x_lo, y_lo = terrain.x0 + ix * s, terrain.y0 + iy * s
                floors.append((x_lo, y_lo, z - HFIELD_BASE, x_lo + (e - r) * TILE_SIZE, y_lo + TILE_SIZE, z))
            else:
                patches.append((ix, iy, (e - r) * per + 1, per + 1))
            r = e
    gx_lo, gy_lo = terrain.origins[0, 0, :2] - TILE_SIZE / 2
    gx_hi, gy_hi = terrain.origins[-1, -1, :2] + TILE_SIZE / 2
    X_lo, Y_lo = terrain.x0, terrain.y0
    X_hi, Y_hi = terrain.x0 + (nx - 1) * s, terrain.y0 + (ny - 1) * s
    for b in (
        (X_lo, Y_lo, X_hi, gy_lo),
        (X_lo, gy_hi, X_hi, Y_hi),
        (X_lo, gy_lo, gx_lo, gy_hi),
        (gx_hi, gy_lo, X_hi, gy_hi),
    ):
        if b[2] - b[0] > 1e-9 and b[3] - b[1] > 1e-9:
            floors.append((b[0], b[1], -HFIELD_BASE, b[2], b[3], 0.0))
    return np.array(floors, dtype=np.float64).reshape(-1, 6), patches


def add_to_spec(
    spec: mujoco.MjSpec,
    terrain: Terrain,
    contact_geoms=(),
    box_contacts="filter",
    replace="floor",
    name="terrain",
    pair_params=None,
):
    """Add ``terrain`` to ``spec.worldbody`` as ``ground_pieces`` says: floor boxes ``{name}-floor-{i}``, hfield
    patches ``{name}-hfield-{i}`` and the stair / stone boxes ``{name}-box-{i}`` (group 0). ``contact_geoms``: robot
    geom names that touch the ground (e.g. envs.digit.GROUND_CONTACT_GEOMS); they meet every terrain geom either
    through the TERRAIN_BIT filter (default) or through explicit pairs (``box_contacts="pairs"``), with the parameters
    of Digit's floor pairs either way (see the module docstring). ``replace``: a geom deleted first with its pairs
    (Digit's ``floor``; ignored if absent). Returns the names of the terrain geoms."""
    pp = dict(PAIR_PARAMS, **(pair_params or {}))
    if box_contacts not in ("filter", "pairs"):
        raise ValueError("box_contacts must be 'filter' or 'pairs'")
    if replace is not None:
        old = next((g for g in spec.geoms if g.name == replace), None)
        if old is not None:
            for pair in list(spec.pairs):
                if replace in (pair.geomname1, pair.geomname2):
                    spec.delete(pair)
            spec.delete(old)
    filt, fr = box_contacts == "filter", pp["friction"]
    names = []

    def contact(g):  # the geom's parameters win (priority), and equal the explicit pair's
        names.append(g.name)
        g.contype, g.conaffinity = 0, (TERRAIN_BIT if filt else 0)
        if filt:
            g.priority, g.condim = 1, pp["condim"]
            g.friction, g.solref = [fr[0], fr[2], fr[3]], list(pp["solref"])

    def box(geom_name, b, rgba):  # an axis-aligned box from its row (x_lo, y_lo, z_lo, x_hi, y_hi, z_hi)
        contact(
            spec.worldbody.add_geom(
                name=geom_name,
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=(b[3:] - b[:3]) / 2,
                pos=(b[3:] + b[:3]) / 2,
                rgba=rgba,
            )
        )

    floors, patches = ground_pieces(terrain)
    for i, b in enumerate(floors):
        box(f"{name}-floor-{i}", b, [0.55, 0.6, 0.65, 1])
    for i, (ix, iy, nx, ny) in enumerate(patches):
        h = terrain.heights[iy : iy + ny, ix : ix + nx]
        lo, span = float(h.min()), float(h.max() - h.min())
        norm = (h - lo) / span if span > 0 else np.zeros_like(h)
        half_x, half_y = (nx - 1) * terrain.scale / 2, (ny - 1) * terrain.scale / 2
        spec.add_hfield(
            name=f"{name}-hfield-{i}",
            size=[half_x, half_y, max(span, 1e-6), HFIELD_BASE],
            nrow=ny,
            ncol=nx,
            userdata=norm.ravel().tolist(),
        )
        contact(
            spec.worldbody.add_geom(
                name=f"{name}-hfield-{i}",
                type=mujoco.mjtGeom.mjGEOM_HFIELD,
                hfieldname=f"{name}-hfield-{i}",
                rgba=[0.55, 0.6, 0.65, 1],
                pos=[terrain.x0 + ix * terrain.scale + half_x, terrain.y0 + iy * terrain.scale + half_y, lo],
            )
        )
    shade = {t: 0.45 + 0.5 * i / max(len(TYPES) - 1, 1) for i, t in enumerate(TYPES)}
    for i, (b, (r, c)) in enumerate(zip(terrain.boxes, terrain.box_tile)):
        box(f"{name}-box-{i}", b, [0.35 + 0.5 * terrain.difficulty[r], 0.4, shade[terrain.types[c]], 1])
    for cg in contact_geoms:
        if filt:
            robot = spec.geom(cg)
            robot.contype = int(robot.contype) | TERRAIN_BIT
        else:
            for n in names:
                spec.add_pair(
                    name=f"{n}-{cg}",
                    geomname1=n,
                    geomname2=cg,
                    condim=pp["condim"],
                    friction=list(fr),
                    solref=list(pp["solref"]),
                )
    return names


def scan_points_world(base_pos, yaw):
    """World xy (N, 187, 2) of the scan points of bases at ``base_pos`` (N, 3) with heading ``yaw`` (N,)."""
    base_pos = np.asarray(base_pos, dtype=np.float64).reshape(-1, 3)
    yaw = np.asarray(yaw, dtype=np.float64).reshape(-1, 1)
    c, s = np.cos(yaw), np.sin(yaw)
    out = np.empty((max(len(base_pos), len(yaw)), len(SCAN_POINTS), 2))
    out[..., 0] = base_pos[:, 0:1] + c * _SCAN_X - s * _SCAN_Y
    out[..., 1] = base_pos[:, 1:2] + s * _SCAN_X + c * _SCAN_Y
    return out


def scan_values(base_z, ground, offset=SCAN_OFFSET, clip=SCAN_CLIP):
    """The height-scan value of a base at height ``base_z`` over ground heights ``ground``: base_z - ground - offset,
    clipped to [-clip, clip] (Isaac Lab's offset and clip)."""
    return np.minimum(np.maximum(base_z - ground - offset, -clip), clip)  # np.clip, cheaper


def height_scan(terrain: Terrain, base_pos, yaw, offset=SCAN_OFFSET, clip=SCAN_CLIP):
    """Teacher height scan (N, 187) of bases at ``base_pos`` (N, 3) with heading ``yaw`` (N,): ``scan_values`` at the
    yaw-aligned grid points. Point order: SCAN_POINTS (x fastest)."""
    base_pos = np.atleast_2d(base_pos)
    ground = terrain.ground_height(scan_points_world(base_pos, yaw))
    return scan_values(base_pos[:, 2:3], ground, offset, clip)


def initial_levels(num_envs, num_rows, rng, max_init_level=MAX_INIT_LEVEL):
    """Isaac Lab's initial terrain levels (num_envs,): uniform on {0, ..., min(max_init_level, num_rows - 1)}.
    ``rng``: a numpy Generator or an ``envs.draws`` object (torch on a device)."""
    return as_draws(rng).integers(0, min(max_init_level, num_rows - 1) + 1, num_envs)


def update_levels(
    levels, distance_walked, commanded_distance, num_rows, rng, tile_size=TILE_SIZE, fell=None, rule="isaac"
):
    """The new terrain levels of envs at ``levels`` whose episodes ended ``distance_walked`` (|root_xy - origin_xy|)
    from their origins; past the top a uniformly random level, never below 0. Two rules (the env's ``curriculum``):

    * ``"isaac"``: Isaac Lab's ``terrain_levels_vel``: up one beyond half a tile, else down one below half the
      ``commanded_distance`` (there ``|cmd_xy| * episode_length_s`` of the last command);
    * ``"tracking"`` (ours): down one after a fall (``fell``) or after walking less than half the
      ``commanded_distance`` (there the displacement the commands led to), else up one if the robot got at least
      ``PROMOTE_DISTANCE`` from its origin. A robot that follows every command and never falls is never demoted and
      is promoted whenever its commands led it ``PROMOTE_DISTANCE`` away (73 % of episodes with the env's commands).

    Sequences or numpy arrays with a numpy Generator, or torch tensors with an ``envs.draws.TorchDraws`` (one
    implementation for the MuJoCo-CPU and the Warp Digit envs)."""
    if rule not in LEVEL_RULES:
        raise ValueError(f"rule must be one of {LEVEL_RULES}, got {rule!r}")
    draws = as_draws(rng)
    if draws.xp is np:
        levels = np.asarray(levels, dtype=np.int64)
        distance_walked = np.asarray(distance_walked, dtype=np.float64)
        commanded_distance = np.asarray(commanded_distance, dtype=np.float64)
        fell = None if fell is None else np.asarray(fell, dtype=bool)
    short = distance_walked < 0.5 * commanded_distance
    if rule == "tracking":
        down = short | fell if fell is not None else short
        up = (distance_walked >= PROMOTE_DISTANCE) & ~down
    else:
        up = distance_walked > tile_size / 2
        down = short & ~up
    level = levels + up * 1 - down * 1
    wrapped = draws.integers(0, num_rows, len(level))
    return draws.xp.where(level >= num_rows, wrapped, level.clip(0, None) if draws.xp is np else level.clamp(min=0))


__all__ = [
    "TILE_SIZE",
    "NUM_ROWS",
    "NUM_COLS",
    "BORDER_WIDTH",
    "HORIZONTAL_SCALE",
    "TERRAIN_BIT",
    "PROPORTIONS",
    "TYPES",
    "STAIRS",
    "SLOPE",
    "STONES",
    "ROUGH",
    "PRESETS",
    "PAIR_PARAMS",
    "SCAN_POINTS",
    "SCAN_OFFSET",
    "SCAN_CLIP",
    "MAX_INIT_LEVEL",
    "LEVEL_RULES",
    "PROMOTE_DISTANCE",
    "Terrain",
    "tile_params",
    "column_types",
    "generate",
    "add_to_spec",
    "scan_points_world",
    "scan_values",
    "height_scan",
    "initial_levels",
    "update_levels",
]
