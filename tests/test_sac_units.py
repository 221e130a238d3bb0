"""Units of l2t_sac_mujoco.py: the policy's log-probability, the batched critic, the buffer, the losses."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.distributions import Normal, TanhTransform, TransformedDistribution, kl_divergence

from conftest import medium_precision_changes_products


def test_actor_log_prob_matches_torch_distributions(sac):
    torch.manual_seed(0)
    actor = sac.Actor(5, 3, 32)
    x = torch.randn(64, 5)
    torch.manual_seed(1)
    action, log_prob, mean, log_std = actor.sample(x)
    assert action.shape == (64, 3) and log_prob.shape == (64,)
    assert torch.all(action.abs() < 1)
    reference = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])
    # compare away from |a| = 1, where the reference's atanh is ill-conditioned in float32
    ok = action.abs().max(-1).values < 0.999
    torch.testing.assert_close(log_prob[ok], reference.log_prob(action).sum(-1)[ok], rtol=1e-4, atol=1e-3)
    assert torch.equal(actor.act(x), torch.tanh(mean))


def test_twin_q_is_two_independent_mlps(sac):
    torch.manual_seed(0)
    critic = sac.TwinQ(7, 16)
    s, a = torch.randn(10, 4), torch.randn(10, 3)
    q = critic(s, a)
    assert q.shape == (2, 10)
    for j in range(2):
        x = torch.cat([s, a], -1)
        for i, (w, b) in enumerate(zip(critic.weights, critic.biases)):
            x = x @ w[j] + b[j]
            x = torch.relu(x) if i < 2 else x
        torch.testing.assert_close(q[j], x.squeeze(-1))
    assert not torch.equal(q[0], q[1])  # independently initialised
    q.sum().backward()
    assert all(p.grad is not None for p in critic.parameters())
    critic.zero_grad()
    a.requires_grad_(True)
    critic(s, a, detach_params=True).sum().backward()
    assert a.grad is not None and all(p.grad is None for p in critic.parameters())


def test_replay_buffer_wraps_and_round_trips(sac):
    rb = sac.ReplayBuffer(5, state_dim=2, action_dim=1, device="cpu")
    for k in range(3):  # 2 envs a step: 6 rows into capacity 5
        s = np.array([[10.0 * k, 0], [10.0 * k + 1, 0]])
        rb.add(s, s + 0.5, np.zeros((2, 1)), np.array([k, k + 0.5]), s + 100, s + 100.5, np.array([0.0, 1.0]))
    assert rb.size == 5 and rb.pos == 1
    assert rb.storage[0, 0] == 21.0  # the oldest row was overwritten by the newest
    batch = rb.sample(64)
    assert batch["state"].shape == (64, 2) and batch["reward"].shape == (64,) and batch["terminated"].shape == (64,)
    torch.testing.assert_close(batch["obs"], batch["state"] + 0.5)
    torch.testing.assert_close(batch["next_state"], batch["state"] + 100)
    other = sac.ReplayBuffer(5, 2, 1, "cpu")
    other.load_state_dict(rb.state_dict())
    assert torch.equal(other.storage, rb.storage) and (other.pos, other.size) == (rb.pos, rb.size)
    with pytest.raises(ValueError):
        sac.ReplayBuffer(5, 3, 1, "cpu").load_state_dict(rb.state_dict())


def test_critic_target_stops_at_termination_only(sac):
    """Eq. (1): trained on a fixed batch, Q(s, a) -> r where terminated, and -> r + gamma*(...) where not."""
    torch.manual_seed(0)
    teacher, critic, target = sac.Actor(3, 2, 32), sac.TwinQ(5, 64), sac.TwinQ(5, 64)
    target.load_state_dict(critic.state_dict())
    for p in target.parameters():  # a target critic that says Q = 10 everywhere
        nn.init.zeros_(p)
    with torch.no_grad():
        target.biases[-1].fill_(10.0)
    data = {
        "state": torch.randn(32, 3),
        "action": torch.rand(32, 2) * 2 - 1,
        "next_state": torch.randn(32, 3),
        "reward": torch.ones(32),
        "terminated": (torch.arange(32) % 2).float(),
    }
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
    losses = []
    for _ in range(400):
        loss, _ = sac.critic_loss(data, teacher, critic, target, ent_coef=torch.tensor(0.0), gamma=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    q = critic(data["state"], data["action"])
    terminal = data["terminated"] == 1
    torch.testing.assert_close(q[:, terminal], torch.ones_like(q[:, terminal]), atol=0.05, rtol=0)
    torch.testing.assert_close(q[:, ~terminal], torch.full_like(q[:, ~terminal], 1 + 0.5 * 10), atol=0.05, rtol=0)
    assert losses[-1] < 0.01 * losses[0]


class QuadraticCritic(nn.Module):
    """Q(s, a) = -10 ||a - teacher's mean action(s)||^2 for both critics: its best action is the teacher's."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher = teacher

    def forward(self, state, action, detach_params=False):
        return (-10 * (action - self.teacher.act(state)).pow(2).sum(-1)).expand(2, -1)


@pytest.mark.parametrize("kind", ["l1", "l2", "kl", "asym", "l1+asym", "l2+asym"])
def test_each_student_loss_is_finite_and_pulls_the_student_to_the_teacher(sac, kind):
    """Eqs. (3)-(6) as the loop calls them: the student on the noisy o, the teacher's critic on the clean s."""
    torch.manual_seed(0)
    teacher, student = sac.Actor(5, 3, 64), sac.Actor(5, 3, 64)
    state = torch.randn(128, 5)
    data = {"state": state, "obs": state + 0.1 * state.abs() * (torch.rand_like(state) * 2 - 1)}
    ent_coef = torch.tensor(1e-3)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    critic = QuadraticCritic(teacher)

    def gap():
        return (student.act(data["obs"]) - teacher.act(data["state"])).abs().mean().item()

    before = gap()
    for _ in range(60):
        _, _, mean_t, log_std_t = teacher.sample(data["state"])
        action_s, log_prob_s, mean_s, log_std_s = student.sample(data["obs"])
        q_s = critic(data["state"], action_s).min(0).values if kind.endswith("asym") else None
        loss, bc, asym = sac.student_loss(
            kind, (log_prob_s, mean_s, log_std_s), mean_t.detach(), log_std_t.detach(), q_s, ent_coef
        )
        assert torch.isfinite(loss) and torch.isfinite(bc) and torch.isfinite(asym)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert gap() < 0.5 * before
    assert (bc.item() != 0) == (kind != "asym") and (asym.item() != 0) == kind.endswith("asym")
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is a fixed target


def test_kl_loss_is_the_gaussian_kl(sac):
    torch.manual_seed(0)
    ms, ls, mt, lt = torch.randn(16, 3), torch.randn(16, 3) * 0.3, torch.randn(16, 3), torch.randn(16, 3) * 0.3
    reference = kl_divergence(Normal(ms, ls.exp()), Normal(mt, lt.exp())).sum(-1).mean()
    torch.testing.assert_close(sac.student_loss("kl", (None, ms, ls), mt, lt, None, None)[1], reference)
    assert sac.student_loss("kl", (None, mt, lt), mt, lt, None, None)[1].abs() < 1e-6


def test_bf16_matmul_precision_stays_close_to_float32_and_trains_float32_weights(sac):
    """--bf16 is torch's "medium" float32 matmul precision: the same networks give outputs within bfloat16's rounding
    of the float32 ones, still float32, and float32 gradients reach the float32 weights."""
    torch.manual_seed(0)
    actor, critic = sac.Actor(5, 3, 64), sac.TwinQ(8, 64)
    x, a = torch.randn(256, 5), torch.rand(256, 3) * 2 - 1
    out = {}
    try:
        for precision in ("highest", "medium"):
            torch.set_float32_matmul_precision(precision)
            critic.zero_grad()
            q = critic(x, a)
            q.sum().backward()
            out[precision] = (*actor(x), q, [p.grad.clone() for p in critic.parameters()])
    finally:
        torch.set_float32_matmul_precision("highest")
    (m32, s32, q32, g32), (m16, s16, q16, g16) = out["highest"], out["medium"]
    assert m16.dtype == s16.dtype == q16.dtype == torch.float32 and q16.shape == (2, 256)
    for lo, hi in ((m16, m32), (s16, s32), (q16, q32)):
        torch.testing.assert_close(lo, hi, atol=0.05, rtol=0.05)
    # it rounded the products' inputs to bfloat16 where the CPU has bfloat16 hardware, else computed in float32
    assert torch.equal(q16, q32) != medium_precision_changes_products()
    assert all(g.dtype == torch.float32 for g in g16)
    for lo, hi in zip(g16, g32):  # sums over the batch: single entries may cancel, so compare whole tensors
        assert (lo - hi).norm() < 0.05 * hi.norm()  # measured: at most 2 %
