"""What l2t_ppo_digit.py's learner costs per env step, without the physics.

    python benchmarks/digit_learner_cost.py                                    # fresh networks
    python benchmarks/digit_learner_cost.py --init-from runs/<run>/checkpoint.pt
    python benchmarks/digit_learner_cost.py --init-from ... --no-flush-denormal   # the slow path, for comparison
    python benchmarks/digit_learner_cost.py --init-from ... --no-student-thread    # the student after the teacher

Runs the script's own `main` (rollout, GAE, PPO and student updates, logging) for `--iterations` iterations on a
vector env that costs nothing: 64 envs whose observations are fixed Gaussian draws and whose episodes all end every
100 steps. From the run's own `charts/SPS`, `charts/learn_fraction` and `charts/sim_fraction` (first iteration
dropped: warm-up) it prints the learner's milliseconds per env step, split into the rollout's network passes
(teacher, critic, student LSTM step, normalisers) and the update (PPO on the teacher and critic, the student's
sequence step). `--init-from` starts from a trained checkpoint's networks (what a long run updates: with
`--no-flush-denormal`, its critic's denormal floats slow the update about 2x). The physics' cost per env step is
`benchmarks/digit_throughput.py`'s; a training run logs both in the same tags. The script's threads (one in the
rollout, `--update-threads` in the update); other load on the machine distorts the numbers (the load average is
printed).
"""

import argparse
import importlib.util
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from envs.digit.env import OBS_DIM  # noqa: E402


class FreeEnvs:
    """DigitVectorEnv's interface at no cost: fixed observations, reward 1, every episode ends each 100 steps."""

    def __init__(self, num_envs, seed):
        rng = np.random.default_rng(seed)
        self.num_envs = num_envs
        self.obs = {k: rng.normal(size=(num_envs, OBS_DIM)).astype(np.float32) for k in ("state", "observation")}
        self.t = 0

    def reset(self, seed=None, options=None):
        return self.obs, {}

    def step(self, action):
        self.t += 1
        n = self.num_envs
        ended = np.full(n, self.t % 100 == 0)
        episode = {k: np.ones(n) for k in ("r", "l", "success", "distance_walked", "terrain_level", "terrain_col")}
        return self.obs, np.ones(n, np.float32), ended, np.zeros(n, bool), {"episode": episode, "_episode": ended}

    def call(self, *args):
        return None

    def get_attr(self, name):  # the checkpoint's terrain levels
        return (0,) * self.num_envs

    def close(self):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--init-from", default=None, help="an l2t_ppo_digit checkpoint: start from its networks")
    parser.add_argument("--no-flush-denormal", action="store_true")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--update-threads", type=int, default=None, help="the script's --update-threads")
    parser.add_argument("--symmetry", action="store_true", help="the script's --symmetry")
    parser.add_argument("--no-student-thread", action="store_true", help="the script's --no-student-thread")
    a = parser.parse_args()
    if a.iterations < 2:
        raise SystemExit("digit_learner_cost.py: error: --iterations must be at least 2 (the first is warm-up)")
    if a.init_from is not None and not os.path.isfile(a.init_from):
        raise SystemExit(f"digit_learner_cost.py: error: --init-from: no file at '{a.init_from}'")
    spec = importlib.util.spec_from_file_location("l2t_ppo_digit", os.path.join(ROOT, "l2t_ppo_digit.py"))
    ppo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ppo)
    ppo.make_envs = lambda num_envs, num_workers, seed, *rest: FreeEnvs(num_envs, seed)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as runs:
        args = ppo.Args(
            num_envs=a.num_envs,
            num_workers=0,
            total_timesteps=a.num_envs * 24 * a.iterations,
            eval_frequency=0,
            eval_episodes=2,
            checkpoint_frequency=0,
            runs_dir=runs,
            flush_denormal=not a.no_flush_denormal,
            terrain="flat" if a.init_from is None else "rough",
            symmetry=a.symmetry,
            student_thread=not a.no_student_thread,
        )
        if a.update_threads is not None:
            args.update_threads = a.update_threads
        if a.init_from is not None:  # the checkpoint's networks and normalisers, on its own ground
            from envs import checkpoint as checkpoint_file

            trained = checkpoint_file.load(a.init_from)
            args.terrain = trained["terrain"]

            class TrainedNets(ppo.L2TNets):
                def __init__(self, *net_args):
                    super().__init__(*net_args)
                    self.load_state_dict(trained["nets"])

            ppo.L2TNets = TrainedNets
        run_dir = ppo.main(args)
        (path,) = [os.path.join(run_dir, f) for f in os.listdir(run_dir) if f.startswith("events.out")]
        ea = EventAccumulator(path, size_guidance={"scalars": 0})
        ea.Reload()
        tag = {
            t: np.array([e.value for e in ea.Scalars(f"charts/{t}")][1:])
            for t in ("SPS", "learn_fraction", "sim_fraction")
        }
    ms = 1e3 / tag["SPS"]  # ms per env step of each iteration
    update = ms * tag["learn_fraction"]
    rollout = ms * (1.0 - tag["learn_fraction"] - tag["sim_fraction"])
    print(
        f"load average before: {load:.2f}; {a.num_envs} envs x 24 steps, {a.iterations - 1} "
        f"iterations timed; networks: {a.init_from or 'fresh'}; flush denormals: {not a.no_flush_denormal}; "
        f"update threads: {args.update_threads}; student thread: {args.student_thread}; symmetry: {args.symmetry}"
    )
    print("| part | ms per env step, median [min, max] |\n|---|---|")
    for name, v in (
        ("rollout: network passes", rollout),
        ("update: PPO teacher + critic, student", update),
        ("learner in all", ms),
    ):
        print(f"| {name} | {np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}] |")


if __name__ == "__main__":
    main()
