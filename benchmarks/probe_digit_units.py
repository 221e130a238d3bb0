"""Exploration probe (b): the teacher's Gaussian learnt in units of 0.025 rad, where its initial std is 1.0.

`l2t_ppo_digit.py` with one change to the teacher: its mean head and its log-std are parameters in units of
`UNIT` env action units (0.05 x 0.5 rad = 0.025 rad; rsl_rl, Isaac Lab and mjlab start the std at 1.0 in their
action units), scaled back to env units in `forward` and in `log_std`. The initial function is the same as the
script's (the last layer is divided by UNIT, the log-std shifted by -log UNIT), so only what the optimiser does
differs: Adam's steps on the mean head are UNIT times as large in env units, 20x smaller (the hidden layers' and the
log-std's are unchanged), and the adaptive learning rate answers the KL that follows. Every other path (env, losses, student, logs of the
action's std) reads env units. A probe harness, not part of the recipe (docs/l2t_ppo_digit.md, "Exploration
probes"):

    python benchmarks/probe_digit_units.py --alpha-mix 0.2 --num-workers 0 --update-threads 1 --seed 1 \\
        --exp-name probe_units
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402
import tyro  # noqa: E402
from torch import nn  # noqa: E402

import l2t_ppo_digit as ppo  # noqa: E402

UNIT = 0.05  # env action units (of 0.5 rad) per unit of the teacher's parameters


class UnitTeacher(ppo.Teacher):
    """pi_t with mean = UNIT * actor(s), log std = log_std_u + log UNIT (the parameters in units of UNIT)."""

    def __init__(self, in_dim: int, action_dim: int, init_std: float):
        super().__init__(in_dim, action_dim, init_std)
        del self.log_std
        self.log_std_u = nn.Parameter(torch.full((action_dim,), math.log(init_std / UNIT)))
        with torch.no_grad():
            self.actor[-1].weight.div_(UNIT)
            self.actor[-1].bias.div_(UNIT)

    @property
    def log_std(self):
        return self.log_std_u + math.log(UNIT)

    def forward(self, state):
        mean = UNIT * self.actor(state)
        return mean, self.log_std.expand_as(mean)


def to_units(ckpt):
    """A checkpoint of the script's Teacher rewritten for `UnitTeacher` (a no-op on one of the harness's): the mean
    head divided by UNIT, the log-std shifted by -log UNIT, and their Adam moments scaled as their gradients are
    (x UNIT, variance x UNIT^2), so that the policy and its next Adam step are the same as the script's."""
    nets = ckpt["nets"]
    if "teacher.log_std" not in nets:
        return ckpt
    last = max(int(k.split(".")[2]) for k in nets if k.startswith("teacher.actor."))
    head = [f"teacher.actor.{last}.weight", f"teacher.actor.{last}.bias"]
    nets = dict(nets)
    nets["teacher.log_std_u"] = nets.pop("teacher.log_std") - math.log(UNIT)
    for key in head:
        nets[key] = nets[key] / UNIT
    optimizer = ckpt["optimizers"]["teacher"]
    state = {i: dict(s) for i, s in optimizer["state"].items()}
    # parameter order: the teacher's own log-std first, then the actor's layers; the head is the last two
    for i in sorted(state)[-2:]:
        state[i]["exp_avg"] = state[i]["exp_avg"] * UNIT
        state[i]["exp_avg_sq"] = state[i]["exp_avg_sq"] * UNIT**2
    optimizers = {**ckpt["optimizers"], "teacher": {**optimizer, "state": state}}
    return {**ckpt, "nets": nets, "optimizers": optimizers}


_load_checkpoint = ppo.load_checkpoint
if __name__ == "__main__":
    ppo.load_checkpoint = lambda path, args: to_units(_load_checkpoint(path, args))
    ppo.Teacher = UnitTeacher  # L2TNets builds its teacher from this name
    ppo.main(tyro.cli(ppo.Args))
