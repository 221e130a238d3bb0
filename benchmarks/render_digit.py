"""Picture of our Digit model for the README: standing on flat ground after 1 s held by the PD (offscreen).

    MUJOCO_GL=egl python benchmarks/render_digit.py      # writes docs/digit_standing.png

The `stand` keyframe (OSU reset pose, feet 0.4 mm above the floor), ctrl = the standing pose, then 1 s of physics
(500 steps of 2 ms) with our PD gains (envs/digit/README.md "Gains"); two views: front-left and side.
Needs only mujoco and numpy (and pillow, which gymnasium[mujoco] installs, to write PNGs).
"""

import os
import sys

import mujoco
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
from envs.digit import STAND_CTRL, load_model  # noqa: E402
from envs.render import render_still  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
SECONDS = 1.0


def render(model, data, azimuth, lookat, width=400, height=520, distance=3.0):
    return render_still(model, data, azimuth, lookat, width, height, distance)


def main():
    model = load_model()
    model.vis.global_.offwidth, model.vis.global_.offheight = 1024, 1024
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("stand").id)
    data.ctrl[:] = STAND_CTRL
    mujoco.mj_step(model, data, nstep=int(round(SECONDS / model.opt.timestep)))
    mujoco.mj_forward(model, data)
    torso = data.body("torso").xpos
    center = torso - [0, 0, 0.35]
    image = np.concatenate([render(model, data, 150, center), render(model, data, 90, center)], 1)
    path = os.path.join(OUT, "digit_standing.png")
    Image.fromarray(image).save(path)
    print(f"wrote {path} (torso height after {SECONDS:g} s: {torso[2]:.3f} m)")


if __name__ == "__main__":
    main()
