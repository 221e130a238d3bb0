"""Pictures of our Cassie model for the README: `home`, and frames of the walking reference at phases 0, 0.2, ...,
0.8 from the side and from the front (offscreen).

    MUJOCO_GL=egl python benchmarks/render_cassie.py      # writes docs/cassie_home.png, docs/cassie_gait.png

Needs only mujoco and numpy (and pillow, which gymnasium[mujoco] installs, to write PNGs).
"""

import os
import sys

import mujoco
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
from envs.cassie import load_model  # noqa: E402
from envs.render import render_still  # noqa: E402
from envs.cassie.reference import reference  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def render(model, data, azimuth, lookat, width=360, height=420, distance=2.4):
    return render_still(model, data, azimuth, lookat, width, height, distance)


def main():
    model = load_model()
    model.vis.global_.offwidth, model.vis.global_.offheight = 1024, 1024
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    mujoco.mj_forward(model, data)
    center = data.body("cassie-pelvis").xpos - [0, 0, 0.45]
    home = np.concatenate([render(model, data, 90, center), render(model, data, 150, center)], 1)
    Image.fromarray(home).save(os.path.join(OUT, "cassie_home.png"))

    # the gait: side view (top row) and front view (bottom row, the sideways sway), same phases; the camera looks
    # at a fixed height and at the pelvis x, and at y = 0 in the front view, so the sway shows against the frame
    rows = []
    for azimuth in (90, 180):
        frames = []
        for phase in (0.0, 0.2, 0.4, 0.6, 0.8):
            data.qpos[:] = reference(phase).qpos
            data.qvel[:] = 0
            mujoco.mj_forward(model, data)
            lookat = np.array([data.qpos[0], 0.0, 0.55])
            frames.append(render(model, data, azimuth, lookat, width=260))
        rows.append(np.concatenate(frames, 1))
    Image.fromarray(np.concatenate(rows, 0)).save(os.path.join(OUT, "cassie_gait.png"))
    print(f"wrote {OUT}/cassie_home.png and {OUT}/cassie_gait.png")


if __name__ == "__main__":
    main()
