"""Fast checks of envs/terrain.py: tile geometry measured from the height map against the documented numbers
(the module docstring: Isaac Lab's ROUGH_TERRAINS_CFG, mjlab), the height scan against mujoco.mj_ray on a compiled
model, the Isaac Lab terrain curriculum rule, and determinism.

Tolerances: box geometry is exact in float64 (1e-9); hfield faces are exact piecewise-planar interpolations of
float64 samples (1e-9); the comparison with mj_ray allows 1 mm, although MuJoCo only adds float32 rounding of the
normalised hfield patches (~1e-7 of a patch's range).
"""

import mujoco
import numpy as np
import pytest

from envs import terrain as T

ROWS = 5  # d = 0, 0.25, 0.5, 0.75, 1
EXACT = 1e-9


@pytest.fixture(scope="module")
def ter():
    return T.generate(num_rows=ROWS, types=T.TYPES, seed=3, border_width=2.0)


def col(ter, kind):
    return ter.types.index(kind)


def centre_line(ter, row, kind, n=8001, offset=0.0):
    """Ground heights along the tile's x axis (through the centre, shifted by `offset` in y), from edge to edge,
    sampled every 1 mm; returns local x and z."""
    cx, cy = ter.tile_center(row, col(ter, kind))
    x = np.linspace(-T.TILE_SIZE / 2, T.TILE_SIZE / 2, n)
    z = ter.ground_height(np.stack([cx + x, np.full_like(x, cy + offset)], -1))
    return x, z


def jumps(z, thresh=1e-6):
    dz = np.diff(z)
    return dz[np.abs(dz) > thresh]


def test_difficulty_rows_and_column_rule():
    ter = T.generate(seed=0, border_width=0.0)
    assert ter.difficulty[0] == 0.0 and ter.difficulty[-1] == 1.0 and np.all(np.diff(ter.difficulty) > 0)
    # Isaac Lab's rule with 20 columns: 4 stairs, 4 inverted stairs, 4 stones, then 2 of each other type
    counts = {t: ter.types.count(t) for t in T.TYPES}
    assert counts == {
        "pyramid_stairs": 4,
        "pyramid_stairs_inv": 4,
        "stepping_stones": 4,
        "random_rough": 2,
        "pyramid_slope": 2,
        "pyramid_slope_inv": 2,
        "flat": 2,
    }
    assert ter.heights.shape == (20 * 80 + 1, 10 * 80 + 1)  # 0.1 m samples, y rows x x columns


@pytest.mark.parametrize("kind,sign", [("pyramid_stairs", 1), ("pyramid_stairs_inv", -1)])
def test_stairs(ter, kind, sign):
    heights = []
    for row in range(ROWS):
        d = ter.difficulty[row]
        h = 0.05 + d * (0.23 - 0.05)
        x, z = centre_line(ter, row, kind)
        steps = jumps(z)
        # from the edge to the centre: 6 risers of +h (or -h) (5 treads + platform), then 6 back
        assert len(steps) == 12
        np.testing.assert_allclose(np.abs(steps), h, atol=EXACT)
        assert np.all(np.sign(steps[:6]) == sign) and np.all(np.sign(steps[6:]) == -sign)
        edges = x[1:][np.abs(np.diff(z)) > 1e-6][:6]  # riser positions (1 mm sampling)
        np.testing.assert_allclose(np.diff(edges), 0.3, atol=2e-3)  # tread width
        assert abs(edges[0] + 3.0) < 2e-3  # border 1 m
        np.testing.assert_allclose(z[np.abs(x) < 1.4], sign * 6 * h, atol=EXACT)  # 3 m platform
        np.testing.assert_allclose(z[np.abs(x) > 3.01], 0.0, atol=EXACT)  # border at z = 0
        heights.append(np.abs(steps).max())
    assert heights[0] == pytest.approx(0.05) and heights[-1] == pytest.approx(0.23)
    assert np.all(np.diff(heights) > 0)


@pytest.mark.parametrize("kind,sign", [("pyramid_slope", 1), ("pyramid_slope_inv", -1)])
def test_slopes(ter, kind, sign):
    slopes = []
    for row in range(ROWS):
        d = ter.difficulty[row]
        x, z = centre_line(ter, row, kind)
        face = (x > -3.65) & (x < -1.1)  # between the 0.25 m border (+1 cell) and the 2 m platform
        slope = np.polyfit(x[face], z[face], 1)[0]
        assert slope == pytest.approx(sign * 0.4 * d, abs=EXACT)
        assert np.abs(np.polyfit(x[face], z[face], 1, full=True)[1]).sum() < 1e-12  # planar face
        np.testing.assert_allclose(z[np.abs(x) <= 1.0], sign * 0.4 * d * 2.75, atol=EXACT)  # platform
        slopes.append(abs(slope))
    assert slopes[0] == pytest.approx(0.0, abs=EXACT) and slopes[-1] == pytest.approx(0.4)
    assert np.all(np.diff(slopes) > 0)


def segments(mask):
    """(start, stop) index pairs of the runs of True in a boolean array."""
    m = np.r_[False, mask, False].astype(int)
    starts, stops = np.flatnonzero(np.diff(m) == 1), np.flatnonzero(np.diff(m) == -1)
    return list(zip(starts, stops))


def test_stepping_stones(ter):
    sizes, gaps = [], []
    for row in range(ROWS):
        d = ter.difficulty[row]
        size, gap = 0.8 - 0.4 * d, 0.2 + 0.3 * d
        pitch = size + gap
        x, z = centre_line(ter, row, "stepping_stones", offset=pitch)  # through a row of stones (j = 1)
        top = z > -1.0
        runs = [(x[a], x[b - 1]) for a, b in segments(top)]
        inner = runs[1:-1]  # drop the 0.25 m border frame at both ends
        assert len(inner) == 7  # stones at i = -3..3
        widths = np.array([b - a for a, b in inner])
        between = np.array([inner[k + 1][0] - inner[k][1] for k in range(len(inner) - 1)])
        np.testing.assert_allclose(widths, size, atol=2e-3)  # 1 mm sampling
        np.testing.assert_allclose(between, gap, atol=2e-3)
        assert np.all(z[~top][1:-1] == -2.0)  # pit floor 2 m down inside the gaps
        tops = z[top & (np.abs(x) < 3.5)]
        assert np.all(np.abs(tops) <= 0.05 * d + EXACT)  # height variation 0.1 d peak to peak
        # the 1 m platform at the centre is at z = 0
        xc, zc = centre_line(ter, row, "stepping_stones")
        np.testing.assert_allclose(zc[np.abs(xc) <= 0.5], 0.0, atol=EXACT)
        sizes.append(widths.mean())
        gaps.append(between.mean())
    assert gaps[-1] == pytest.approx(0.5, abs=2e-3) and sizes[-1] == pytest.approx(0.4, abs=2e-3)
    assert np.all(np.diff(gaps) > 0) and np.all(np.diff(sizes) < 0)


def test_rough_and_flat(ter):
    amplitudes = []
    n = int(T.TILE_SIZE / T.HORIZONTAL_SCALE)
    for row in range(ROWS):
        a = 0.02 + 0.08 * ter.difficulty[row]
        c = col(ter, "random_rough")
        # the tile's interior samples (the 0.25 m border excluded)
        iy = int(round((ter.tile_center(row, c)[1] - 4 - ter.y0) / T.HORIZONTAL_SCALE))
        ix = int(round((ter.tile_center(row, c)[0] - 4 - ter.x0) / T.HORIZONTAL_SCALE))
        tile = ter.heights[iy : iy + n + 1, ix : ix + n + 1]
        interior = tile[3:-3, 3:-3]
        assert interior.min() >= -EXACT and interior.max() <= a + EXACT
        assert interior.max() > a - 0.02 - EXACT  # 5000+ uniform draws reach the top level
        np.testing.assert_allclose(interior / 0.02, np.round(interior / 0.02), atol=1e-6)  # 0.02 m steps
        np.testing.assert_allclose(tile[:3], 0.0, atol=EXACT)  # border
        amplitudes.append(interior.max() - interior.min())
        _, zf = centre_line(ter, row, "flat")
        assert np.all(zf == 0.0)
    assert amplitudes[0] == pytest.approx(0.02) and amplitudes[-1] == pytest.approx(0.10)
    assert np.all(np.diff(amplitudes) >= 0)


def test_tile_params_monotone():
    ds = np.linspace(0, 1, 11)
    p = {k: [T.tile_params(k, d) for d in ds] for k in T.TYPES}
    assert np.all(np.diff([q["step_height"] for q in p["pyramid_stairs"]]) > 0)
    assert np.all(np.diff([q["slope"] for q in p["pyramid_slope_inv"]]) > 0)
    assert np.all(np.diff([q["gap"] for q in p["stepping_stones"]]) > 0)
    assert np.all(np.diff([q["stone_size"] for q in p["stepping_stones"]]) < 0)
    assert np.all(np.diff([q["amplitude"] for q in p["random_rough"]]) > 0)
    assert p["pyramid_stairs"][0]["num_steps"] == 5


def test_origins(ter):
    for row in range(ROWS):
        for c, kind in enumerate(ter.types):
            o = ter.origins[row, c]
            assert o[2] == pytest.approx(float(ter.ground_height(o[:2])))
    d1 = ROWS - 1
    assert ter.origins[d1, col(ter, "pyramid_stairs"), 2] == pytest.approx(6 * 0.23)
    assert ter.origins[d1, col(ter, "pyramid_slope_inv"), 2] == pytest.approx(-0.4 * 2.75)
    assert ter.origins[d1, col(ter, "stepping_stones"), 2] == 0.0


def test_height_scan_matches_mj_ray(ter):
    spec = mujoco.MjSpec()
    T.add_to_spec(spec, ter)  # terrain only: no robot to hit
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    rng = np.random.default_rng(0)
    geomid = np.zeros(1, np.int32)
    down = np.array([0.0, 0.0, -1.0])
    poses = []
    for c in range(len(ter.types)):  # every type, every difficulty, 3 random poses each
        for row in range(ROWS):
            for _ in range(3):
                xy = ter.tile_center(row, c) + rng.uniform(-3.8, 3.8, 2)
                poses.append((xy[0], xy[1], rng.uniform(0.5, 1.5), rng.uniform(-np.pi, np.pi)))
    poses = np.array(poses)
    pts = T.scan_points_world(poses[:, :3], poses[:, 3])  # (N, 187, 2)
    ground = ter.ground_height(pts)
    scan = T.height_scan(ter, poses[:, :3], poses[:, 3])
    np.testing.assert_allclose(scan, np.clip(poses[:, 2:3] - ground - 0.5, -1, 1), atol=EXACT)
    ray = np.empty(ground.shape)
    for i, j in np.ndindex(*ground.shape):
        dist = mujoco.mj_ray(model, data, np.array([pts[i, j, 0], pts[i, j, 1], 10.0]), down, None, 1, -1, geomid)
        assert geomid[0] >= 0
        ray[i, j] = 10.0 - dist
    err = np.abs(ray - ground)
    assert err.max() < 1e-3
    # many distinct ground heights: boxes, pits and the non-flat hfield were all exercised
    assert len(np.unique(np.round(ground, 3))) > 50


def test_ground_height_in_chunks_equals_one_pass(ter):
    """Terrain.ground_height processes points in chunks (memory) and tests only points whose bucket holds a box: any
    chunk size gives the same heights, for any input shape, and boxes were hit across chunk boundaries."""
    rng = np.random.default_rng(1)
    c = col(ter, "stepping_stones")
    xy = ter.tile_center(ROWS - 1, c) + rng.uniform(-4.5, 4.5, (3, 1001, 2))  # stones, gaps, border, next tile
    whole = ter.ground_height(xy)
    assert whole.shape == (3, 1001)
    for chunk in (1, 7, 1000, 1001):
        np.testing.assert_array_equal(ter.ground_height(xy, chunk=chunk), whole)
    np.testing.assert_array_equal(ter.ground_height(xy.reshape(-1, 2), chunk=7), whole.ravel())
    stones = whole > -1.0
    assert 0.2 < stones.mean() < 0.9  # both stone tops and pit floor were looked up
    assert ter.ground_height(xy[0, 0]) == whole[0, 0]  # a single point (2,) -> a scalar


def test_scan_points_order_and_rotation():
    assert T.SCAN_POINTS.shape == (187, 2)
    np.testing.assert_allclose(T.SCAN_POINTS[0], [-0.8, -0.5])
    np.testing.assert_allclose(T.SCAN_POINTS[1], [-0.7, -0.5])  # x fastest
    np.testing.assert_allclose(T.SCAN_POINTS[17], [-0.8, -0.4])
    np.testing.assert_allclose(T.SCAN_POINTS[-1], [0.8, 0.5])
    w = T.scan_points_world(np.array([[1.0, 2.0, 0.0]]), np.array([np.pi / 2]))[0]
    np.testing.assert_allclose(w[-1], [1.0 - 0.5, 2.0 + 0.8], atol=1e-12)  # forward -> +y, left -> -x


def test_scan_offset_and_clip_on_flat(ter):
    c = col(ter, "flat")
    xy = ter.tile_center(2, c)
    z = np.array([0.9, 0.5 + 0.999, 3.0, -0.2])
    pos = np.c_[np.full(4, xy[0]), np.full(4, xy[1]), z]
    scan = T.height_scan(ter, pos, np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(scan[0], 0.4, atol=EXACT)  # 0.9 - 0 - 0.5
    np.testing.assert_allclose(scan[1], 0.999, atol=EXACT)
    np.testing.assert_allclose(scan[2], 1.0)  # clipped
    np.testing.assert_allclose(scan[3], -0.7, atol=EXACT)
    deep = T.height_scan(ter, np.array([[*ter.tile_center(ROWS - 1, col(ter, "stepping_stones")), -0.8]]), np.zeros(1))
    assert deep.min() == -1.0  # over the platform: -0.8 - 0 - 0.5 = -1.3 -> -1


def test_curriculum_rules():
    rng = np.random.default_rng(0)
    levels = np.array([0, 3, 3, 3, 9, 9, 0, 5])
    walked = np.array([5.0, 4.1, 2.0, 1.0, 4.5, 3.9, 0.0, 4.0])
    cmd = np.array([20.0, 20.0, 3.0, 3.0, 1.0, 1.0, 10.0, 20.0])  # |cmd_xy| * episode length
    new = T.update_levels(levels, walked, cmd, 10, rng)
    # up (> 4 m) even if short of half the command; stay; down (< 1.5 m); past the top: random level;
    # 9 stays (3.9 m >= 0.5 m, < 4 m); 0 cannot go below 0; exactly 4 m is not "farther" but < 10 -> down
    assert new[0] == 1 and new[1] == 4 and new[2] == 3 and new[3] == 2
    assert 0 <= new[4] < 10 and new[5] == 9 and new[6] == 0 and new[7] == 4
    np.testing.assert_array_equal(levels, [0, 3, 3, 3, 9, 9, 0, 5])  # the input is not modified
    # wrapping draws uniformly over all 10 levels
    got = [T.update_levels([9], [10.0], [0.0], 10, np.random.default_rng(s))[0] for s in range(200)]
    assert set(got) == set(range(10))
    # "tracking": a fall goes down however far the robot got; otherwise down below half the commanded
    # displacement, up from PROMOTE_DISTANCE (2 m) on, else it stays
    walked = [1.0, 4.5, 3.0, 0.0, 2.0, 1.9, 2.5]
    led = [0.5, 0.5, 0.5, 0.0, 2.0, 1.9, 6.0]
    fell = [True, True, False, True, False, False, False]
    new = T.update_levels([3, 3, 3, 0, 3, 3, 3], walked, led, 10, rng, fell=fell, rule="tracking")
    np.testing.assert_array_equal(new, [2, 2, 4, 0, 4, 3, 2])
    with pytest.raises(ValueError, match="rule must be one of"):
        T.update_levels([3], [1.0], [1.0], 10, rng, rule="displacement")


def test_curriculum_initial_levels():
    levels = T.initial_levels(4096, 10, np.random.default_rng(0))
    assert levels.min() == 0 and levels.max() == T.MAX_INIT_LEVEL  # Isaac Lab: randint(0, 5 + 1)
    assert T.initial_levels(4096, 3, np.random.default_rng(0)).max() == 2  # never beyond the last row


def test_deterministic():
    a, b, c = T.generate(3, seed=7), T.generate(3, seed=7), T.generate(3, seed=8)
    np.testing.assert_array_equal(a.heights, b.heights)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.origins, b.origins)
    assert not np.array_equal(a.heights, c.heights) or not np.array_equal(a.boxes, c.boxes)


def cast_down(model, data, xy):
    """Ground z under world points xy (N, 2) by mj_ray from 10 m (a miss fails)."""
    geomid, down, z = np.zeros(1, np.int32), np.array([0.0, 0.0, -1.0]), np.empty(len(xy))
    for i, (x, y) in enumerate(xy):
        z[i] = 10.0 - mujoco.mj_ray(model, data, np.array([x, y, 10.0]), down, None, 1, -1, geomid)
        assert geomid[0] >= 0, (x, y)
    return z


@pytest.mark.parametrize("preset", ["isaac", "gentle"])
def test_mujoco_ground_equals_ground_height_at_every_tile_edge(preset):
    """The compiled model (floor boxes, hfield patches, stair and stone boxes: ``ground_pieces``) has the ground of
    ``Terrain.ground_height`` to 1 mm, on the strips where the pieces meet: 0.3 m either side of every tile edge
    (pit rings under border frames, patch seams, floor-box runs, the grid's border), every type and row."""
    ter = T.generate(num_rows=3, types=T.TYPES, seed=5, border_width=1.0, preset=preset)
    floors, patches = T.ground_pieces(ter)
    assert len(patches) > 0 and len(floors) > 4  # both kinds of piece are there
    spec = mujoco.MjSpec()
    T.add_to_spec(spec, ter)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    rng = np.random.default_rng(0)
    half = T.TILE_SIZE / 2
    pts = []
    for row in range(ter.num_rows):
        for c in range(ter.num_cols):
            centre = ter.tile_center(row, c)
            along = rng.uniform(-half, half, 40)
            across = half + rng.uniform(-0.3, 0.3, 40)
            for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # the four edges
                pts.append(centre + np.stack([sx * across + (sy != 0) * along, sy * across + (sx != 0) * along], -1))
    pts = np.concatenate(pts)
    err = np.abs(cast_down(model, data, pts) - ter.ground_height(pts))
    assert err.max() < 1e-3, pts[err.argmax()]
    assert len(np.unique(np.round(ter.ground_height(pts), 3))) > 20  # pits, stairs, slopes and flat were hit


def test_ground_pieces_cover_the_grid_once():
    """The floor boxes and hfield patches tile the whole ground (grid + border) without overlap: their areas add up
    to the hfield's, and every tile with stairs or stones lies on a floor box (only random rough and slopes are
    hfield patches)."""
    ter = T.generate(num_rows=4, types=T.TYPES, seed=1, border_width=2.0)
    floors, patches = T.ground_pieces(ter)
    ny, nx = ter.heights.shape
    area = ((floors[:, 3] - floors[:, 0]) * (floors[:, 4] - floors[:, 1])).sum()
    area += sum((n_x - 1) * (n_y - 1) * ter.scale**2 for _, _, n_x, n_y in patches)
    assert area == pytest.approx((nx - 1) * (ny - 1) * ter.scale**2, rel=1e-12)
    kinds = {
        ter.types[int(round((iy * ter.scale + ter.y0 + T.TILE_SIZE / 2 - ter.origins[0, 0, 1]) / T.TILE_SIZE))]
        for _, iy, _, _ in patches
    }
    assert kinds <= {"random_rough", "pyramid_slope", "pyramid_slope_inv"}


def test_digit_on_terrain_contacts():
    """Digit's feet touch hfield patches, floor boxes and stair boxes with exactly the Digit floor-pair parameters
    (filter mode: no explicit pair with the terrain)."""
    from envs.digit import GROUND_CONTACT_GEOMS, MODEL_PATH, STAND_QPOS

    ter = T.generate(num_rows=2, types=("pyramid_stairs", "random_rough", "flat"), seed=0, border_width=1.0)
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    names = T.add_to_spec(spec, ter, GROUND_CONTACT_GEOMS)
    model = spec.compile()
    assert model.npair == 15  # the robot's own 15 pairs; the floor and its 6 pairs are gone
    assert all(model.geom(n).conaffinity == T.TERRAIN_BIT for n in names)
    data = mujoco.MjData(model)
    seen = set()
    for c in range(3):
        data.qpos[:] = STAND_QPOS
        data.qpos[:3] = ter.origins[1, c] + [0, 0, STAND_QPOS[2] - 0.003]  # feet 3 mm into the ground
        mujoco.mj_forward(model, data)
        assert data.ncon > 0
        for k in range(data.ncon):
            con = data.contact[k]
            names = {model.geom(con.geom1).name, model.geom(con.geom2).name}
            ground = [n for n in names if n.startswith("terrain")]
            assert ground and (names - set(ground)) <= set(GROUND_CONTACT_GEOMS)
            seen.add(ground[0].split("-")[1])
            assert con.dim == 3
            np.testing.assert_allclose(con.friction, T.PAIR_PARAMS["friction"])
            np.testing.assert_allclose(con.solref, T.PAIR_PARAMS["solref"])
    assert seen == {"box", "hfield", "floor"}


def test_gentle_preset_makes_row_0_flat_and_keeps_the_top_row_and_the_default(ter):
    """terrain_preset "gentle": stairs and stone gaps start at 0, so row 0 of every type but random rough (2 cm) is
    flat ground at z = 0 from edge to edge (no zero-height boxes, no trench round the stones), the hardest row
    equals Isaac Lab's; "gentle_v2" (l2t/Digit-v2) keeps v2's 15 cm trench round row 0's stones; the default grid
    is exactly the "isaac" one."""
    gentle = T.generate(num_rows=ROWS, types=T.TYPES, seed=3, border_width=2.0, preset="gentle")
    v2 = T.generate(num_rows=ROWS, types=T.TYPES, seed=3, border_width=2.0, preset="gentle_v2")
    r = T.TILE_SIZE / 2 - 1e-6
    for c, kind in enumerate(gentle.types):
        cx, cy = gentle.origins[0, c, :2]
        xy = np.stack(np.meshgrid(np.linspace(cx - r, cx + r, 321), np.linspace(cy - r, cy + r, 321)), -1)
        ground, ground_v2 = gentle.ground_height(xy.reshape(-1, 2)), v2.ground_height(xy.reshape(-1, 2))
        if kind == "random_rough":  # its amplitude starts at 2 cm under every preset
            assert ground.max() == pytest.approx(0.02)
        else:
            assert np.all(np.abs(ground) < EXACT), kind
        if kind == "stepping_stones":  # v2: a 15 cm trench to the pit floor between the stones and the border
            pit = np.abs(xy.reshape(-1, 2) - [cx, cy]).max(-1)[ground_v2 < -1.0]
            assert pit.min() == pytest.approx(3.6, abs=0.03) and pit.max() == pytest.approx(3.75, abs=0.03)
        else:
            np.testing.assert_array_equal(ground_v2, ground)
        assert not np.any(np.isclose(gentle.boxes[:, 5], gentle.boxes[:, 2]))
    for kind, key in (("pyramid_stairs", "step_height"), ("stepping_stones", "gap")):
        assert T.tile_params(kind, 0.0, "gentle")[key] == 0.0 < T.tile_params(kind, 0.0)[key]
        assert T.tile_params(kind, 1.0, "gentle")[key] == pytest.approx(T.tile_params(kind, 1.0)[key])
    isaac = T.generate(num_rows=ROWS, types=T.TYPES, seed=3, border_width=2.0, preset="isaac")
    assert np.array_equal(isaac.boxes, ter.boxes) and np.array_equal(isaac.heights, ter.heights)
    with pytest.raises(ValueError, match="terrain preset must be one of isaac, gentle"):
        T.generate(num_rows=2, preset="mjlab")


@pytest.mark.parametrize("row", range(1, ROWS))
def test_gentle_stones_every_gap_is_the_nominal_one_up_to_the_border(row):
    """Under "gentle" every pit crossing along a line through a row of stones, from the centre platform's far side
    to the tile's border, is exactly the row's gap (the ring before the border included); under "gentle_v2" the
    ring is what the stones' grid leaves."""
    gentle = T.generate(num_rows=ROWS, types=T.TYPES, seed=3, border_width=2.0, preset="gentle")
    c = col(gentle, "stepping_stones")
    p = T.tile_params("stepping_stones", gentle.difficulty[row], "gentle")
    pitch = p["stone_size"] + p["gap"]
    cx, cy = gentle.tile_center(row, c)
    x = np.linspace(pitch - p["stone_size"] / 2 + 1e-4, T.TILE_SIZE / 2 - 1e-4, 40001)  # from the first stone out
    z = gentle.ground_height(np.stack([cx + x, np.full_like(x, cy + pitch)], -1))
    pit = z < -1.0
    edges = np.flatnonzero(np.diff(pit.astype(int)))
    widths = x[edges[1::2]] - x[edges[::2]]  # (into the pit, out of it) pairs
    assert len(widths) >= 2 and z[-1] == 0.0  # crossings, then the border at z = 0
    np.testing.assert_allclose(widths, p["gap"], atol=2 * (x[1] - x[0]))
