"""Terrain access for the Digit task on either backend: ground height at world points, numpy or torch.

``envs.terrain.Terrain.ground_height`` (numpy) is what the MuJoCo-CPU env reads; ``TorchGround`` is the same lookup
on a torch device for the Warp backend, so that the height scan and the feet's height above the ground never leave
the device: the hfield's triangle interpolation (MuJoCo's) and the highest top of the boxes containing a point,
found through the same 1 m bucket table (``Terrain._box_lookup``). tests/test_digit_warp.py checks it against the
numpy lookup.
"""

from __future__ import annotations

import numpy as np


class TorchGround:
    """``ground(xy)``: ground z (...,) at world points xy (..., 2), a torch tensor on ``device``. ``terrain=None``:
    the flat floor at z = 0."""

    def __init__(self, terrain, device, dtype):
        import torch

        self.torch = torch
        self.terrain = terrain
        if terrain is None:
            return
        t = terrain
        self.heights = torch.as_tensor(t.heights.reshape(-1), device=device, dtype=dtype)
        self.ny, self.nx = t.heights.shape
        self.x0, self.y0, self.scale = float(t.x0), float(t.y0), float(t.scale)
        self.has_boxes = len(t.boxes) > 0
        if self.has_boxes:
            bx0, by0, nbx, nby, table, _, rect = t._box_lookup()
            self.bx0, self.by0, self.nbx, self.nby = float(bx0), float(by0), int(nbx), int(nby)
            table = np.where(table >= 0, table, len(rect) - 1)  # -1 -> the empty box (the last row of rect)
            self.table = torch.as_tensor(table, device=device, dtype=torch.long)
            rect = np.where(np.isfinite(rect), rect, np.sign(rect) * 1e9)  # finite in float32
            self.rect = torch.as_tensor(rect, device=device, dtype=dtype)

    def __call__(self, xy):
        torch = self.torch
        if self.terrain is None:
            return torch.zeros(xy.shape[:-1], device=xy.device, dtype=xy.dtype)
        x, y = xy[..., 0], xy[..., 1]
        fx = ((x - self.x0) / self.scale).clamp(0.0, self.nx - 1)
        fy = ((y - self.y0) / self.scale).clamp(0.0, self.ny - 1)
        c = fx.floor().long().clamp(max=self.nx - 2)
        r = fy.floor().long().clamp(max=self.ny - 2)
        u, v = fx - c, fy - r
        h, k = self.heights, r * self.nx + c
        h00, h10, h01, h11 = h[k], h[k + 1], h[k + self.nx], h[k + (self.nx + 1)]
        lower = h00 + (h10 - h00) * u + (h11 - h10) * v  # triangle (0,0) (1,0) (1,1), u >= v
        upper = h00 + (h11 - h01) * u + (h01 - h00) * v  # triangle (0,0) (1,1) (0,1), u < v
        z = torch.where(u >= v, lower, upper)
        if not self.has_boxes:
            return z
        i = (x - self.bx0).floor().long().clamp(0, self.nbx - 1)
        j = (y - self.by0).floor().long().clamp(0, self.nby - 1)
        rect = self.rect[self.table[j * self.nbx + i]]  # (..., K, 5): x_lo, y_lo, x_hi, y_hi, top
        xe, ye = x[..., None], y[..., None]
        inside = (rect[..., 0] <= xe) & (xe <= rect[..., 2]) & (rect[..., 1] <= ye) & (ye <= rect[..., 3])
        top = torch.where(inside, rect[..., 4], torch.full_like(rect[..., 4], -1e9)).amax(-1)
        return torch.maximum(z, top)


__all__ = ["TorchGround"]
