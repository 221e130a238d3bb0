"""Offscreen rendering shared by the robot envs: a camera that follows one body (set MUJOCO_GL=egl headless)."""

import mujoco


class TrackingRenderer:
    """Renders `rgb_array` frames of a model from a camera tracking body `body_id`; created lazily by the envs."""

    def __init__(
        self,
        model,
        body_id: int,
        width: int,
        height: int,
        distance: float,
        elevation: float = -15.0,
        azimuth: float = 90.0,
    ):
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        self._camera.trackbodyid = body_id
        self._camera.distance, self._camera.elevation, self._camera.azimuth = distance, elevation, azimuth

    def render(self, data):
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()

    def close(self):
        self._renderer.close()


def render_still(model, data, azimuth, lookat, width, height, distance, elevation=-10.0):
    """One `rgb_array` frame from a free camera looking at `lookat` (the pictures of benchmarks/render_*.py)."""
    with mujoco.Renderer(model, height=height, width=width) as renderer:
        camera = mujoco.MjvCamera()
        camera.lookat[:] = lookat
        camera.distance, camera.elevation, camera.azimuth = distance, elevation, azimuth
        renderer.update_scene(data, camera=camera)
        return renderer.render()
