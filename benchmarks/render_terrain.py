"""Picture of the rough-terrain grid (envs/terrain.py) for the README: the whole 10 x 20 grid, and a close-up
of the hardest row (d = 1) with Digit standing on a stairs platform.

    MUJOCO_GL=egl python benchmarks/render_terrain.py      # writes docs/terrain.png

Needs only mujoco and numpy (and pillow to write the PNG).
"""

import os
import sys
import time

import mujoco
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from envs import terrain as T  # noqa: E402
from envs.digit import GROUND_CONTACT_GEOMS, MODEL_PATH, STAND_QPOS  # noqa: E402
from envs.render import render_still  # noqa: E402

WIDTH, HEIGHT = 640, 480


def main():
    t0 = time.perf_counter()
    terrain = T.generate(seed=0)
    spec = mujoco.MjSpec.from_file(str(MODEL_PATH))
    T.add_to_spec(spec, terrain, GROUND_CONTACT_GEOMS)
    spec.visual.global_.offwidth, spec.visual.global_.offheight = WIDTH, HEIGHT
    spec.visual.map.zfar = 500.0
    model = spec.compile()
    print(
        f"generate + add_to_spec + compile: {time.perf_counter() - t0:.2f} s; ngeom {model.ngeom}, "
        f"{model.nhfield} heightfield patches, {model.hfield_data.size} samples ({model.hfield_data.nbytes / 1e6:.1f} MB)"
    )
    data = mujoco.MjData(model)
    row, col = terrain.num_rows - 1, terrain.types.index("pyramid_stairs_inv") - 1  # the last stairs column
    data.qpos[:] = STAND_QPOS
    data.qpos[:3] = terrain.origins[row, col] + [0, 0, STAND_QPOS[2]]
    mujoco.mj_forward(model, data)
    whole = render_still(model, data, 90, [0, 0, 0], WIDTH, HEIGHT, distance=200, elevation=-65)
    # close-up of the hardest rows: Digit on the stairs platform, inverted stairs and stones behind
    lookat = terrain.origins[row, col] + [-2.0, 5.0, 0.0]
    close = render_still(model, data, 215, lookat, WIDTH, HEIGHT, distance=16, elevation=-30)
    Image.fromarray(np.concatenate([whole, close], 1)).save(os.path.join(ROOT, "docs", "terrain.png"))


if __name__ == "__main__":
    main()
