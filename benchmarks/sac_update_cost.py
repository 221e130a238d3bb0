"""Cost of one l2t_sac_mujoco.py gradient step on a random HalfCheetah-sized batch (17 state, 6 action, 256 hidden,
batch 256): the critic step plus one actor step (the loop's average with policy_frequency 2), teacher alone and with
the default l1+asym student, float32 and --bf16 (float32 matmuls from bfloat16-rounded inputs), interleaved,
median of 6 blocks of 40 steps.

    python benchmarks/sac_update_cost.py [torch threads, default 1]
"""

import importlib.util
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
spec = importlib.util.spec_from_file_location("sac", os.path.join(ROOT, "l2t_sac_mujoco.py"))
sac = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sac)
S, A, H, B = 17, 6, 256, 256


def build(bf16, kind):
    """One update step's closure; `bf16`: run it under --bf16's matmul precision ("medium")."""
    t, st = sac.Actor(S, A, H), sac.Actor(S, A, H)
    c, tc = sac.TwinQ(S + A, H), sac.TwinQ(S + A, H)
    opts = [torch.optim.Adam(m.parameters(), lr=3e-4, fused=True) for m in (t, st, c)]
    data = {
        "state": torch.randn(B, S),
        "obs": torch.randn(B, S),
        "action": torch.rand(B, A) * 2 - 1,
        "next_state": torch.randn(B, S),
        "reward": torch.randn(B),
        "terminated": torch.zeros(B),
    }

    def step():
        qf, _ = sac.critic_loss(data, t, c, tc, torch.tensor(0.1), 0.99)
        opts[2].zero_grad()
        qf.backward()
        opts[2].step()
        a_t, lp_t, m_t, ls_t = t.sample(data["state"])
        if kind == "none":
            q_t = c(data["state"], a_t, detach_params=True).min(0).values
            loss = (0.1 * lp_t - q_t).mean()
        else:
            a_s, lp_s, m_s, ls_s = st.sample(data["obs"])
            q = c(data["state"].repeat(2, 1), torch.cat([a_t, a_s]), detach_params=True).min(0).values
            q_t, q_s = q.chunk(2)
            loss = (0.1 * lp_t - q_t).mean() + sac.student_loss(
                kind, (lp_s, m_s, ls_s), m_t.detach(), ls_t.detach(), q_s, torch.tensor(0.1)
            )[0]
        for o in opts[:2]:
            o.zero_grad()
        loss.backward()
        for o in opts[:2]:
            o.step()

    def step_at_precision():
        torch.set_float32_matmul_precision("medium" if bf16 else "highest")
        step()

    return step_at_precision


configs = {(b, k): build(b, k) for b in (False, True) for k in ("none", "l1+asym")}
times = {k: [] for k in configs}
for rep in range(6):
    for k, f in configs.items():
        for _ in range(5):
            f()
        t0 = time.perf_counter()
        for _ in range(40):
            f()
        times[k].append((time.perf_counter() - t0) / 40 * 1e3)
for k, v in times.items():
    print(f"bf16={k[0]!s:5} {k[1]:8}: critic+actor step {statistics.median(v):.2f} ms (min {min(v):.2f})")
