"""l2t_sac_mujoco.py end to end: the smoke run, the buffer's contents, resume, bad input, non-finite losses."""

import glob
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import ROOT, medium_precision_changes_products, scalars
from envs.noise import NoisyObservation

SCRIPT = os.path.join(ROOT, "l2t_sac_mujoco.py")


def tiny_args(sac, tmp_path, **overrides):
    """A run on the Counter toy env that takes a second or two."""
    kwargs = dict(
        env_id="l2t-test/Counter-v0",
        total_timesteps=200,
        learning_starts=64,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=2,
        checkpoint_frequency=0,
        alpha=0.3,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return sac.Args(**kwargs)


def test_smoke_halfcheetah_logs_evaluates_and_reloads(sac, tmp_path):
    """The real script on the default env for a few hundred steps: events, checkpoint, and a saved model
    that reloads to the same actions, and so to the same evaluation return as the run logged."""
    cmd = [
        sys.executable,
        SCRIPT,
        "--total-timesteps",
        "600",
        "--learning-starts",
        "300",
        "--batch-size",
        "64",
        "--eval-frequency",
        "300",
        "--eval-episodes",
        "2",
        "--save-model",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = glob.glob(str(tmp_path / "HalfCheetah-v4__*"))
    logged = scalars(run_dir)
    assert [step for step, _ in logged["eval/student_return"]] == [300, 600]
    assert [step for step, _ in logged["eval/teacher_return"]] == [300, 600]
    for tag in (
        "losses/qf_loss",
        "losses/actor_loss",
        "losses/student_bc_loss",
        "losses/student_asym_loss",
        "losses/ent_coef",
        "losses/imitation_gap",
        "charts/SPS",
        "charts/noise_alpha",
    ):
        assert tag in logged and all(np.isfinite(v) for _, v in logged[tag]), tag

    model = torch.load(os.path.join(run_dir, "l2t_sac_mujoco.cleanrl_model"), weights_only=False)
    ckpt = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert model["global_step"] == ckpt["global_step"] == 600
    actors = {}
    for name in ("teacher", "student"):
        actors[name] = sac.Actor(model["state_dim"], model["action_dim"], model["hidden_dim"])
        actors[name].load_state_dict(model[name])
        x = torch.randn(32, model["state_dim"])
        again = sac.Actor(model["state_dim"], model["action_dim"], model["hidden_dim"])
        again.load_state_dict(ckpt[name])
        assert torch.equal(actors[name].act(x), again.act(x))
    # re-run the final evaluation with the reloaded student: the same seeds give the same return
    seed = 1 + 10_000
    fns = [sac.make_env("HalfCheetah-v4", 0.4, "uniform", seed + i) for i in range(2)]
    returns, lengths = sac.evaluate(actors["student"], "observation", fns, seed, "cpu")
    assert lengths.tolist() == [1000, 1000]
    assert returns.mean() == pytest.approx(logged["eval/student_return"][-1][1], rel=1e-5)


def replay_counter(seed, alpha, n_obs):
    """The (s, o) sequence one sub-env produces, replayed outside the script (Counter ignores actions)."""
    env = NoisyObservation(gym.make("l2t-test/Counter-v0"), alpha=alpha)
    obs, _ = env.reset(seed=seed)
    seq = [obs]
    while len(seq) < n_obs:
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        seq.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
            seq.append(obs)
    return seq


def test_buffer_holds_the_wrappers_observations_and_no_cross_episode_transition(sac, tmp_path):
    args = tiny_args(sac, tmp_path)
    run_dir = sac.main(args)
    rows = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)["buffer"]["storage"].numpy()
    rb = sac.ReplayBuffer(1, 3, 2, "cpu")
    f = {k: rows[:, s] for k, s in rb.slices.items()}
    assert len(rows) == args.total_timesteps
    truncated_seen = terminated_seen = 0
    for i in range(args.num_envs):
        env_rows = np.arange(i, len(rows), args.num_envs)  # each vector step adds env 0's row, then env 1's
        s, o, s2, o2, term = (f[k][env_rows] for k in ("state", "obs", "next_state", "next_obs", "terminated"))
        # every transition stays inside its episode and advances its step counter by one
        np.testing.assert_array_equal(s2[:, 0], s[:, 0])
        np.testing.assert_array_equal(s2[:, 1], s[:, 1] + 1)
        # o' of step t is the same sample as o of step t+1 within an episode
        same = s[1:, 0] == s[:-1, 0]
        np.testing.assert_array_equal(o2[:-1][same], o[1:][same])
        np.testing.assert_array_equal(s2[:-1][same], s[1:][same])
        # a new episode starts at step 1 of the next episode
        assert np.all(s[1:][~same][:, 1] == 1) and np.all(s[1:][~same][:, 0] == s[:-1][~same][:, 0] + 1)
        # termination only where the episode ended before the 6-step time limit; truncation is not termination
        ended, term = ~same, term[:-1, 0]  # known for every row but the last
        assert np.all(term[~ended] == 0)
        assert np.all(term[ended & (s2[:-1, 1] < 7)] == 1)
        truncated_seen += np.sum(ended & (s2[:-1, 1] == 7) & (term == 0))
        terminated_seen += np.sum(term == 1)
        # the stored s, o are exactly what the wrapper produced at those steps (same seed, replayed)
        replay = [x for x in replay_counter(args.seed + i, args.alpha, 3 * len(env_rows))]
        k = 0
        for t in range(len(env_rows) - 1):
            np.testing.assert_array_equal(replay[k]["state"].astype(np.float32), s[t])
            np.testing.assert_array_equal(replay[k]["observation"].astype(np.float32), o[t])
            np.testing.assert_array_equal(replay[k + 1]["observation"].astype(np.float32), o2[t])
            k += 2 if ended[t] else 1  # at an episode end the replay's next entry is the reset observation
    assert truncated_seen > 0 and terminated_seen > 0


def test_resume_continues_step_counter_and_buffer(sac, tmp_path):
    run_dir = sac.main(tiny_args(sac, tmp_path, total_timesteps=200))
    path = os.path.join(run_dir, "checkpoint.pt")
    first = torch.load(path, weights_only=False)
    assert first["global_step"] == 200
    assert sac.main(tiny_args(sac, tmp_path, total_timesteps=300, resume=path)) == run_dir
    second = torch.load(path, weights_only=False)
    assert second["global_step"] == 300
    assert second["buffer"]["size"] == 300
    assert torch.equal(second["buffer"]["storage"][:200], first["buffer"]["storage"])  # old data kept
    assert not torch.equal(second["teacher"]["fc_mean.weight"], first["teacher"]["fc_mean.weight"])  # trained on
    logged = scalars(run_dir)
    steps = [s for s, _ in logged["losses/qf_loss"]]
    assert max(steps) == 300 and steps == sorted(set(steps))  # one curve, continued, no duplicate steps
    assert [s for s, _ in logged["eval/student_return"]] == [200, 300]  # the first run's last point is kept


def test_resume_without_saved_buffer_refills_before_learning(sac, tmp_path):
    run_dir = sac.main(tiny_args(sac, tmp_path, total_timesteps=200, checkpoint_buffer=False))
    path = os.path.join(run_dir, "checkpoint.pt")
    before = torch.load(path, weights_only=False)["critic"]
    sac.main(tiny_args(sac, tmp_path, total_timesteps=250, resume=path, checkpoint_buffer=False))
    after = torch.load(path, weights_only=False)
    assert after["global_step"] == 250 and after["buffer"] is None
    # 50 new steps < learning_starts (64): the buffer was refilling, so the critic was not updated
    assert all(torch.equal(before[k], after["critic"][k]) for k in before)


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(alpha=-0.1), "--alpha"),
        (dict(noise="laplace"), "--noise"),
        (dict(student_loss="l3"), "--student-loss"),
        (dict(env_id="NoSuchEnv-v0"), "--env-id"),
        (dict(total_timesteps=50), "--total-timesteps"),
        (dict(resume="no/such/checkpoint.pt"), "--resume"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_flag(sac, tmp_path, overrides, flag):
    with pytest.raises(SystemExit) as e:
        sac.main(tiny_args(sac, tmp_path, **overrides))
    message = str(e.value.code)
    assert flag in message and "\n" not in message


def test_mismatched_resume_is_refused(sac, tmp_path):
    run_dir = sac.main(tiny_args(sac, tmp_path, total_timesteps=100, save_model=True))
    path = os.path.join(run_dir, "checkpoint.pt")
    with pytest.raises(SystemExit, match="--resume: .* is a saved model"):
        sac.main(
            tiny_args(sac, tmp_path, total_timesteps=200, resume=os.path.join(run_dir, "l2t_sac_mujoco.cleanrl_model"))
        )
    for overrides in (dict(hidden_dim=64), dict(student_loss="l2"), dict(total_timesteps=100)):
        with pytest.raises(SystemExit, match="--resume"):
            sac.main(tiny_args(sac, tmp_path, resume=path, **{"total_timesteps": 200, **overrides}))
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="--resume: cannot read") as e:
        sac.main(tiny_args(sac, tmp_path, resume=str(bad)))
    assert "\n" not in str(e.value.code)


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--alpha", "-1"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == ["l2t_sac_mujoco.py: error: --alpha must be a finite number >= 0, got -1.0"]


def test_nonfinite_loss_stops_after_saving_the_last_finite_state(sac, tmp_path):
    with pytest.raises(SystemExit, match="non-finite qf_loss") as e:
        sac.main(tiny_args(sac, tmp_path, env_id="l2t-test/NaNReward-v0"))
    (path,) = glob.glob(str(tmp_path / "*" / "nonfinite_step*.pt"))
    assert path in str(e.value.code)
    saved = torch.load(path, weights_only=False)
    assert saved["global_step"] == 66  # the first update, right after learning_starts=64 (2 envs a step)
    for name in ("teacher", "student", "critic"):
        assert all(torch.isfinite(v).all() for v in saved[name].values())  # checked before the optimiser step


def test_bf16_sets_the_matmul_precision_for_its_run_only_and_still_learns(sac, tmp_path):
    """--bf16 runs the products at torch's "medium" float32 precision; a later run in the same process without it is
    back at "highest" (bit for bit a fresh float32 run); the bf16 run's weights differ, yet its student learns."""

    def final(tag, **kw):
        run_dir = sac.main(tiny_args(sac, tmp_path / tag, total_timesteps=400, **kw))
        return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False), run_dir

    try:
        fp32, _ = final("fp32")
        bf16, run_dir = final("bf16", bf16=True)
        assert torch.get_float32_matmul_precision() == "medium"
        after, _ = final("after")
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.set_float32_matmul_precision("highest")
    for name, value in fp32["teacher"].items():
        assert torch.equal(value, after["teacher"][name])
    # the weights differ where the CPU computes "medium" products in bfloat16 (AMX / AVX512-BF16); elsewhere torch
    # computes them in float32 and the run is the float32 run
    differ = any(not torch.equal(value, bf16["teacher"][name]) for name, value in fp32["teacher"].items())
    assert differ == medium_precision_changes_products()
    gap = [v for _, v in scalars(run_dir)["losses/imitation_gap"]]
    assert np.mean(gap[-3:]) < np.mean(gap[:3])


def test_flush_denormal_holds_during_the_run_and_only_for_its_run(sac, tmp_path, monkeypatch):
    """--flush-denormal (the default) flushes denormal results to zero while the run computes its losses; a later run
    with --no-flush-denormal computes denormals again."""

    def denormal_product():
        return (torch.tensor([1e-38]) * 1e-2).item()  # 1e-40: denormal in float32

    seen = []
    loss = sac.student_loss

    def recording_loss(*a, **kw):
        seen.append(denormal_product())
        return loss(*a, **kw)

    monkeypatch.setattr(sac, "student_loss", recording_loss)
    assert sac.Args().flush_denormal  # on by default
    sac.main(tiny_args(sac, tmp_path / "flush"))
    assert seen and all(value == 0.0 for value in seen)
    assert denormal_product() == 0.0
    seen.clear()
    sac.main(tiny_args(sac, tmp_path / "plain", flush_denormal=False))
    assert seen and all(value == pytest.approx(1e-40, rel=1e-2) for value in seen)
