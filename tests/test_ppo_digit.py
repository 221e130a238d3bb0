"""l2t_ppo_digit.py: sample mixing, the LSTM student's sequences, PPO's losses and GAE, the run end to end.

Most tests run the script's functions on `FakeDigitVec`, a stand-in with DigitVectorEnv's interface whose episodes
end at known steps; the smoke test runs the real Digit env (flat terrain, short episodes).
"""

import glob
import math
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import ROOT, load_script, scalars
from envs import checkpoint as checkpoint_file
from envs.digit.env import OBS_DIM, STUDENT_DIM

SCRIPT = os.path.join(ROOT, "l2t_ppo_digit.py")


@pytest.fixture
def ppo():
    return load_script("l2t_ppo_digit")


class FakeDigitVec(gym.vector.VectorEnv):
    """DigitVectorEnv's interface without physics: random observations; env i's episodes last lengths[i] steps and
    end alternately terminated (odd episodes) and truncated (even ones). `actions` records what was sent. Terrain
    levels: env i starts on i % 4 (a seeded reset without options), each episode end moves it up one (mod 10);
    `reset(options={"terrain_level": levels})` sets them, and `reset_options` records the options."""

    def __init__(self, num_envs, lengths=None, reward=1.0, seed=0):
        self.num_envs = num_envs
        self.lengths = np.asarray(lengths if lengths is not None else [5 + i for i in range(num_envs)])
        self.reward = reward
        self.rng = np.random.default_rng(seed)
        box = gym.spaces.Box(-np.inf, np.inf, shape=(num_envs, OBS_DIM), dtype=np.float32)
        self.observation_space = gym.spaces.Dict({"state": box, "observation": box})
        self.actions = []

    def _obs(self):
        state = self.rng.normal(size=(self.num_envs, OBS_DIM)).astype(np.float32)
        return {"state": state, "observation": state + 0.1 * self.rng.normal(size=state.shape).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.reset_options = options
        levels = None if options is None else options.get("terrain_level")
        self.levels = np.arange(self.num_envs) % 4 if levels is None else np.array(levels)
        self.t = np.zeros(self.num_envs, dtype=int)
        self.episode = np.zeros(self.num_envs, dtype=int)
        return self._obs(), {}

    def step(self, actions):
        self.actions.append(np.array(actions))
        self.t += 1
        done = self.t >= self.lengths
        terminated = done & (self.episode % 2 == 1)
        truncated = done & ~terminated
        obs = self._obs()
        infos = {}
        if done.any():
            final = self._obs()
            infos = {
                "final_obs": final,
                "_final_obs": done.copy(),
                "_episode": done.copy(),
                "episode": {
                    "r": self.t * self.reward,
                    "l": self.t.copy(),
                    "terrain_level": np.ones(self.num_envs),
                    "distance_walked": np.full(self.num_envs, 2.0),
                    "success": truncated.astype(float),
                    "terrain_col": np.arange(self.num_envs) % 20,
                },
            }
            self.t[done] = 0
            self.episode[done] += 1
            self.levels[done] = (self.levels[done] + 1) % 10
        rewards = np.full(self.num_envs, self.reward, dtype=np.float32)
        return obs, rewards, terminated, truncated, infos

    def call(self, name, *args, **kwargs):
        self.calls = getattr(self, "calls", []) + [(name, args)]
        return (None,) * self.num_envs

    def get_attr(self, name):
        assert name == "terrain_level"
        return tuple(int(level) for level in self.levels)

    def close(self, **kwargs):
        pass


def fresh(ppo, normalization=False, seed=0):
    torch.manual_seed(seed)
    return ppo.L2TNets(16, 1.0, normalization)


def rollout(ppo, nets, envs, alpha_mix, steps, kind="il", seed=1):
    obs, _ = envs.reset(seed=seed)
    return ppo.collect_rollout(
        envs, nets, obs, nets.student.initial_hidden(envs.num_envs), alpha_mix, steps, 0.99, kind, "cpu"
    )


# --- Eq. (1): sample mixing --------------------------------------------------------------------------------------


def test_student_acts_with_probability_alpha_mix_in_every_env(ppo):
    nets, envs = fresh(ppo), FakeDigitVec(6, lengths=[7] * 6)
    buf = rollout(ppo, nets, envs, 0.3, 400)[0]
    per_env = buf["student_acted"].mean(0).numpy()
    sigma = math.sqrt(0.3 * 0.7 / 400)
    assert np.all(np.abs(per_env - 0.3) < 4 * sigma), per_env
    # independently per env: the envs do not all switch together (the authors' code drew one coin for all)
    acted = buf["student_acted"]
    assert 0 < (acted.sum(1) % 6 != 0).float().mean()
    assert abs(acted.mean().item() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 2400)


def test_alpha_mix_zero_never_lets_the_student_act(ppo):
    nets, envs = fresh(ppo), FakeDigitVec(4)
    buf = rollout(ppo, nets, envs, 0.0, 100)[0]
    assert buf["student_acted"].sum() == 0
    assert ppo.mix_coefficient(0, 1000, 0.2, 0.5) == 0.0
    assert ppo.mix_coefficient(250, 1000, 0.2, 0.5) == pytest.approx(0.1)
    assert ppo.mix_coefficient(900, 1000, 0.2, 0.5) == pytest.approx(0.2)
    assert ppo.mix_coefficient(0, 1000, 0.2, 0.0) == pytest.approx(0.2)  # fraction 0: constant


def test_executed_action_is_the_students_exactly_where_it_acted(ppo):
    nets, envs = fresh(ppo), FakeDigitVec(4)
    with torch.no_grad():  # near-deterministic policies with different means: the sender is identifiable
        nets.teacher.log_std.fill_(-20.0)
        nets.teacher.actor[-1].bias.fill_(0.5)
        nets.student.head[-1].bias.fill_(-0.5)
    buf = rollout(ppo, nets, envs, 0.5, 50)[0]
    sent = torch.as_tensor(np.stack(envs.actions), dtype=torch.float32)
    acted = buf["student_acted"].bool()
    expected = torch.where(acted.unsqueeze(-1), buf["student_mean"], buf["teacher_mean"]).clamp(-1, 1)
    assert torch.allclose(sent, expected, atol=1e-5)
    assert 0 < acted.float().mean() < 1


def test_stored_log_probs_and_values_are_the_teachers_for_every_executed_action(ppo):
    nets, envs = fresh(ppo, normalization=True), FakeDigitVec(4)
    with torch.no_grad():
        nets.student.head[-1].bias.fill_(0.7)  # student actions far from the teacher's
    buf = rollout(ppo, nets, envs, 0.5, 40)[0]
    with torch.no_grad():
        mean, log_std = nets.teacher(buf["states"])
        recomputed = torch.distributions.Normal(mean, log_std.exp()).log_prob(buf["actions"]).sum(-1)
        values = nets.value(buf["states"])
        student_lp = (
            torch.distributions.Normal(buf["student_mean"], nets.teacher.log_std.exp()).log_prob(buf["actions"]).sum(-1)
        )
    assert torch.allclose(buf["logprobs"], recomputed, atol=1e-4)
    assert torch.allclose(buf["values"], values, atol=1e-6)
    assert torch.allclose(buf["student_logprob"], student_lp, atol=1e-4)  # `il`: sampled with the teacher's std
    acted = buf["student_acted"].bool()
    assert acted.any() and not torch.allclose(buf["logprobs"][acted], buf["student_logprob"][acted], atol=1.0)


# --- the LSTM student ----------------------------------------------------------------------------------------------


def test_hidden_state_is_zero_at_the_start_of_every_episode(ppo):
    nets, envs = fresh(ppo), FakeDigitVec(3, lengths=[3, 5, 30])
    buf, _, hidden, _, _ = rollout(ppo, nets, envs, 0.2, 12)
    dones = buf["dones"].bool()
    assert dones[:, 0].sum() == 4 and dones[:, 1].sum() == 2 and dones[:, 2].sum() == 0
    for t in range(11):
        for i in range(3):
            norm = buf["h"][t + 1, i].abs().sum() + buf["c"][t + 1, i].abs().sum()
            assert (norm == 0) == bool(dones[t, i]), (t, i)
    assert (buf["h"][0] == 0).all()  # the first rollout starts from zero
    assert (hidden[0][0] == 0).all() and (hidden[0][2] != 0).any()  # env 0's episode ended at the last step


def test_sequence_minibatch_reproduces_the_rollout_outputs(ppo):
    nets, envs = fresh(ppo, normalization=True), FakeDigitVec(6, lengths=[2, 3, 5, 7, 11, 40])
    obs, _ = envs.reset(seed=3)
    hidden = nets.student.initial_hidden(6)
    for _ in range(2):  # the second rollout starts from non-zero hidden states
        buf, obs, hidden, _, _ = ppo.collect_rollout(envs, nets, obs, hidden, 0.2, 10, 0.99, "il", "cpu")
    assert (buf["h"][0, 5] != 0).any()
    for envs_k in (torch.arange(6), torch.tensor([4, 1]), torch.tensor([0, 2, 5])):
        means = nets.student.sequence(
            buf["obs"][:, envs_k], (buf["h"][0, envs_k], buf["c"][0, envs_k]), buf["dones"][:, envs_k]
        )
        # the same computation up to rounding: the matmul kernels may round the last bit differently for another
        # batch size, and for the same batch on another CPU (bitwise equal on an AMD EPYC, not on an Intel Xeon)
        assert torch.allclose(means, buf["student_mean"][:, envs_k], rtol=0, atol=1e-6)
        assert means.requires_grad  # the training path, not a no-grad replay


# --- PPO ---------------------------------------------------------------------------------------------------------


def test_clipped_surrogate_and_value_loss_match_hand_computation(ppo):
    new_lp = torch.tensor([0.0, 0.5, -0.5])
    old_lp = torch.zeros(3)
    adv = torch.tensor([1.0, 1.0, -2.0])
    # ratios 1, e^0.5 = 1.6487, e^-0.5 = 0.6065; clip 0.2:
    # sample 0: max(-1, -1) = -1; sample 1: max(-1.6487, -1.2) = -1.2; sample 2 (A < 0): max(1.2131, 1.6) = 1.6
    new_v, old_v, ret = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 2.5, 0.0]), torch.tensor([2.0, 2.0, 1.0])
    # clipped V: 0.5 + 0.2 = 0.7, 2.5 - 0.2 = 2.3, 0.0; errors max((1-2)^2, (0.7-2)^2) = 1.69, max(0, 0.09), 1
    policy, value, clipfrac = ppo.ppo_loss_terms(new_lp, old_lp, adv, new_v, old_v, ret, 0.2, True)
    assert policy.item() == pytest.approx((-1.0 - 1.2 + 1.6) / 3, abs=1e-6)
    assert value.item() == pytest.approx((1.69 + 0.09 + 1.0) / 3, abs=1e-6)
    assert clipfrac.item() == pytest.approx(2 / 3)
    _, unclipped, _ = ppo.ppo_loss_terms(new_lp, old_lp, adv, new_v, old_v, ret, 0.2, False)
    assert unclipped.item() == pytest.approx((1.0 + 0.0 + 1.0) / 3, abs=1e-6)


def test_gae_by_hand_with_an_episode_end(ppo):
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [2.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    last = torch.tensor([4.0])
    adv, ret = ppo.compute_gae(rewards, values, dones, last, gamma, lam)
    d2 = 3.0 + 0.9 * 4.0 - 2.0  # the new episode's step, bootstrapped from the value after the rollout
    d1 = 2.0 - 1.0  # the episode ended here: no bootstrap, no lookahead into the next episode
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    assert adv[:, 0].tolist() == pytest.approx([d0 + 0.9 * 0.8 * d1, d1, d2])
    assert torch.allclose(ret, adv + values)


def test_timeout_reward_bootstraps_from_the_real_last_state(ppo):
    nets, envs = fresh(ppo), FakeDigitVec(2, lengths=[3, 4], reward=1.0)
    finals = []
    step = envs.step

    def spy(actions):
        out = step(actions)
        if out[4]:
            finals.append((out[4]["final_obs"]["state"].copy(), out[3].copy(), out[2].copy()))
        return out

    envs.step = spy
    buf = rollout(ppo, nets, envs, 0.0, 8)[0]
    # env 0 ends at steps 2 (truncated: first episode), 5 (terminated), env 1 at 3 (truncated), 7 (terminated)
    assert buf["dones"][:, 0].nonzero().flatten().tolist() == [2, 5]
    assert buf["dones"][:, 1].nonzero().flatten().tolist() == [3, 7]
    with torch.no_grad():
        for t, i, (state, truncated, terminated) in ((2, 0, finals[0]), (3, 1, finals[1])):
            assert truncated[i] and not terminated[i]
            v = nets.value(nets.state_norm(torch.as_tensor(state[i : i + 1])))[0]
            assert buf["rewards"][t, i].item() == pytest.approx(1.0 + 0.99 * v.item(), abs=1e-6)
    assert buf["rewards"][5, 0].item() == 1.0 and buf["rewards"][7, 1].item() == 1.0  # terminations: no bootstrap
    assert buf["rewards"][0, 0].item() == 1.0


def test_adaptive_learning_rate_follows_rsl_rl(ppo):
    assert ppo.adapt_learning_rate(1e-3, 0.03, 0.01) == pytest.approx(1e-3 / 1.5)
    assert ppo.adapt_learning_rate(1e-3, 0.004, 0.01) == pytest.approx(1.5e-3)
    assert ppo.adapt_learning_rate(1e-3, 0.0, 0.01) == 1e-3  # KL exactly 0 (first minibatch): unchanged
    assert ppo.adapt_learning_rate(1e-3, 0.01, 0.01) == 1e-3
    assert ppo.adapt_learning_rate(1.2e-5, 1.0, 0.01) == 1e-5 and ppo.adapt_learning_rate(9e-3, 1e-4, 0.01) == 1e-2


def test_student_losses(ppo):
    torch.manual_seed(0)
    mean_s, mean_t = torch.randn(5, 3, 20), torch.randn(5, 3, 20)
    ls_s, ls_t = torch.full((5, 3, 20), -0.3), torch.full((5, 3, 20), 0.2)
    il = ppo.student_loss_terms("il", mean_s, ls_s, mean_t, ls_t)
    assert il.item() == pytest.approx((mean_s - mean_t).pow(2).sum(-1).mean().item())
    kl = ppo.student_loss_terms("kl", mean_s, ls_s, mean_t, ls_t)
    ref = (
        torch.distributions.kl_divergence(
            torch.distributions.Normal(mean_s, ls_s.exp()), torch.distributions.Normal(mean_t, ls_t.exp())
        )
        .sum(-1)
        .mean()
    )
    assert kl.item() == pytest.approx(ref.item(), rel=1e-5)
    # the asymmetric term at the rollout-time student: ratio 1, the loss is -mean(A); its gradient raises the
    # student's probability of actions with positive teacher advantage
    actions = torch.randn(5, 3, 20)
    log_std = torch.zeros(20)
    mean = mean_s.clone().requires_grad_()
    old = ppo.gaussian_log_prob(actions, mean_s, log_std)
    adv = torch.randn(5, 3)
    loss = ppo.asym_loss(mean, log_std, actions, old, adv, 0.2)
    assert loss.item() == pytest.approx(-adv.mean().item(), abs=1e-6)
    loss.backward()
    expected = -(adv.unsqueeze(-1) * (actions - mean_s)) / 15  # -A d log N / d mean, averaged
    assert torch.allclose(mean.grad, expected, atol=1e-6)


# --- the script end to end ---------------------------------------------------------------------------------------


def fake_args(ppo, tmp_path, **overrides):
    kwargs = dict(
        num_envs=4,
        num_workers=0,
        num_steps=6,
        num_minibatches=2,
        update_epochs=2,
        total_timesteps=48,
        eval_frequency=0,
        eval_episodes=2,
        checkpoint_frequency=0,
        runs_dir=str(tmp_path),
    )
    kwargs.update(overrides)
    return ppo.Args(**kwargs)


@pytest.fixture
def fake_envs(ppo, monkeypatch):
    made = []

    def make(
        num_envs,
        num_workers,
        seed,
        alpha,
        noise,
        env_kwargs,
        terrain_columns="fixed",
        backend="mujoco",
        device="cpu",
        reward=1.0,
    ):
        made.append(FakeDigitVec(num_envs, reward=reward, seed=seed))
        made[-1].terrain_columns = terrain_columns
        return made[-1]

    monkeypatch.setattr(ppo, "make_envs", make)
    return made


@pytest.mark.parametrize("kind", ["il", "kl", "il+asym"])
def test_every_student_loss_trains_and_logs(ppo, tmp_path, fake_envs, kind):
    run_dir = ppo.main(fake_args(ppo, tmp_path, student_loss=kind, alpha_mix=0.5, mix_schedule_fraction=0.0))
    logged = scalars(run_dir)
    for tag in (
        "losses/student_imitation_loss",
        "losses/policy_loss",
        "losses/value_loss",
        "losses/imitation_gap",
        "charts/student_action_fraction",
        "charts/learning_rate",
        "charts/sim_fraction",
        "eval/student_return",
    ):
        assert tag in logged and all(np.isfinite(v) for _, v in logged[tag]), tag
    assert logged["charts/alpha_mix"][0][1] == pytest.approx(0.5)
    if kind == "il+asym":
        assert any(v != 0 for _, v in logged["losses/student_asym_loss"])


def test_actor_init_scale_scales_both_initial_mean_actions(ppo):
    """The last layers are scaled, nothing else: the same seed gives means exactly `scale` times the default's."""
    torch.manual_seed(3)
    default = ppo.L2TNets(16, 1.0, False, 1.0)
    torch.manual_seed(3)
    small = ppo.L2TNets(16, 1.0, False, 0.01)
    s, o = torch.randn(5, OBS_DIM), torch.randn(5, STUDENT_DIM)
    with torch.no_grad():
        assert torch.allclose(small.teacher(s)[0], 0.01 * default.teacher(s)[0], atol=1e-7)
        assert torch.allclose(
            small.student.step(o, small.student.initial_hidden(5))[0],
            0.01 * default.student.step(o, default.student.initial_hidden(5))[0],
            atol=1e-7,
        )
        assert torch.equal(small.critic(s), default.critic(s))  # the critic keeps its default init
    assert default.teacher(s)[0].abs().mean() > 0.01  # so the comparison above is not between zeros


def test_on_flat_ground_the_networks_see_one_height_scan_value(ppo):
    from envs.digit.env import HEIGHT_SCAN_CENTRE, OBS_SLICES

    torch.manual_seed(0)
    flat, rough = ppo.L2TNets(16, 1.0, True, 1.0, "flat"), ppo.L2TNets(16, 1.0, True, 1.0, "rough")
    s = torch.randn(8, OBS_DIM)
    changed = s.clone()
    scan = torch.arange(OBS_DIM)[OBS_SLICES["height_scan"]]
    others = scan[scan != HEIGHT_SCAN_CENTRE]
    assert len(others) == 186
    changed[:, others] += 5.0  # the repeated copies change: flat ground's teacher and critic do not notice
    with torch.no_grad():
        assert torch.equal(flat.teacher(flat.state_norm(s))[0], flat.teacher(flat.state_norm(changed))[0])
        assert torch.equal(flat.value(flat.state_norm(s)), flat.value(flat.state_norm(changed)))
        centre = s.clone()
        centre[:, HEIGHT_SCAN_CENTRE] += 5.0  # the centre point still counts
        assert not torch.equal(flat.value(flat.state_norm(s)), flat.value(flat.state_norm(centre)))
        assert not torch.equal(rough.value(rough.state_norm(s)), rough.value(rough.state_norm(changed)))
    flat.state_norm.update(changed)  # the statistics are kept for every input (the layout does not change)
    assert flat.state_norm.count == 8 and flat.state_norm.keep.sum() == OBS_DIM - 186


def test_the_height_scan_enters_in_metres_whatever_the_running_statistics(ppo):
    """The teacher's and the critic's 187 height-scan inputs are the scan less its standing value, in metres, not
    divided by their running std (a few cm when most envs stand on flat tiles); every other state input is normalised
    by its running statistics. Without normalisation the normaliser is the identity, scan included."""
    from envs.digit.env import OBS_SLICES

    torch.manual_seed(0)
    nets = ppo.L2TNets(16, 1.0, True, 1.0, "rough")
    scan = torch.zeros(OBS_DIM, dtype=torch.bool)
    scan[OBS_SLICES["height_scan"]] = True
    s = 1.0 + 3.0 * torch.randn(64, OBS_DIM)
    s[:, scan] = ppo.SCAN_STANDING + 0.02 * torch.randn(64, int(scan.sum()))  # flat tiles: a 2 cm std
    nets.state_norm.update(s)
    step = s[:1].clone()
    step[:, scan] -= 0.03  # a 3 cm step up under every scan point
    y = nets.state_norm(torch.cat([s[:1], step]))
    assert torch.allclose(y[0, scan], s[0, scan] - ppo.SCAN_STANDING)
    assert torch.allclose(y[0, scan] - y[1, scan], torch.full((int(scan.sum()),), 0.03), atol=1e-6)
    norm = nets.state_norm
    assert torch.equal(y[0, ~scan], ((s[0] - norm.mean) / (norm.var.sqrt() + norm.eps))[~scan])
    assert not nets.obs_norm.fixed.any()  # the student's observation has no scan: all normalised
    off = ppo.L2TNets(16, 1.0, False, 1.0, "rough")
    assert torch.equal(off.state_norm(s), s)


def test_a_normaliser_saved_before_fixed_inputs_loads_with_every_input_normalised(ppo):
    """A state dict without the normaliser's `fixed` entry (saved before the scan entered in metres) loads strictly
    and normalises every input by its running statistics, as it did when it was saved."""
    torch.manual_seed(0)
    nets = ppo.L2TNets(16, 1.0, True, 1.0, "rough")
    s = 0.5 + 0.1 * torch.randn(32, OBS_DIM)
    nets.state_norm.update(s)
    old = nets.state_dict()
    del old["state_norm.fixed"], old["state_norm.centre"]
    again = ppo.L2TNets(16, 1.0, True, 1.0, "rough")
    keys = set(old)
    again.load_state_dict(old)  # strict
    assert set(old) == keys  # the caller's dict is left as it was
    norm = again.state_norm
    assert not norm.fixed.any() and not norm.centre.any()
    assert torch.equal(norm(s), (s - norm.mean) / (norm.var.sqrt() + norm.eps) * norm.keep)
    assert not torch.equal(norm(s), nets.state_norm(s))


def test_the_env_kwargs_carry_the_task_flags_and_the_ramps_start(ppo, tmp_path, monkeypatch):
    seen = []

    def make(
        num_envs, num_workers, seed, alpha, noise, env_kwargs, terrain_columns="fixed", backend="mujoco", device="cpu"
    ):
        seen.append(dict(env_kwargs))
        return FakeDigitVec(num_envs, seed=seed)

    monkeypatch.setattr(ppo, "make_envs", make)
    ppo.main(fake_args(ppo, tmp_path, reward_weights="paper", gravity_axes="xyz", randomization_ramp_steps=1000))
    assert seen[0]["reward_weights"] == "paper" and seen[0]["gravity_axes"] == "xyz"
    assert seen[0]["curriculum"] == "tracking" and seen[0]["terrain_preset"] == "gentle"
    assert seen[0]["max_init_level"] == 0  # every env starts on the easiest row
    assert seen[0]["randomization_scale"] == 0.0  # the very first episodes already start at the ramp's strength
    ppo.main(fake_args(ppo, tmp_path, randomization_ramp_steps=0))
    assert seen[-1]["randomization_scale"] == 1.0


def test_randomization_ramps_in_and_the_critic_keeps_its_own_fixed_rate(ppo, tmp_path, fake_envs):
    run_dir = ppo.main(
        fake_args(ppo, tmp_path, total_timesteps=96, randomization_ramp_steps=48, critic_lr=3e-4, learning_rate=1e-3)
    )
    scales = [args[0] for name, args in fake_envs[0].calls if name == "set_randomization_scale"]
    assert scales == [0.0, 0.5, 1.0]  # one call per change, at iterations starting at steps 0, 24, 48 (then stays)
    logged = scalars(run_dir)
    assert [v for _, v in logged["charts/randomization_scale"]] == [0.0, 0.5, 1.0, 1.0]
    saved = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert saved["optimizers"]["critic"]["param_groups"][0]["lr"] == 3e-4  # not touched by the adaptive rule
    assert saved["optimizers"]["teacher"]["param_groups"][0]["lr"] == saved["learning_rate"]
    assert saved["learning_rate"] != 1e-3  # the adaptive rule did move the actor's rate


def test_best_teacher_is_kept_at_full_randomisation_only(ppo, tmp_path, fake_envs):
    run_dir = ppo.main(fake_args(ppo, tmp_path, total_timesteps=96, eval_frequency=1, randomization_ramp_steps=48))
    tags = scalars(run_dir)
    logged, strength = dict(tags["eval/teacher_return"]), dict(tags["charts/randomization_scale"])
    saved = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    full = {step: v for step, v in logged.items() if strength[step] == 1.0}  # the evaluations at strength 1
    assert 0 < len(full) < len(logged)
    assert saved["best"]["global_step"] == max(full, key=full.get)  # the first of equal returns
    assert saved["best"]["teacher_return"] == pytest.approx(max(full.values()))
    best = torch.load(os.path.join(run_dir, "best.pt"), weights_only=False)
    assert best["global_step"] == saved["best"]["global_step"] and "optimizers" not in best


def test_best_student_is_kept_at_its_own_best_evaluation_at_full_randomisation(ppo, tmp_path, fake_envs, monkeypatch):
    """best_student.pt holds the networks of the student's best evaluation at full randomisation, apart from best.pt
    (the teacher's best): the student's closed-loop return can swing while the teacher's holds."""
    student_returns = iter([95.0, 99.0, 40.0, 90.0, 20.0])  # one per evaluation; the first two at lower strengths
    students = {}

    def scripted_evaluate(envs, nets, who, seed, device):
        n = envs.num_envs
        ret = 70.0 if who == "teacher" else next(student_returns)
        if who == "student":
            students[len(students)] = {k: v.clone() for k, v in nets.student.state_dict().items()}
        return {"return": np.full(n, ret), "length": np.full(n, 100.0), "success": np.ones(n), "distance": np.ones(n)}

    monkeypatch.setattr(ppo, "evaluate", scripted_evaluate)
    run_dir = ppo.main(fake_args(ppo, tmp_path, total_timesteps=120, eval_frequency=1, randomization_ramp_steps=48))
    strength = dict(scalars(run_dir)["charts/randomization_scale"])  # the strength each evaluation ran at
    assert strength[48] < 1.0 and all(strength[step] == 1.0 for step in (72, 96, 120))
    saved = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert saved["best"]["student_step"] == 96 and saved["best"]["student_return"] == pytest.approx(90.0)
    assert saved["best"]["global_step"] == 72  # the teacher's best: its first evaluation at full strength
    best_student = torch.load(os.path.join(run_dir, "best_student.pt"), weights_only=False)
    assert best_student["global_step"] == 96 and "optimizers" not in best_student
    kept = {k[len("student.") :]: v for k, v in best_student["nets"].items() if k.startswith("student.")}
    assert kept.keys() == students[3].keys()
    assert all(torch.equal(kept[k], students[3][k]) for k in kept)  # the fourth evaluation's student
    assert not all(torch.equal(kept[k], students[4][k]) for k in kept)  # not the last one's


def test_teacher_alone_runs_without_a_student(ppo, tmp_path, fake_envs):
    run_dir = ppo.main(fake_args(ppo, tmp_path, student_loss="none", alpha_mix=0.0))
    logged = scalars(run_dir)
    assert "eval/teacher_return" in logged and "eval/student_return" not in logged


def test_nonfinite_loss_stops_after_saving_the_last_finite_state(ppo, tmp_path, monkeypatch):
    monkeypatch.setattr(
        ppo, "make_envs", lambda n, w, seed, a, noise, kw, cols, *_: FakeDigitVec(n, reward=float("nan"))
    )
    with pytest.raises(SystemExit, match="non-finite .*value_loss") as e:
        ppo.main(fake_args(ppo, tmp_path))
    (path,) = glob.glob(str(tmp_path / "*" / "nonfinite_step*.pt"))
    assert path in str(e.value.code) and "\n" not in str(e.value.code)
    saved = torch.load(path, weights_only=False)
    assert saved["global_step"] == 24  # after the first rollout, before the first optimiser step
    assert all(torch.isfinite(v).all() for v in saved["nets"].values())


def test_nonfinite_gradient_under_a_finite_loss_stops_before_the_weights_change(ppo, tmp_path, fake_envs, monkeypatch):
    """A finite loss whose gradient is NaN (stage C lost its teacher this way at 1.12M steps): the run stops at the
    gradient check, before the optimiser step, so the saved state is still finite."""
    real = ppo.ppo_loss_terms

    def nan_gradient(new_logprob, *rest):
        policy_loss, value_loss, clipfrac = real(new_logprob, *rest)
        unselected = new_logprob.mean().exp() * float("inf")  # where's unused branch: value 0, gradient 0 * inf
        return policy_loss + torch.where(torch.tensor(False), unselected, torch.zeros(())), value_loss, clipfrac

    monkeypatch.setattr(ppo, "ppo_loss_terms", nan_gradient)
    with pytest.raises(SystemExit, match="non-finite teacher_grad_norm at global_step=24"):
        ppo.main(fake_args(ppo, tmp_path))
    (path,) = glob.glob(str(tmp_path / "*" / "nonfinite_step*.pt"))
    assert all(torch.isfinite(v).all() for v in torch.load(path, weights_only=False)["nets"].values())


def assert_identical(a, b, where):
    """Equal nested dicts / lists of tensors and numbers, tensors bit for bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.is_tensor(b) and torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("kind", ["il+asym", "kl"])
def test_the_students_thread_trains_the_same_networks_as_one_thread(ppo, tmp_path, fake_envs, kind):
    """`--student-thread` runs the student's step k beside the teacher's step k+1: the same arithmetic in the same
    order per network, so the networks, optimisers and logged losses equal those of the plain loop bit for bit
    (one torch thread per network in both; the student acts in the rollouts, so a difference would change the data)."""
    saved, logged = {}, {}
    for threaded in (False, True):
        run_dir = ppo.main(
            fake_args(
                ppo,
                tmp_path / f"{kind}-{threaded}",
                student_thread=threaded,
                update_threads=2 if threaded else 1,
                alpha_mix=0.5,
                mix_schedule_fraction=0.0,
                student_loss=kind,
                total_timesteps=72,
            )
        )
        saved[threaded] = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
        logged[threaded] = scalars(run_dir)
    for part in ("nets", "optimizers"):
        assert_identical(saved[False][part], saved[True][part], part)
    for tag in ("losses/student_imitation_loss", "losses/policy_loss", "charts/action_std"):
        assert logged[False][tag] == logged[True][tag], tag
    assert saved[True]["global_step"] == 72


@pytest.mark.parametrize("threaded", [False, True])
def test_nonfinite_student_gradient_stops_before_the_students_weights_change(
    ppo, tmp_path, fake_envs, monkeypatch, threaded
):
    """The student's finite loss with a NaN gradient: the run stops with a checkpoint whose student is the one
    before that step (finite, never stepped), with or without the student's thread."""
    real = ppo.student_loss_terms

    def nan_gradient(kind, mean_s, *rest):
        unselected = mean_s.mean().exp() * float("inf")
        return real(kind, mean_s, *rest) + torch.where(torch.tensor(False), unselected, torch.zeros(()))

    monkeypatch.setattr(ppo, "student_loss_terms", nan_gradient)
    with pytest.raises(SystemExit, match="non-finite student_grad_norm at global_step=24"):
        ppo.main(fake_args(ppo, tmp_path, student_thread=threaded, update_threads=2))
    (path,) = glob.glob(str(tmp_path / "*" / "nonfinite_step*.pt"))
    saved = torch.load(path, weights_only=False)
    assert all(torch.isfinite(v).all() for v in saved["nets"].values())
    assert saved["optimizers"]["student"]["state"] == {}  # the student never stepped: its first step failed
    assert saved["optimizers"]["teacher"]["state"] != {}  # the teacher's first step came before it


def test_clipped_surrogate_survives_a_ratio_that_overflows(ppo):
    """|log r| < 20: exactly PPO's clipped surrogate, value and gradient; log r = 100 (r = inf in float32) with a
    positive advantage: the plain form's loss is finite but its gradient NaN; the clamped one's is finite."""
    old = torch.zeros(6)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, 1.0])
    log_r = torch.tensor([0.1, -0.3, 0.15, 0.05, -19.0, 100.0], requires_grad=True)
    loss, ratio = ppo.clipped_surrogate(log_r, old, adv, 0.2)
    loss.backward()
    plain_r = log_r.detach().clone().requires_grad_(True)
    r = plain_r.exp()
    plain = torch.max(-adv * r, -adv * r.clamp(0.8, 1.2)).mean()
    plain.backward()
    assert torch.isfinite(loss) and torch.isfinite(plain) and torch.isfinite(log_r.grad).all()
    assert torch.isnan(plain_r.grad[5])  # what the clamp prevents
    assert torch.allclose(log_r.grad[:5], plain_r.grad[:5]) and torch.allclose(ratio[:5], r[:5])
    assert ratio[5].item() == pytest.approx(math.exp(ppo.LOG_RATIO_LIMIT), rel=1e-5)


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(alpha_mix=1.5), "--alpha-mix"),
        (dict(alpha_mix=-0.1), "--alpha-mix"),
        (dict(alpha_mix=float("nan")), "--alpha-mix"),
        (dict(num_envs=0), "--num-envs"),
        (dict(num_workers=-1), "--num-workers"),
        (dict(num_envs=3, num_workers=2), "--num-envs"),
        (dict(num_envs=2, num_minibatches=4), "--num-minibatches"),
        (dict(student_loss="l3"), "--student-loss"),
        (dict(student_loss="none", alpha_mix=0.2), "--student-loss"),
        (dict(alpha=-1.0), "--alpha"),
        (dict(noise="laplace"), "--noise"),
        (dict(terrain="stairs"), "--terrain"),
        (dict(resume="no/such/checkpoint.pt"), "--resume"),
        (dict(export_student="no/such/folder/student.pt"), "--export-student"),
        (dict(critic_lr=-1.0), "--critic-lr"),
        (dict(critic_lr=float("nan")), "--critic-lr"),
        (dict(actor_init_scale=0.0), "--actor-init-scale"),
        (dict(randomization_ramp_steps=-1), "--randomization-ramp-steps"),
        (dict(terrain_preset="mjlab"), "--terrain-preset"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_flag(ppo, tmp_path, overrides, flag):
    with pytest.raises(SystemExit) as e:
        ppo.main(fake_args(ppo, tmp_path, **overrides))
    message = str(e.value.code)
    assert flag in message and "\n" not in message


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--alpha-mix", "2"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == ["l2t_ppo_digit.py: error: --alpha-mix must be in [0, 1], got 2.0"]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_smoke_digit_two_iterations_evaluate_resume_and_export(ppo, tmp_path):
    """The real Digit env (flat, 20-step episodes, two workers): two iterations with two envs, evaluations,
    a checkpoint that resumes with the step counter continuing, a mismatched resume refused, and the exported
    TorchScript student reproducing the Python student."""
    export = tmp_path / "student.pt"
    args = dict(
        terrain="flat",
        max_episode_steps=20,
        num_envs=2,
        num_workers=2,
        num_steps=8,
        num_minibatches=2,
        update_epochs=2,
        total_timesteps=32,
        eval_frequency=1,
        eval_episodes=2,
        checkpoint_frequency=1,
        runs_dir=str(tmp_path),
        alpha_mix=0.5,
        save_model=True,
    )
    run_dir = ppo.main(ppo.Args(**args))
    path = os.path.join(run_dir, "checkpoint.pt")
    first = torch.load(path, weights_only=False)
    assert first["global_step"] == 32 and first["iteration"] == 2
    logged = scalars(run_dir)
    for tag in ("eval/teacher_return", "eval/student_return", "eval/teacher_length", "eval/student_success"):
        assert [s for s, _ in logged[tag]] == [16, 32], tag
    assert all(0 < v <= 20 for _, v in logged["eval/student_length"])

    # mismatched or wrong files are refused in one line
    for overrides, match in (
        (dict(student_loss="kl"), "student_loss"),
        (dict(terrain="rough"), "terrain"),
        (dict(total_timesteps=32), "raise --total-timesteps"),
    ):
        with pytest.raises(SystemExit, match=match):
            ppo.main(ppo.Args(**{**args, "total_timesteps": 64, "resume": path, **overrides}))
    with pytest.raises(SystemExit, match="saved model"):
        ppo.main(
            ppo.Args(**{**args, "total_timesteps": 64, "resume": os.path.join(run_dir, "l2t_ppo_digit.cleanrl_model")})
        )
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="--resume: cannot read"):
        ppo.main(ppo.Args(**{**args, "resume": str(garbage)}))

    resumed = ppo.main(ppo.Args(**{**args, "total_timesteps": 64, "resume": path, "export_student": str(export)}))
    assert resumed == run_dir
    second = torch.load(path, weights_only=False)
    assert second["global_step"] == 64 and second["iteration"] == 4
    assert not torch.equal(second["nets"]["teacher.actor.0.weight"], first["nets"]["teacher.actor.0.weight"])
    logged = scalars(run_dir)
    steps = [s for s, _ in logged["losses/policy_loss"]]
    assert steps == [16, 32, 48, 64]  # one curve, continued, no duplicates
    assert [s for s, _ in logged["eval/student_return"]] == [16, 32, 48, 64]

    # the export reproduces the Python student (with its observation normalisation) over a sequence
    nets = ppo.L2TNets(128, 1.0, True)
    nets.load_state_dict(second["nets"])
    assert nets.obs_norm.count > 0
    scripted = torch.jit.load(str(export))
    torch.manual_seed(0)
    obs = torch.randn(10, 3, STUDENT_DIM)
    hidden, py_hidden = scripted.initial_hidden(3), nets.student.initial_hidden(3)
    with torch.no_grad():
        for t in range(10):
            action, hidden = scripted.step(obs[t], hidden)
            mean, py_hidden = nets.student.step(nets.obs_norm(obs[t]), py_hidden)
            assert torch.allclose(action, mean.clamp(-1, 1), atol=1e-6)
            assert torch.allclose(hidden[0], py_hidden[0], atol=1e-6)


def test_flush_denormal_flag_sets_the_processs_float_mode(ppo, tmp_path, fake_envs):
    """--flush-denormal (default on): a trained critic's denormals halved the update's speed (Args docstring)."""
    for flush in (True, False):
        ppo.main(fake_args(ppo, tmp_path, exp_name=f"flush{flush}", flush_denormal=flush))
        tiny = (torch.tensor([1e-38]) * 1e-2).item()  # 1e-40 is a denormal float32
        assert tiny == 0.0 if flush else tiny > 0.0


def test_resume_continues_the_terrain_curriculum_where_it_was(ppo, tmp_path, fake_envs):
    """A checkpoint keeps every env's terrain level; --resume starts the envs on those levels (not a fresh draw)
    and refuses another env count on rough ground; on flat ground the levels are not passed."""
    run_dir = ppo.main(fake_args(ppo, tmp_path, terrain="rough"))
    path = os.path.join(run_dir, "checkpoint.pt")
    saved = checkpoint_file.load(path)["terrain_levels"]
    kinds = {ppo.COLUMN_TYPES[col] for col in range(4)}  # the fake's envs end episodes on columns 0-3
    logged = {tag for tag in scalars(run_dir) if tag.startswith("terrain/")}
    assert logged == {f"terrain/{kind}_{x}" for kind in kinds for x in ("level", "success")}
    assert saved == list(fake_envs[0].levels) and saved != [i % 4 for i in range(4)]  # episodes moved them
    all_envs = scalars(run_dir)["charts/terrain_level_all_envs"]  # Isaac Lab's metric: every env's level, now
    assert len(all_envs) == 2 and all_envs[-1][1] == pytest.approx(np.mean(saved)) != 1.0  # (episodes' mean: 1.0)
    made = len(fake_envs)
    ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))
    assert fake_envs[made].reset_options == {"terrain_level": saved}  # the training envs (then the evaluation's)
    with pytest.raises(SystemExit, match="continues the terrain curriculum of 4 envs, this run has --num-envs 2"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", num_envs=2, total_timesteps=144, resume=path))
    flat = os.path.join(ppo.main(fake_args(ppo, tmp_path, exp_name="flat", terrain="flat")), "checkpoint.pt")
    made = len(fake_envs)
    ppo.main(fake_args(ppo, tmp_path, terrain="flat", total_timesteps=96, resume=flat))
    assert fake_envs[made].reset_options is None
    assert "charts/terrain_level_all_envs" not in scalars(os.path.dirname(flat))


def written_before(path, flag):
    """Make the checkpoint at `path` look written before `flag` existed (its args lack it)."""
    old = checkpoint_file.load(path)
    del old["args"][flag]
    checkpoint_file.save(old, path)


def test_resume_binds_the_grid_and_refuses_a_retired_setting(ppo, tmp_path, fake_envs):
    """The terrain preset is part of the task on rough ground, so a resume with the other one is refused. Settings
    an older version of the script saved and this one no longer changes (its column rule, reward overrides) must
    have today's values; a checkpoint older than the column setting ran random columns, so it is refused too."""
    path = os.path.join(ppo.main(fake_args(ppo, tmp_path, terrain="rough", eval_frequency=1)), "checkpoint.pt")
    assert [e.terrain_columns for e in fake_envs] == ["fixed", "fixed"]  # training, evaluation
    with pytest.raises(SystemExit, match="has terrain_preset='gentle', this run has 'isaac'"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path, terrain_preset="isaac"))
    today = checkpoint_file.load(path)
    assert {k: today["args"][k] for k in ("terrain_columns", "max_init_level")} == ppo.CURRICULUM_START  # saved
    for saved, refused in (
        ({"terrain_columns": "random"}, "has terrain_columns='random', this run has 'fixed'"),
        (
            {"reward_overrides": {"foot_contact": 0.7}},
            "has reward_overrides=\\{'foot_contact': 0.7\\}, this run has \\{\\}",
        ),
        (None, "has terrain_columns='random', this run has 'fixed'"),  # saved before the setting existed
    ):
        older = {**today, "args": {**today["args"], **(saved or {})}}
        if saved is None:
            del older["args"]["terrain_columns"]
        checkpoint_file.save(older, path)
        with pytest.raises(SystemExit, match=refused + " \\(a setting this script no longer changes\\)"):
            ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))
    checkpoint_file.save(today, path)  # what this version saved: resumes
    ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))
    assert checkpoint_file.load(path)["global_step"] == 96
    # saved before l2t/Digit-v3 (no env_id): its "gentle" grid was v2's, which --terrain-preset gentle_v2 continues
    before_v3 = checkpoint_file.load(path)
    assert before_v3["args"].pop("env_id") == "l2t/Digit-v3"
    checkpoint_file.save(before_v3, path)
    with pytest.raises(SystemExit, match="has terrain_preset='gentle_v2', this run has 'gentle' \\(trained on l2t/Dig"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=144, resume=path))
    ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=144, resume=path, terrain_preset="gentle_v2"))
    assert checkpoint_file.load(path)["global_step"] == 144


def test_resume_refuses_a_checkpoint_that_normalised_the_height_scan(ppo, tmp_path, fake_envs):
    """A checkpoint saved before the height scan entered in metres (no `state_norm.fixed`) trained another input
    scale: --resume refuses it in one line."""
    path = os.path.join(ppo.main(fake_args(ppo, tmp_path, terrain="rough")), "checkpoint.pt")
    older = checkpoint_file.load(path)
    del older["nets"]["state_norm.fixed"], older["nets"]["state_norm.centre"]
    checkpoint_file.save(older, path)
    with pytest.raises(SystemExit, match="normalised the height scan by its running statistics; this script feeds"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))


def test_resume_keeps_the_curriculum_rule_and_reads_older_checkpoints_as_isaac(ppo, tmp_path, fake_envs):
    """--curriculum is part of the task: a resume with another rule is refused; a checkpoint written before the
    flag existed ran Isaac Lab's rule, so it resumes with --curriculum isaac only."""
    path = os.path.join(ppo.main(fake_args(ppo, tmp_path, terrain="rough", curriculum="isaac")), "checkpoint.pt")
    with pytest.raises(SystemExit, match="--resume: checkpoint .* has curriculum='isaac', this run has 'tracking'"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))
    written_before(path, "curriculum")
    with pytest.raises(SystemExit, match="has curriculum='isaac'"):
        ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path))
    ppo.main(fake_args(ppo, tmp_path, terrain="rough", total_timesteps=96, resume=path, curriculum="isaac"))
    # flat ground has no curriculum: an older flat checkpoint (stage A2's) resumes under the new default
    flat = os.path.join(ppo.main(fake_args(ppo, tmp_path, exp_name="flat", terrain="flat")), "checkpoint.pt")
    written_before(flat, "curriculum")
    ppo.main(fake_args(ppo, tmp_path, terrain="flat", total_timesteps=96, resume=flat))
    with pytest.raises(SystemExit, match="--curriculum must be one of isaac, tracking, got 'rows'"):
        ppo.main(fake_args(ppo, tmp_path, curriculum="rows"))


def test_capture_video_writes_a_teacher_and_a_student_episode_and_refuses_when_rendering_fails(
    ppo, tmp_path, monkeypatch
):
    """--capture-video: each evaluation writes one MP4 of the teacher and one of the student (flat ground, 12-step
    episodes, real rendering); without a working offscreen renderer the run stops before any work."""
    run_dir = ppo.main(
        fake_args(ppo, tmp_path, terrain="flat", max_episode_steps=12, total_timesteps=24, capture_video=True)
    )
    videos = sorted(os.listdir(os.path.join(run_dir, "videos")))
    assert videos == ["student-step24-episode-0.mp4", "teacher-step24-episode-0.mp4"]
    assert all(os.path.getsize(os.path.join(run_dir, "videos", v)) > 1000 for v in videos)

    def broken(*a, **k):
        raise RuntimeError("no OpenGL context")

    import mujoco

    monkeypatch.setattr(mujoco, "Renderer", broken)
    with pytest.raises(SystemExit, match="--capture-video: cannot render offscreen"):
        ppo.main(fake_args(ppo, tmp_path / "broken", capture_video=True))
    assert not os.path.exists(tmp_path / "broken")  # before any work: no run folder


def test_symmetric_batch_appends_mirror_images_with_the_originals_targets(ppo):
    """--symmetry: the batch is the rollout's transitions then their mirror images; a mirrored row has the mirrored
    raw state (normalised by the same normaliser) and the mirrored action, and the original's log-probability, value
    and (through `mirrored_too`) advantage and return indices."""
    from envs.digit.symmetry import ACTION_MAP, STATE_MAP, mirror

    torch.manual_seed(0)
    nets = ppo.L2TNets(16, 0.05, True, 1.0, "rough")
    raw = torch.randn(6, OBS_DIM)
    nets.state_norm.update(torch.cat([raw, mirror(raw, STATE_MAP)]))
    flat = {
        "states": nets.state_norm(raw),
        "actions": torch.randn(6, 20),
        "logprobs": torch.randn(6),
        "values": torch.randn(6),
        "teacher_mean": torch.randn(6, 20),
    }
    out = ppo.symmetric_batch(flat, nets, raw)
    assert torch.equal(out["states"][:6], flat["states"]) and torch.equal(out["actions"][:6], flat["actions"])
    assert torch.allclose(out["states"][6:], nets.state_norm(mirror(raw, STATE_MAP)))
    assert torch.equal(out["actions"][6:], mirror(flat["actions"], ACTION_MAP))
    for key in ("logprobs", "values"):
        assert torch.equal(out[key][6:], flat[key])
    # a normaliser fitted on data and its mirror image is itself symmetric: mirroring commutes with normalising
    assert torch.allclose(out["states"][6:], mirror(flat["states"], STATE_MAP), atol=1e-5)
    idx = torch.tensor([4, 1])
    assert ppo.mirrored_too(idx, 6, True).tolist() == [4, 1, 10, 7]
    assert ppo.mirrored_too(idx, 6, False).tolist() == [4, 1]


def test_symmetry_run_trains_on_twice_the_samples_and_keeps_a_symmetric_normaliser(ppo, tmp_path, fake_envs):
    """A run with --symmetry: the state normaliser has counted each state twice (original and mirror image) and its
    statistics are mirror-symmetric; without the flag it counts each once."""
    from envs.digit.symmetry import STATE_MAP, mirror

    counts = {}
    for sym in (True, False):
        run_dir = ppo.main(fake_args(ppo, tmp_path / str(sym), symmetry=sym))
        nets = checkpoint_file.load(os.path.join(run_dir, "checkpoint.pt"))["nets"]
        counts[sym] = float(nets["state_norm.count"])
        if sym:  # data and its mirror image: M(mean) = mean, and a pair's variances are equal
            mean, var = nets["state_norm.mean"], nets["state_norm.var"]
            assert torch.allclose(mirror(mean, STATE_MAP), mean, atol=1e-5)
            assert torch.allclose(var[torch.as_tensor(STATE_MAP[0])], var, atol=1e-5)
            assert mean.abs().max() > 0.1  # the data are not trivially symmetric (all zero)
    assert counts[True] == 2 * counts[False] == 2 * 48


def test_a_warp_buffer_overflow_stops_the_run_with_one_line(ppo, tmp_path, monkeypatch):
    """An env that raises the Warp backend's WarpOverflowError (a buffer too small: rows would be dropped) stops the
    run with the env's one-line message, not a traceback."""
    from envs.digit.warp_backend import WarpOverflowError

    class Overflowing(FakeDigitVec):
        def step(self, actions):
            raise WarpOverflowError("a MuJoCo Warp buffer overflowed: raise njmax=16")

    monkeypatch.setattr(ppo, "make_envs", lambda num_envs, *a, **k: Overflowing(num_envs))
    with pytest.raises(SystemExit, match="raise njmax=16"):
        ppo.main(fake_args(ppo, tmp_path))
