"""The height-scan probe (docs/l2t_ppo_digit.md, "The 10M-step report"): l2t_ppo_digit.py with the teacher's and
the critic's 187 height-scan inputs centred by the running mean frozen at the (re)start and NOT divided by the
running std (scale 1; Isaac Lab feeds the scan raw). A probe harness, not part of the recipe:

    python checkpoints/digit_v3_scan_probe/probe.py --alpha-mix 0.2 --num-workers 0 --update-threads 1 \\
        --resume checkpoints/digit_v3_scan_probe/checkpoint.pt
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import torch  # noqa: E402
import tyro  # noqa: E402

import l2t_ppo_digit as ppo  # noqa: E402
from envs.digit.env import OBS_DIM, OBS_SLICES  # noqa: E402

SCAN = OBS_SLICES["height_scan"]
frozen = {}
running_forward = ppo.EmpiricalNormalization.forward


def forward(self, x):
    y = running_forward(self, x)
    if self.mean.shape[0] == OBS_DIM:  # the state's normaliser (teacher and critic), not the student's
        if "mean" not in frozen:
            frozen["mean"] = self.mean[SCAN].clone()
            print("scan mean frozen at", float(frozen["mean"].mean()), flush=True)
        scan = (x[..., SCAN] - frozen["mean"]) * self.keep[SCAN]
        y = torch.cat([y[..., : SCAN.start], scan, y[..., SCAN.stop :]], -1)
    return y


ppo.EmpiricalNormalization.forward = forward
if __name__ == "__main__":
    ppo.main(tyro.cli(ppo.Args))
