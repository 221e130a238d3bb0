"""tsl_dagger_baseline.py on Digit: a teacher of l2t_ppo_digit.py, DAgger with the LSTM student, on one step axis.

A tiny teacher comes from one iteration of l2t_ppo_digit.py (flat terrain, 20-step episodes); the DAgger runs use the
real Digit env with 2 envs, sequences of 8 steps and 32 steps per env per round.
"""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from envs import checkpoint as checkpoint_file

from conftest import ROOT, crash_on_call, load_script, scalars
from envs.digit.env import OBS_DIM, STUDENT_DIM

SCRIPT = os.path.join(ROOT, "tsl_dagger_baseline.py")
TEACHER_STEPS = 16  # one l2t_ppo_digit iteration: 2 envs x 8 steps
ROUND_STEPS = 32  # --stage2-timesteps 64 over 2 rounds (or 32 over 1) with 2 envs: 16 steps per env = 2 sequences


@pytest.fixture(scope="module")
def tsl():
    return load_script("tsl_dagger_baseline")


@pytest.fixture(scope="module")
def ppo():
    return load_script("l2t_ppo_digit")


@pytest.fixture(scope="module")
def digit_teacher(ppo, tmp_path_factory):
    """A teacher checkpoint.pt of l2t_ppo_digit.py: one PPO iteration, teacher alone."""
    return train_tiny_teacher(ppo, str(tmp_path_factory.mktemp("ppo")), terrain="flat")


def train_tiny_teacher(ppo, runs_dir, **task):
    """checkpoint.pt of one PPO iteration of l2t_ppo_digit.py, teacher alone, on the task flags `task`."""
    run_dir = ppo.main(
        ppo.Args(
            max_episode_steps=20,
            num_envs=2,
            num_workers=0,
            num_steps=8,
            num_minibatches=2,
            update_epochs=1,
            total_timesteps=TEACHER_STEPS,
            eval_episodes=2,
            checkpoint_frequency=0,
            student_loss="none",
            alpha_mix=0.0,
            runs_dir=runs_dir,
            **task,
        )
    )
    return os.path.join(run_dir, "checkpoint.pt")


def digit_args(tsl, tmp_path, teacher, **overrides):
    kwargs = dict(
        env_id="l2t/Digit-v3",
        teacher_checkpoint=teacher,
        terrain="flat",
        max_episode_steps=20,
        num_envs=2,
        num_workers=0,
        seq_len=8,
        stage2_timesteps=64,
        dagger_rounds=2,
        epochs_per_round=4,
        student_batch_size=16,
        eval_episodes=2,
        runs_dir=str(tmp_path / "tsl"),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return tsl.Args(**kwargs)


class SpyEnvs:
    """Wraps a DigitVectorEnv: records the clean state each step was taken from and the action sent."""

    def __init__(self, envs):
        self.envs, self.states, self.actions, self.last = envs, [], [], None

    def reset(self, **kwargs):
        obs, info = self.envs.reset(**kwargs)
        self.last = obs
        return obs, info

    def step(self, actions):
        self.states.append(self.last["state"].copy())
        self.actions.append(np.array(actions))
        out = self.envs.step(actions)
        self.last = out[0]
        return out

    def __getattr__(self, name):
        return getattr(self.envs, name)


@pytest.fixture
def spies(tsl, monkeypatch):
    made, original = [], tsl.make_digit_envs

    def make(*args, **kwargs):
        made.append(SpyEnvs(original(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(tsl, "make_digit_envs", make)
    return made  # made[0]: the training envs, made[1]: the evaluation envs


def test_bc_round_on_digit_teacher_acts_student_learns_on_the_shared_axis(tsl, tmp_path, digit_teacher, spies):
    """beta = 1 (bc): the student never acts and every executed action is the teacher's mean on the clean state;
    the eval scalars start after the teacher's steps; the student's loss on the aggregate falls over the epochs."""
    run_dir = tsl.main(
        digit_args(tsl, tmp_path, digit_teacher, method="bc", num_workers=2, stage2_timesteps=32, dagger_rounds=1)
    )
    logged = scalars(run_dir)
    assert [s for s, _ in logged["eval/teacher_return"]] == [TEACHER_STEPS]
    for tag in ("eval/student_return", "eval/student_length", "charts/stage2_samples", "losses/student_loss"):
        assert [s for s, _ in logged[tag]] == [TEACHER_STEPS + ROUND_STEPS], tag
    assert all(0 < v <= 20 for _, v in logged["eval/student_length"])
    assert [v for _, v in logged["charts/teacher_action_fraction"]] == [1.0]
    # the student gets closer to the teacher's labels: on the whole aggregate, and over the epochs
    (before,), (after,) = logged["losses/dataset_loss_before"], logged["losses/dataset_loss_after"]
    assert after[1] < 0.9 * before[1]
    assert logged["losses/student_loss"][0][1] < logged["losses/student_loss_first_epoch"][0][1]

    saved = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    data = saved["dataset"]
    assert data["teacher_acted"].all() and data["obs"].shape == (4, 8, STUDENT_DIM)  # 2 sequences x 2 envs
    assert saved["global_step"] == TEACHER_STEPS + ROUND_STEPS
    train = spies[0]
    assert train.num_workers == 2 and len(train.actions) == 16
    teacher, _ = tsl.load_digit_teacher(digit_teacher)
    states = torch.as_tensor(np.stack(train.states))  # (16, 2, 314)
    labels = teacher.act(states)
    sent = torch.as_tensor(np.stack(train.actions), dtype=torch.float32)
    torch.testing.assert_close(sent, labels.clamp(-1, 1), rtol=0, atol=1e-5)  # the teacher's, every step
    # the labels are the teacher's unclipped means; sequence k of env i holds steps 8k..8k+7 of env i
    stored = data["label"].reshape(2, 2, 8, 20).permute(0, 2, 1, 3).reshape(16, 2, 20)
    torch.testing.assert_close(stored, labels, rtol=0, atol=1e-5)
    assert (data["h0"][:2] == 0).all() and (data["h0"][2:] != 0).any()  # the first sequences start from zero


def test_dagger_student_acts_when_beta_is_zero_and_resume_continues(tsl, tmp_path, digit_teacher, monkeypatch):
    """exponential beta with p = 0: round 0 all teacher, round 1 all student; a run stopped in round 1 resumes from
    its round-0 checkpoint and ends on the same axis."""
    with crash_on_call(monkeypatch, tsl, "evaluate_digit", 3):  # the teacher's evaluation, round 0's, round 1's
        tsl.main(digit_args(tsl, tmp_path, digit_teacher, beta_schedule="exponential", beta_decay=0.0))
    (path,) = glob.glob(str(tmp_path / "tsl" / "*" / "checkpoint.pt"))
    stopped = torch.load(path, weights_only=False)
    assert stopped["round"] == 1 and stopped["global_step"] == TEACHER_STEPS + ROUND_STEPS
    assert len(stopped["dataset"]["obs"]) == 4
    with pytest.raises(SystemExit, match="seq_len") as e:
        tsl.main(digit_args(tsl, tmp_path, None, resume=path, seq_len=4))
    assert "\n" not in str(e.value.code)

    run_dir = tsl.main(digit_args(tsl, tmp_path, None, resume=path, beta_schedule="exponential", beta_decay=0.0))
    assert run_dir == os.path.dirname(path)
    done = torch.load(path, weights_only=False)
    assert done["round"] == 2 and done["global_step"] == TEACHER_STEPS + 2 * ROUND_STEPS
    assert torch.equal(done["dataset"]["obs"][:4], stopped["dataset"]["obs"])
    acted = done["dataset"]["teacher_acted"]
    assert acted[:4].all() and not acted[4:].any()  # beta_1 = 0: only the student acted
    logged = scalars(run_dir)
    assert [s for s, _ in logged["eval/student_return"]] == [48, 80]  # one curve across the resume
    assert [v for _, v in logged["charts/teacher_action_fraction"]] == [1.0, 0.0]
    assert [v for _, v in logged["charts/beta"]] == [1.0, 0.0]


def test_teacher_and_student_match_l2t_ppo_digit(tsl, ppo, digit_teacher):
    """The copied classes load l2t_ppo_digit's state dicts strictly and compute the same outputs."""
    saved = torch.load(digit_teacher, weights_only=False)
    nets = ppo.L2TNets(saved["lstm_hidden"], 1.0, saved["obs_normalization"])
    nets.load_state_dict(saved["nets"])
    teacher, loaded = tsl.load_digit_teacher(digit_teacher)
    assert loaded["global_step"] == TEACHER_STEPS
    x = torch.randn(50, OBS_DIM)
    with torch.no_grad():
        assert torch.equal(teacher.act(x), nets.teacher(nets.state_norm(x))[0])
    student = tsl.LSTMStudent(STUDENT_DIM, saved["lstm_hidden"], True)
    student.load_state_dict({k: v for k, v in saved["nets"].items() if k.startswith(("student.", "obs_norm."))})
    obs, dones = torch.randn(6, 3, STUDENT_DIM), (torch.rand(6, 3) < 0.3).float()
    hidden = student.student.initial_hidden(3)
    with torch.no_grad():
        assert torch.equal(
            student.student.sequence(student.obs_norm(obs), hidden, dones),
            nets.student.sequence(nets.obs_norm(obs), hidden, dones),
        )


def test_reservoir_keeps_a_uniform_sample_of_whole_sequences(tsl):
    counts = np.zeros(10)
    for trial in range(300):
        data = tsl.SequenceDataset(3, 2, 1, 1, 1, seed=trial)
        t = torch.arange(20, dtype=torch.float32).reshape(20, 1, 1)  # (steps, envs, dim): sequence k = steps 2k, 2k+1
        h = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1)  # one sequence per round of 2 steps, 1 env
        for k in range(10):
            steps = t[2 * k : 2 * k + 2]
            data.add(
                steps, steps + 100, torch.zeros(2, 1), torch.ones(2, 1, dtype=torch.bool), h[k : k + 1], -h[k : k + 1]
            )
        assert data.size == 3 and data.seen == 10
        ids = data.h0[:, 0].long()
        assert torch.equal(data.obs[:, :, 0], torch.stack([2 * ids, 2 * ids + 1], 1).float())  # intact sequences
        assert torch.equal(data.label, data.obs + 100) and torch.equal(data.c0, -data.h0)
        counts[ids.numpy()] += 1
    assert np.all(np.abs(counts / 300 - 0.3) < 0.1), counts  # each of the 10 kept with probability 3/10


def test_wrong_teacher_checkpoint_is_a_one_line_error(tsl, tmp_path, digit_teacher):
    saved = torch.load(digit_teacher, weights_only=False)
    cases = {
        "sac.pt": ({"format": "l2t_sac_mujoco/1", "teacher": {}}, "is not a checkpoint of l2t_ppo_digit.py"),
        "dims.pt": ({**saved, "obs_dim": 100}, "obs_dim=100"),
        "shape.pt": ({**saved, "nets": {**saved["nets"], "teacher.log_std": torch.zeros(3)}}, "does not fit"),
        "missing.pt": (
            {**saved, "nets": {k: v for k, v in saved["nets"].items() if k != "state_norm.mean"}},
            "does not fit.*Missing key",
        ),
    }
    for name, (content, match) in cases.items():
        checkpoint_file.save(content, str(tmp_path / name))
        with pytest.raises(SystemExit, match=match) as e:
            tsl.main(digit_args(tsl, tmp_path, str(tmp_path / name)))
        assert "--teacher-checkpoint" in str(e.value.code) and "\n" not in str(e.value.code), name
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="cannot read"):
        tsl.main(digit_args(tsl, tmp_path, str(tmp_path / "garbage.pt")))
    with pytest.raises(SystemExit, match="needs --env-id l2t/Digit-v3"):  # a Digit teacher for a MuJoCo env
        tsl.main(
            tsl.Args(
                env_id="l2t-test/Counter-v0",
                teacher_checkpoint=digit_teacher,
                stage2_timesteps=60,
                dagger_rounds=1,
                runs_dir=str(tmp_path / "tsl"),
                torch_threads=1,
            )
        )


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(teacher_checkpoint=None), "--teacher-checkpoint is required"),
        (dict(terrain="stairs"), "--terrain"),
        (dict(num_workers=3), "--num-envs"),
        (dict(num_workers=-1), "--num-workers"),
        (dict(seq_len=0), "--seq-len"),
        (dict(dataset_capacity=4), "--dataset-capacity"),
        (dict(stage2_timesteps=24), "--stage2-timesteps"),
        (dict(capture_video=True), "--capture-video does not apply"),
        (dict(hidden_dim=64), "--hidden-dim does not apply"),
        (dict(teacher_timesteps=10), "--teacher-timesteps does not"),
        (dict(terrain="rough"), "--terrain: the teacher was trained on terrain='flat'"),  # before any env is built
    ],
)
def test_bad_digit_input_is_a_one_line_error_naming_the_flag(tsl, tmp_path, digit_teacher, overrides, flag):
    with pytest.raises(SystemExit) as e:
        tsl.main(digit_args(tsl, tmp_path, digit_teacher, **overrides))
    assert flag in str(e.value.code) and "\n" not in str(e.value.code)


def test_cli_without_teacher_says_there_is_no_stage_1_on_digit(tmp_path):
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--env-id", "l2t/Digit-v3"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "trains no teacher on Digit" in errors[0]


def test_defaults_depend_on_the_env(tsl):
    digit = tsl.resolve_defaults(tsl.Args(env_id="l2t/Digit-v3"))
    assert digit.alpha == 0.1 and digit.student_loss == "l2"
    mujoco = tsl.resolve_defaults(tsl.Args())
    assert mujoco.alpha == 0.4 and mujoco.student_loss == "l1"
    assert tsl.resolve_defaults(tsl.Args(env_id="l2t/Digit-v3", alpha=0.3, student_loss="nll")).alpha == 0.3


def test_nonfinite_student_loss_stops_after_saving_the_finite_student(tsl, tmp_path, digit_teacher, monkeypatch):
    original = tsl.digit_imitation_loss
    monkeypatch.setattr(tsl, "digit_imitation_loss", lambda *a: original(*a) * float("nan"))
    with pytest.raises(SystemExit, match="non-finite student loss in round 0") as e:
        tsl.main(digit_args(tsl, tmp_path, digit_teacher))
    (path,) = glob.glob(str(tmp_path / "tsl" / "*" / "nonfinite_round0.pt"))
    assert path in str(e.value.code) and "\n" not in str(e.value.code)
    assert all(torch.isfinite(v).all() for v in torch.load(path, weights_only=False)["student"].values())


def test_nonfinite_teacher_action_is_refused_before_it_is_executed(tsl, tmp_path, digit_teacher, spies):
    saved = torch.load(digit_teacher, weights_only=False)
    bias = [k for k in saved["nets"] if k.startswith("teacher.actor.") and k.endswith(".bias")][-1]
    nets = {**saved["nets"], bias: torch.full_like(saved["nets"][bias], float("nan"))}
    checkpoint_file.save({**saved, "nets": nets}, str(tmp_path / "nan_teacher.pt"))
    with pytest.raises(SystemExit, match="non-finite teacher action at global_step=16 ") as e:
        tsl.main(digit_args(tsl, tmp_path, str(tmp_path / "nan_teacher.pt"), eval_episodes=1))
    assert "\n" not in str(e.value.code)
    assert spies[0].actions == []  # nothing was sent to the training envs


def test_dagger_round_on_the_warp_backend(tsl, tmp_path, digit_teacher):
    """--backend warp (warp's CPU device): a DAgger round collects, trains and evaluates on MuJoCo Warp through the
    numpy interface (HostArrays), with the same data layout as on MuJoCo."""
    import mujoco_warp  # noqa: F401  (pinned in requirements.txt: a broken install fails, not skips)

    run_dir = tsl.main(
        digit_args(
            tsl,
            tmp_path,
            digit_teacher,
            backend="warp",
            device="cpu",
            stage2_timesteps=32,
            dagger_rounds=1,
            max_episode_steps=6,
        )
    )
    logged = scalars(run_dir)
    assert [s for s, _ in logged["eval/student_return"]] == [TEACHER_STEPS + ROUND_STEPS]
    assert all(0 < v <= 6 for _, v in logged["eval/student_length"])
    assert [v for _, v in logged["charts/episodic_length"]][:2] == [6, 6]  # time-outs at 6 steps
    saved = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert saved["dataset"]["obs"].shape == (4, 8, STUDENT_DIM) and torch.isfinite(saved["dataset"]["label"]).all()


def test_the_digit_envs_are_built_with_the_teachers_task_settings(tsl, ppo, tmp_path, monkeypatch):
    """The student learns on its teacher's task: curriculum rule, terrain preset, initial levels, reward weights,
    gravity axes and terrain columns are read from the teacher's checkpoint, not from this script's flags (a
    teacher trained with non-default values of each, the last three as an older version of l2t_ppo_digit.py saved
    them; every built env must carry them)."""
    teacher = train_tiny_teacher(
        ppo, str(tmp_path / "ppo"), terrain="rough", curriculum="isaac", terrain_preset="isaac", gravity_axes="xyz"
    )
    older = checkpoint_file.load(teacher)
    older["args"].update(max_init_level=3, terrain_columns="random", reward_overrides={"foot_contact": 0.7})
    checkpoint_file.save(older, teacher)
    seen, original = [], tsl.make_digit_envs

    def make(*args, **kwargs):  # what each env of the vector env is, as built
        envs = original(*args, **kwargs)
        seen.append(
            {
                name: envs.get_attr(name)
                for name in ("curriculum", "max_init_level", "gravity_axes", "reward_weights", "terrain_col", "terrain")
            }
        )
        return envs

    monkeypatch.setattr(tsl, "make_digit_envs", make)
    tsl.main(
        digit_args(
            tsl,
            tmp_path,
            teacher,
            terrain="rough",
            method="bc",
            stage2_timesteps=32,
            dagger_rounds=1,
        )
    )
    assert len(seen) == 2  # training and evaluation envs
    for got in seen:
        for attr, value in (("curriculum", "isaac"), ("max_init_level", 3), ("gravity_axes", "xyz")):
            assert set(got[attr]) == {value}, attr
        assert {w["foot_contact"] for w in got["reward_weights"]} == {0.7}
        assert {w["track_lin_vel_xy"] for w in got["reward_weights"]} == {2.0}  # v2's, kept
        assert got["terrain_col"] == (None, None)  # random columns: none fixed
        # the isaac preset: row 0 of the stairs is a 5 cm step (gentle: flat)
        assert np.abs(got["terrain"][0].origins[0, :, 2]).max() == pytest.approx(0.3)
