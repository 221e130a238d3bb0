"""tsl_dagger_baseline.py: beta schedules, who acts, aggregation, the curriculum, teachers, resume, smoke."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from envs import checkpoint as checkpoint_file

from conftest import ROOT, crash_on_call, scalars

SCRIPT = os.path.join(ROOT, "tsl_dagger_baseline.py")


@pytest.fixture
def counter_teacher(sac, tmp_path):
    """A tiny teacher saved by l2t_sac_mujoco.py on the Counter toy env (200 steps)."""
    run_dir = sac.main(
        sac.Args(
            env_id="l2t-test/Counter-v0",
            total_timesteps=200,
            learning_starts=64,
            batch_size=32,
            hidden_dim=32,
            eval_frequency=0,
            eval_episodes=1,
            checkpoint_frequency=0,
            save_model=True,
            runs_dir=str(tmp_path / "teacher"),
            torch_threads=1,
        )
    )
    return os.path.join(run_dir, "l2t_sac_mujoco.cleanrl_model")


def stage2_args(tsl, tmp_path, teacher, **overrides):
    kwargs = dict(
        env_id="l2t-test/Counter-v0",
        teacher_checkpoint=teacher,
        stage2_timesteps=240,
        num_envs=2,
        dagger_rounds=3,
        epochs_per_round=2,
        student_batch_size=32,
        eval_episodes=2,
        alpha=0.3,
        runs_dir=str(tmp_path / "tsl"),
        torch_threads=1,
    )
    kwargs.update(overrides)
    return tsl.Args(**kwargs)


def load_dataset(run_dir):
    return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)["dataset"]


@pytest.fixture
def recorded_states(tsl, monkeypatch):
    """The clean states s the run hands to TransitionDataset.record, row for row (the dataset keeps only o and the
    teacher's label): a list that the test joins with torch.cat after the run."""
    states, original = [], tsl.TransitionDataset.record

    def record(self, t, obs, state, *rest):
        states.append(torch.as_tensor(state).cpu().clone())
        return original(self, t, obs, state, *rest)

    monkeypatch.setattr(tsl.TransitionDataset, "record", record)
    return states


def test_beta_schedules_give_the_documented_values(tsl):
    linear = [tsl.beta_schedule("linear", r, 15, 0.5) for r in range(15)]
    assert linear[0] == 1.0 and linear[1] == pytest.approx(14 / 15) and linear[-1] == pytest.approx(1 / 15)
    assert np.allclose(np.diff(linear), -1 / 15)
    assert tsl.beta_schedule("linear", 20, 15, 0.5) == 0.0
    assert [tsl.beta_schedule("exponential", r, 15, 0.5) for r in range(4)] == [1.0, 0.5, 0.25, 0.125]
    assert [tsl.beta_schedule("exponential", r, 15, 0.0) for r in range(3)] == [1.0, 0.0, 0.0]


def test_bc_executes_only_teacher_actions(tsl, tmp_path, counter_teacher, capsys):
    run_dir = tsl.main(stage2_args(tsl, tmp_path, counter_teacher, method="bc"))
    data = load_dataset(run_dir)
    assert data["teacher_acted"].all() and len(data["teacher_acted"]) == 240
    rounds = [line for line in capsys.readouterr().out.splitlines() if " done | " in line]
    assert [line.split(" | ")[:2] for line in rounds] == [
        [f"round {r}/3 done", f"step {200 + 80 * r}/440"] for r in (1, 2, 3)
    ]  # the teacher cost 200 steps
    # the teacher's evaluation (once, before the rounds) and the round's student evaluation, speed and time left
    assert all(
        " | eval teacher " in line and ", student " in line and " steps/s | " in line and line.endswith(" left")
        for line in rounds
    )


def test_a_stage_restarts_the_progress_count_with_its_own_final_step(tsl, tmp_path, counter_teacher, capsys):
    """Stage 2 starts at the teacher's step count with its own total (envs/console.py tests the interval)."""
    tsl.main(stage2_args(tsl, tmp_path, counter_teacher, method="bc"))
    out = capsys.readouterr().out.splitlines()
    start = next(k for k, line in enumerate(out) if line.startswith("stage 2: bc, rounds 1..3, 80 steps each"))
    assert all("/440" in line for line in out[start + 1 :] if line.startswith(("stage 2, round", "round ")))


def test_dagger_beta_zero_executes_only_student_actions(tsl, tmp_path, counter_teacher):
    run_dir = tsl.main(stage2_args(tsl, tmp_path, counter_teacher, beta_schedule="exponential", beta_decay=0.0))
    acted = load_dataset(run_dir)["teacher_acted"].reshape(3, 80)  # 3 rounds of 80 steps
    assert acted[0].all()  # beta_0 = 1: all teacher
    assert not acted[1:].any()  # beta_r = 0 afterwards: all student
    fractions = [v for _, v in scalars(run_dir)["charts/teacher_action_fraction"]]
    assert fractions == [1.0, 0.0, 0.0]


def test_dagger_mixes_in_proportion_to_beta(tsl, tmp_path, counter_teacher):
    run_dir = tsl.main(
        stage2_args(
            tsl,
            tmp_path,
            counter_teacher,
            beta_schedule="exponential",
            beta_decay=0.5,
            stage2_timesteps=6000,
            epochs_per_round=1,
        )
    )
    acted = load_dataset(run_dir)["teacher_acted"].reshape(3, 2000).float().mean(1)
    assert acted[0] == 1.0
    assert abs(acted[1] - 0.5) < 0.05 and abs(acted[2] - 0.25) < 0.05  # binomial, 2000 draws: sd about 0.01


def test_dataset_aggregates_every_step_with_teacher_labels_on_clean_states(
    tsl, sac, tmp_path, counter_teacher, recorded_states
):
    run_dir = tsl.main(stage2_args(tsl, tmp_path, counter_teacher))
    logged = scalars(run_dir)
    sizes = [v for _, v in logged["charts/dataset_size"]]
    assert sizes == [80, 160, 240]  # grows by exactly the steps of each round, nothing dropped
    assert [v for _, v in logged["charts/stage2_samples"]] == sizes
    data = load_dataset(run_dir)
    data["state"] = torch.cat(recorded_states)
    assert "state" not in load_dataset(run_dir) and len(data["state"]) == len(data["obs"])
    teacher, _, _ = tsl.load_teacher(tsl.read_teacher(counter_teacher, "l2t-test/Counter-v0"), counter_teacher, 3, 2)
    # equal up to float rounding: the labels were computed 2 rows at a time, here all at once
    torch.testing.assert_close(data["label"], teacher.act(data["state"]), rtol=0, atol=1e-6)
    assert not torch.equal(data["obs"], data["state"])  # the student's input is the noisy observation
    assert torch.all((data["obs"] - data["state"]).abs() <= 0.3 * data["state"].abs() + 1e-6)


def test_curriculum_reaches_every_sub_env(tsl, tmp_path, counter_teacher, recorded_states):
    run_dir = tsl.main(stage2_args(tsl, tmp_path, counter_teacher, curriculum=True, num_envs=3, stage2_timesteps=360))
    assert [v for _, v in scalars(run_dir)["charts/noise_alpha"]] == pytest.approx([0.0, 0.15, 0.3])
    data = load_dataset(run_dir)
    data["state"] = torch.cat(recorded_states)
    rel = ((data["obs"] - data["state"]).abs() / data["state"].abs()).amax(-1).reshape(3, 40, 3)  # round, step, env
    per_env = rel.amax(1)  # the largest relative noise each sub-env produced in each round
    assert torch.all(per_env[0] == 0)
    assert torch.all(per_env[1] <= 0.15 + 1e-6) and torch.all(per_env[1] > 0.1)
    assert torch.all(per_env[2] <= 0.3 + 1e-6) and torch.all(per_env[2] > 0.2)


def test_teacher_from_l2t_sac_reproduces_its_actions(tsl, sac, counter_teacher):
    saved = torch.load(counter_teacher, weights_only=False)
    reference = sac.Actor(saved["state_dim"], saved["action_dim"], saved["hidden_dim"])
    reference.load_state_dict(saved["teacher"])
    teacher, steps, hidden = tsl.load_teacher(
        tsl.read_teacher(counter_teacher, "l2t-test/Counter-v0"), counter_teacher, 3, 2
    )
    x = torch.randn(100, 3)
    assert torch.equal(teacher.act(x), reference.act(x))
    assert steps == 200 and hidden == 32


def test_teacher_for_another_env_is_refused(tsl, tmp_path, counter_teacher):
    with pytest.raises(SystemExit, match="--teacher-checkpoint: .* has env_id='l2t-test/Counter-v0'") as e:
        tsl.main(stage2_args(tsl, tmp_path, counter_teacher, env_id="HalfCheetah-v4"))
    assert "\n" not in str(e.value.code)
    other = torch.load(counter_teacher, weights_only=False)
    other["state_dim"] = 4
    checkpoint_file.save(other, str(tmp_path / "wrong_dims.pt"))
    with pytest.raises(SystemExit, match="state_dim=4"):
        tsl.main(stage2_args(tsl, tmp_path, str(tmp_path / "wrong_dims.pt")))


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(method="gail"), "--method"),
        (dict(beta_schedule="cosine"), "--beta-schedule"),
        (dict(student_loss="huber"), "--student-loss"),
        (dict(alpha=-1.0), "--alpha"),
        (dict(beta_decay=1.5), "--beta-decay"),
        (dict(stage2_timesteps=4), "--stage2-timesteps"),
        (dict(teacher_checkpoint="missing.pt"), "--teacher-checkpoint"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_the_flag(tsl, tmp_path, overrides, flag):
    with pytest.raises(SystemExit) as e:
        tsl.main(stage2_args(tsl, tmp_path, None, **overrides))
    assert flag in str(e.value.code) and "\n" not in str(e.value.code)


def test_resume_continues_from_the_next_round(tsl, tmp_path, counter_teacher, monkeypatch):
    # the teacher's evaluation, round 0's, then a crash in round 1's
    with crash_on_call(monkeypatch, tsl, "evaluate", 3):
        tsl.main(stage2_args(tsl, tmp_path, counter_teacher))
    (path,) = glob.glob(str(tmp_path / "tsl" / "*" / "checkpoint.pt"))
    stopped = torch.load(path, weights_only=False)
    assert stopped["round"] == 1 and len(stopped["dataset"]["obs"]) == 80
    tsl.main(stage2_args(tsl, tmp_path, None, resume=path))
    done = torch.load(path, weights_only=False)
    assert done["round"] == 3 and done["global_step"] == 200 + 240
    assert torch.equal(done["dataset"]["obs"][:80], stopped["dataset"]["obs"])
    steps = [s for s, _ in scalars(os.path.dirname(path))["eval/student_return"]]
    assert steps == [280, 360, 440]  # one curve: round 0 from the first run, rounds 1-2 after resuming


def test_smoke_two_stages_on_halfcheetah(tmp_path):
    """Stage 1 trains a tiny teacher, stage 2 runs two short DAgger rounds; the student's curve starts after
    the teacher's budget on the shared global_step axis."""
    cmd = [
        sys.executable,
        SCRIPT,
        "--teacher-timesteps",
        "400",
        "--learning-starts",
        "200",
        "--batch-size",
        "64",
        "--stage2-timesteps",
        "1000",
        "--dagger-rounds",
        "2",
        "--eval-episodes",
        "1",
        "--torch-threads",
        "1",
        "--runs-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "out of date" not in proc.stderr and "settotalmass" not in proc.stderr  # filtered, not silenced: see below
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("stage 1: SAC teacher") and any(line.startswith("stage 2: dagger") for line in lines)
    assert [line.split(" | ")[1] for line in lines if " done | " in line] == ["step 900/1400", "step 1400/1400"]
    (run_dir,) = glob.glob(str(tmp_path / "HalfCheetah-v4__*"))
    logged = scalars(run_dir)
    assert [s for s, _ in logged["eval/teacher_return"]] == [400]
    assert [s for s, _ in logged["eval/student_return"]] == [400 + 500, 400 + 1000]
    assert [v for _, v in logged["charts/beta"]] == [1.0, 0.5]
    saved = torch.load(os.path.join(run_dir, "teacher.pt"), weights_only=False)
    assert saved["global_step"] == 400  # counted, and reloadable as a --teacher-checkpoint


def test_nonfinite_stage1_loss_stops_after_saving(tsl, tmp_path):
    with pytest.raises(SystemExit, match="stage 1: non-finite critic loss at step 65") as e:
        tsl.main(
            tsl.Args(
                env_id="l2t-test/NaNReward-v0",
                teacher_timesteps=200,
                learning_starts=64,
                batch_size=32,
                hidden_dim=32,
                stage2_timesteps=30,
                dagger_rounds=1,
                runs_dir=str(tmp_path),
                torch_threads=1,
            )
        )
    (path,) = glob.glob(str(tmp_path / "*" / "nonfinite_stage1_step65.pt"))
    assert path in str(e.value.code)
    saved = torch.load(path, weights_only=False)
    assert all(torch.isfinite(v).all() for v in saved["critic"].values())


def test_stage1_resume_continues_the_teacher_run(tsl, tmp_path, monkeypatch):
    """Stage 1 interrupted after its step-200 checkpoint resumes at 200 with the saved buffer and ends at 300."""
    args = dict(
        env_id="l2t-test/Counter-v0",
        teacher_timesteps=300,
        learning_starts=64,
        batch_size=32,
        hidden_dim=32,
        checkpoint_frequency=100,
        stage2_timesteps=60,
        dagger_rounds=1,
        eval_episodes=1,
        runs_dir=str(tmp_path),
        torch_threads=1,
    )
    with crash_on_call(monkeypatch, tsl, "log_episodes", 250):  # called once per stage-1 step
        tsl.main(tsl.Args(**args))
    (path,) = glob.glob(str(tmp_path / "*" / "stage1_checkpoint.pt"))
    stopped = torch.load(path, weights_only=False)
    assert stopped["global_step"] == 200 and stopped["size"] == 200
    run_dir = tsl.main(tsl.Args(**args, resume=path))
    assert run_dir == os.path.dirname(path)
    done = torch.load(path, weights_only=False)
    assert done["global_step"] == 300 and done["size"] == 300
    assert torch.equal(done["storage"][:200], stopped["storage"])  # the buffer was restored, not refilled
    assert torch.load(os.path.join(run_dir, "teacher.pt"), weights_only=False)["global_step"] == 300
    assert [s for s, _ in scalars(run_dir)["eval/teacher_return"]] == [300]
    with pytest.raises(SystemExit, match="stage 1 finished"):
        tsl.main(tsl.Args(**args, resume=path))
