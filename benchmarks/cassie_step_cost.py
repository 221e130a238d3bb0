"""Cost of one l2t/Cassie-v1 step against the raw physics of the same control period, in one process.

    python benchmarks/cassie_step_cost.py              # 2000 env steps (a few seconds)
    python benchmarks/cassie_step_cost.py --steps 500

Zero actions (the robot falls and the env is reset; reset time is excluded). Before every env step the env's
MjData is copied into a scratch MjData (untimed), and ``mujoco.mj_step(model, scratch, nstep=frame_skip)`` is
timed on it: the raw physics from exactly the same state and ctrl. Then ``env.step`` is timed. Both are summed
over all steps; the ratio is env time / raw time (target <= 1.15). Run it on an otherwise idle core.

Measured here (2 cores shared with other work): v0 (0.5 ms Euler, 60 substeps) 685 env steps/s (1.46 ms); v1
(2 ms implicitfast, 15 substeps) 2534 env steps/s (0.395 ms), raw physics 0.32 ms.
"""

import argparse
import os
import sys
import time

import mujoco
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from envs.cassie.env import CassieEnv  # noqa: E402
from envs.cassie.reference import cycle  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    cycle()  # build the reference outside the timing
    env = CassieEnv()
    env.reset(seed=a.seed)
    scratch = mujoco.MjData(env.model)
    action = np.zeros(10, dtype=np.float32)
    t_env = t_raw = 0.0
    resets = 0
    for _ in range(a.steps):
        mujoco.mj_copyData(scratch, env.model, env.data)
        # the ctrl env.step will write (zero action): reference + velocity and torque feed-forward, clipped
        ref = env._ref
        np.clip(
            ref.motor + env._lead * ref.motor_vel + env._ff_gain * ref.motor_torque,
            env._ctrl_lo,
            env._ctrl_hi,
            out=scratch.ctrl,
        )
        t0 = time.perf_counter()
        mujoco.mj_step(env.model, scratch, nstep=env.frame_skip)
        t1 = time.perf_counter()
        _, _, terminated, _, _ = env.step(action)
        t2 = time.perf_counter()
        t_raw += t1 - t0
        t_env += t2 - t1
        if terminated:
            env.reset()
            resets += 1
    print(f"{a.steps} env steps of {env.frame_skip} substeps ({resets} resets, excluded)")
    print(f"env.step: {a.steps / t_env:.1f} steps/s ({1e3 * t_env / a.steps:.3f} ms/step)")
    print(f"raw mj_step(nstep={env.frame_skip}): {a.steps / t_raw:.1f} periods/s ({1e3 * t_raw / a.steps:.3f} ms)")
    print(f"ratio env / raw: {t_env / t_raw:.3f}")


if __name__ == "__main__":
    main()
