"""--resume restores the saved state exactly: after a run writes its checkpoint and a second run resumes from it,
the resumed run enters its training loop with every network and normaliser tensor, every optimiser's state (moments,
step counts, learning rates), the entropy temperature (SAC), the replay buffer (SAC) and the torch, numpy and python
RNG states equal to the saved ones, and its envs start from the documented seed (the run's seed + the saved step:
envs restart fresh episodes on resume, their own generators are not saved).

The resumed run is observed from outside, without any plumbing function of the scripts: torch.optim.Adam and the
networks' constructors are wrapped to record the instances the run builds, and the state is captured at the first
call of the loop's first algorithm function (l2t_ppo_digit.collect_rollout, l2t_sac_mujoco.Actor.sample), before
anything in the loop draws a random number. tsl_dagger_baseline.py: stage 1 (its SAC teacher) is read from
train_teacher's own frame at the resumed loop's first action, stage 2 (DAgger) at the entry of its `dagger` loop.
"""

import copy
import os
import random
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import crash_on_call, load_script
from envs import checkpoint as checkpoint_file
from toy_env import ReachDigitVec


def same(a, b) -> bool:
    """Exact equality of nested dicts / lists / tuples of tensors, arrays and plain values (dtype included)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def rng_now():
    return {
        "torch": torch.get_rng_state().clone(),
        "numpy": copy.deepcopy(np.random.get_state()),
        "python": random.getstate(),
    }


@pytest.fixture
def recorded_adams(monkeypatch):
    """Every torch.optim.Adam built while the test runs (the scripts look the class up when they build one)."""
    made = []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    return made


def optimizer_of(optimizers, params):
    """The one optimiser whose parameters are exactly the tensors `params` (by identity)."""
    ids = [id(p) for p in params]
    found = [o for o in optimizers if [id(p) for g in o.param_groups for p in g["params"]] == ids]
    assert len(found) == 1, f"{len(found)} optimisers hold these parameters"
    return found[0]


def assert_rng_restored(now, saved):
    assert torch.equal(now["torch"], saved["torch"])
    assert same(tuple(now["numpy"]), tuple(saved["numpy"]))
    assert now["python"] == saved["python"]


# --- l2t_ppo_digit.py ----------------------------------------------------------------------------------------------


def test_ppo_resume_restores_networks_normalisers_optimisers_rate_and_rng(tmp_path, monkeypatch, recorded_adams):
    ppo = load_script("l2t_ppo_digit")
    monkeypatch.setattr(
        ppo,
        "make_envs",
        lambda num_envs, workers, seed, alpha, *a, **k: ReachDigitVec(num_envs, alpha=alpha, seed=seed),
    )
    kwargs = dict(
        num_envs=4,
        num_workers=0,
        num_steps=6,
        num_minibatches=2,
        update_epochs=2,
        eval_frequency=0,
        eval_episodes=2,
        checkpoint_frequency=0,
        runs_dir=str(tmp_path),
        terrain="flat",
        alpha=0.2,
        seed=3,
        student_loss="kl",
        init_noise_std=0.5,
    )
    run_dir = ppo.main(ppo.Args(total_timesteps=48, **kwargs))
    path = os.path.join(run_dir, "checkpoint.pt")
    saved = checkpoint_file.load(path)
    # what a restore could get wrong is not at its initial value: the adaptive rate moved, the normalisers counted
    assert saved["learning_rate"] != ppo.Args.learning_rate
    assert float(saved["nets"]["state_norm.count"]) == 48 and float(saved["nets"]["obs_norm.count"]) == 48
    assert all(s["step"] > 0 for o in saved["optimizers"].values() for s in o["state"].values())

    recorded_adams.clear()  # the resumed run's only
    captured = {}
    real = ppo.collect_rollout

    def spy(envs, nets, obs, hidden, *args, **kw):
        if not captured:  # the resumed loop's first rollout, before it draws anything
            captured.update(
                rng=rng_now(),
                nets=copy.deepcopy(nets.state_dict()),
                obs=copy.deepcopy(obs),
                hidden=[h.clone() for h in hidden],
                optimizers={
                    name: copy.deepcopy(optimizer_of(recorded_adams, list(part.parameters())).state_dict())
                    for name, part in (("teacher", nets.teacher), ("critic", nets.critic), ("student", nets.student))
                },
            )
        return real(envs, nets, obs, hidden, *args, **kw)

    monkeypatch.setattr(ppo, "collect_rollout", spy)
    ppo.main(ppo.Args(total_timesteps=72, resume=path, **kwargs))

    assert captured["nets"].keys() == saved["nets"].keys()
    for key in (
        "state_norm.mean",
        "state_norm.var",
        "state_norm.count",
        "obs_norm.mean",
        "obs_norm.var",
        "obs_norm.count",
        "teacher.log_std",
        "student.log_std",
    ):
        assert key in saved["nets"]
    for key, value in saved["nets"].items():
        assert same(captured["nets"][key], value), key
    for name, state in saved["optimizers"].items():  # moments, step counts, and each group's rate
        assert same(captured["optimizers"][name], state), name
    assert captured["optimizers"]["teacher"]["param_groups"][0]["lr"] == saved["learning_rate"]
    assert_rng_restored(captured["rng"], saved["rng"])
    # the envs restart fresh episodes from the seed the run's seed and the saved step give; the LSTM from zero
    expected, _ = ReachDigitVec(4, alpha=0.2).reset(seed=3 + saved["global_step"])
    assert same(captured["obs"]["state"], expected["state"])
    assert all((h == 0).all() for h in captured["hidden"])


# --- l2t_sac_mujoco.py ---------------------------------------------------------------------------------------------


def test_sac_resume_restores_networks_optimisers_temperature_buffer_and_rng(tmp_path, monkeypatch, recorded_adams):
    sac = load_script("l2t_sac_mujoco")
    kwargs = dict(
        env_id="l2t-test/Reach-v0",
        learning_starts=40,
        batch_size=16,
        num_envs=2,
        hidden_dim=16,
        eval_frequency=0,
        eval_episodes=1,
        checkpoint_frequency=0,
        runs_dir=str(tmp_path),
        torch_threads=1,
        seed=5,
        alpha=0.2,
    )
    run_dir = sac.main(sac.Args(total_timesteps=100, **kwargs))
    path = os.path.join(run_dir, "checkpoint.pt")
    saved = checkpoint_file.load(path)
    assert float(saved["log_ent_coef"]) != 0.0  # autotuned away from its initial log 1
    assert saved["buffer"]["size"] == 100
    for name in ("q_optimizer", "actor_optimizer", "student_optimizer", "ent_optimizer"):
        assert all(s["step"] > 0 for s in saved[name]["state"].values()), name

    recorded_adams.clear()  # the resumed run's only
    actors, critics, buffers, captured = [], [], [], {}
    for cls, store in ((sac.Actor, actors), (sac.TwinQ, critics), (sac.ReplayBuffer, buffers)):

        def init(self, *a, _real=cls.__init__, _store=store, **k):
            _real(self, *a, **k)
            where = self.storage if isinstance(self, sac.ReplayBuffer) else next(self.parameters())
            if where.device.type != "meta":
                _store.append(self)  # (the memory check builds the networks on the meta device too)

        monkeypatch.setattr(cls, "__init__", init)
    real_sample = sac.Actor.sample

    def sample(self, x, *a, **k):
        if not captured:  # the resumed loop's first action, before it draws anything: `self` is the teacher
            student = [m for m in actors if m is not self]
            critic = [m for m in critics if all(p.requires_grad for p in m.parameters())]
            target = [m for m in critics if not any(p.requires_grad for p in m.parameters())]
            assert len(student) == len(critic) == len(target) == len(buffers) == 1
            modules = {"teacher": self, "student": student[0], "critic": critic[0], "target_critic": target[0]}
            ent = [o for o in recorded_adams if [p.shape for g in o.param_groups for p in g["params"]] == [(1,)]]
            assert len(ent) == 1
            captured.update(
                rng=rng_now(),
                states=x.clone(),
                modules={k: copy.deepcopy(m.state_dict()) for k, m in modules.items()},
                log_ent_coef=ent[0].param_groups[0]["params"][0].detach().clone(),
                buffer=copy.deepcopy(buffers[0].state_dict()),
                optimizers={
                    "actor_optimizer": optimizer_of(recorded_adams, list(self.parameters())),
                    "student_optimizer": optimizer_of(recorded_adams, list(student[0].parameters())),
                    "q_optimizer": optimizer_of(recorded_adams, list(critic[0].parameters())),
                    "ent_optimizer": ent[0],
                },
            )
            captured["optimizers"] = {k: copy.deepcopy(o.state_dict()) for k, o in captured["optimizers"].items()}
        return real_sample(self, x, *a, **k)

    monkeypatch.setattr(sac.Actor, "sample", sample)
    sac.main(sac.Args(total_timesteps=104, resume=path, **kwargs))

    for name, state in captured["modules"].items():
        assert same(state, saved[name]), name
    for name, state in captured["optimizers"].items():
        assert same(state, saved[name]), name
    assert same(captured["log_ent_coef"], saved["log_ent_coef"])
    assert same(captured["buffer"], saved["buffer"])
    assert_rng_restored(captured["rng"], saved["rng"])
    # sub-env i restarts from seed + saved step + i (gymnasium's vector seeding)
    expected = [gym.make("l2t-test/Reach-v0").reset(seed=5 + saved["global_step"] + i)[0] for i in range(2)]
    assert torch.equal(captured["states"], torch.as_tensor(np.stack(expected), dtype=torch.float32))


# --- l2t_ipmd_cassie.py --------------------------------------------------------------------------------------------


def test_ipmd_resume_restores_networks_optimisers_temperature_buffer_and_rng(tmp_path, monkeypatch):
    """IPMD (irl mode: teacher, student, critic, both reward networks and their optimisers): at the resumed loop's
    first action every module and optimiser state, the temperature, the buffer and the RNGs equal the saved ones."""
    from test_ipmd_cassie import make_demo

    ipmd = load_script("l2t_ipmd_cassie")
    kwargs = dict(
        learning_starts=160,
        batch_size=32,
        num_envs=2,
        hidden_dim=32,
        eval_frequency=0,
        eval_episodes=1,
        expert_path=make_demo(str(tmp_path / "demo.npz"), steps=20),
        runs_dir=str(tmp_path),
        torch_threads=1,
        log_frequency=40,
        reward_mode="irl",
        student_loss="l1",
        seed=4,
    )
    run_dir = ipmd.main(ipmd.Args(total_timesteps=240, **kwargs))
    path = os.path.join(run_dir, "checkpoint.pt")
    saved = checkpoint_file.load(path)
    assert saved["reward_t_optimizer"]["state"] != {} and saved["student_optimizer"]["state"] != {}  # all trained

    runs, captured = [], {}
    real_restore, real_sample = ipmd.restore, ipmd.Actor.sample

    def restore(ckpt, args, run):
        runs.append(run)
        return real_restore(ckpt, args, run)

    def sample(self, x, *a, **k):
        if runs and not captured:  # the resumed loop's first action (the teacher's), before it draws anything
            run = runs[0]
            captured.update(
                rng=rng_now(),
                modules={key: copy.deepcopy(m.state_dict()) for key, m in run.modules.items()},
                log_ent_coef=run.log_ent_coef.detach().clone(),
                buffer=copy.deepcopy(run.rb.state_dict()),
            )
        return real_sample(self, x, *a, **k)

    monkeypatch.setattr(ipmd, "restore", restore)
    monkeypatch.setattr(ipmd.Actor, "sample", sample)
    ipmd.main(ipmd.Args(total_timesteps=244, resume=path, **kwargs))

    assert {"teacher", "student", "reward_t_optimizer", "reward_s_optimizer"} <= captured["modules"].keys()
    for key, state in captured["modules"].items():
        assert same(state, saved[key]), key
    assert same(captured["log_ent_coef"], saved["log_ent_coef"])
    assert same(captured["buffer"], saved["buffer"])
    assert_rng_restored(captured["rng"], saved["rng"])


# --- tsl_dagger_baseline.py ----------------------------------------------------------------------------------------


def tsl_counter_args(tsl, tmp_path, **overrides):
    kwargs = dict(
        env_id="l2t-test/Counter-v0",
        teacher_timesteps=300,
        learning_starts=64,
        batch_size=32,
        hidden_dim=32,
        checkpoint_frequency=100,
        stage2_timesteps=240,
        num_envs=2,
        dagger_rounds=3,
        epochs_per_round=2,
        student_batch_size=32,
        eval_episodes=1,
        alpha=0.3,
        runs_dir=str(tmp_path),
        torch_threads=1,
        seed=6,
    )
    kwargs.update(overrides)
    return tsl.Args(**kwargs)


def test_tsl_stage1_resume_restores_networks_optimisers_temperature_buffer_and_rng(tmp_path, monkeypatch):
    """Stage 1 (SAC teacher) stopped after its step-200 checkpoint: at the resumed loop's first action the teacher,
    critic, target critic, their three optimisers, the temperature, the replay rows and position and the RNGs equal
    the saved ones, and the env restarts from seed + saved step. Read from stage 1's own frame (train_teacher's
    locals), without any plumbing function of the script."""
    tsl = load_script("tsl_dagger_baseline")
    args = tsl_counter_args(tsl, tmp_path)
    with crash_on_call(monkeypatch, tsl, "log_episodes", 250):  # called once per stage-1 step
        tsl.main(args)
    (path,) = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path) for f in fs if f == "stage1_checkpoint.pt"]
    saved = checkpoint_file.load(path)
    assert saved["global_step"] == 200 and float(saved["log_ent_coef"]) != 0.0
    for name in ("q_optimizer", "actor_optimizer", "ent_optimizer"):
        assert all(s["step"] > 0 for s in saved[name]["state"].values()), name

    captured, real_sample = {}, tsl.Actor.sample

    def sample(self, x, *a, **k):
        if not captured:  # the resumed loop's first action (step 201 > learning_starts: the teacher acts)
            stage1 = sys._getframe(1).f_locals  # train_teacher's
            captured.update(
                rng=rng_now(),
                states=x.clone(),
                modules={key: copy.deepcopy(m.state_dict()) for key, m in stage1["modules"].items()},
                log_ent_coef=stage1["log_ent_coef"].detach().clone(),
                storage=stage1["storage"][: stage1["size"]].clone(),
                size=stage1["size"],
                pos=stage1["pos"],
                start=stage1["start"],
            )
        return real_sample(self, x, *a, **k)

    monkeypatch.setattr(tsl.Actor, "sample", sample)
    tsl.main(tsl_counter_args(tsl, tmp_path, resume=path, stage2_timesteps=40, dagger_rounds=1))

    assert set(captured["modules"]) == {
        "teacher",
        "critic",
        "target_critic",
        "q_optimizer",
        "actor_optimizer",
        "ent_optimizer",
    }
    for key, state in captured["modules"].items():
        assert same(state, saved[key]), key
    assert same(captured["log_ent_coef"], saved["log_ent_coef"])
    assert same(captured["storage"], saved["storage"])
    assert (captured["size"], captured["pos"], captured["start"]) == (saved["size"], saved["pos"], 200)
    assert_rng_restored(captured["rng"], saved["rng"])
    env = tsl.make_env(args.env_id, 0.0, args.noise, args.seed)()
    expected = env.reset(seed=args.seed + saved["global_step"])[0]["state"]
    assert torch.equal(captured["states"], torch.as_tensor(expected, dtype=torch.float32)[None])


def test_tsl_stage2_resume_restores_student_optimiser_dataset_and_rng(tmp_path, monkeypatch):
    """Stage 2 (DAgger) stopped in round 2: the resumed run enters its DAgger loop at round 1 (0-based) with the
    student, its optimiser, the aggregated dataset, torch's / numpy's / python's generators and DAgger's beta coin
    equal to the checkpoint's."""
    tsl = load_script("tsl_dagger_baseline")
    args = tsl_counter_args(tsl, tmp_path, method="dagger")
    # stage 1's evaluation of the teacher, round 0's of the student, then a crash in round 1's
    with crash_on_call(monkeypatch, tsl, "evaluate", 3):
        tsl.main(args)
    (path,) = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path) for f in fs if f == "checkpoint.pt"]
    saved = checkpoint_file.load(path)
    assert saved["round"] == 1 and saved["optimizer"]["state"] != {} and len(saved["dataset"]["obs"]) == 80

    captured, real_dagger = {}, tsl.dagger

    def dagger(args, run, envs, to_env, teacher, student, dataset, optimizer, evaluate, rng, global_step, first):
        captured.update(
            rng=rng_now(),
            beta_coin=copy.deepcopy(rng.bit_generator.state),
            student=copy.deepcopy(student.state_dict()),
            optimizer=copy.deepcopy(optimizer.state_dict()),
            dataset=copy.deepcopy(dataset.state_dict()),
            global_step=global_step,
            first=first,
        )
        return real_dagger(
            args, run, envs, to_env, teacher, student, dataset, optimizer, evaluate, rng, global_step, first
        )

    monkeypatch.setattr(tsl, "dagger", dagger)
    tsl.main(tsl_counter_args(tsl, tmp_path, method="dagger", resume=path))

    assert (captured["first"], captured["global_step"]) == (1, saved["global_step"])
    assert same(captured["student"], saved["student"])
    assert same(captured["optimizer"], saved["optimizer"])
    assert same(captured["dataset"], saved["dataset"])
    assert_rng_restored(captured["rng"], saved["rng"])
    assert captured["beta_coin"] == saved["rng"]["beta_coin"]
