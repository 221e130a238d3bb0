"""benchmarks/sac_tables.py: the numbers of paper 1's Tables 2 and 3 are read back right from a run's events."""

import copy
import importlib.util
import os
from types import SimpleNamespace

import pytest

from conftest import ROOT
from envs.checkpoint import open_writer


def load_benchmark(name):
    """A script of benchmarks/ as a module, without running its main."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sac_tables():
    return load_benchmark("sac_tables")


def fake_run(path, teacher, student, **hparams):
    """A run folder as l2t_sac_mujoco.py writes it: the hyperparameter table, then evaluations every 10k steps."""
    args = dict(env_id="HalfCheetah-v4", noise="uniform", alpha=0.4, student_loss="l1+asym", seed=1, bf16=False)
    args.update(hparams)
    writer = open_writer(str(path), SimpleNamespace(**args), 0)
    for i, (t, s) in enumerate(zip(teacher, student)):
        writer.add_scalar("eval/teacher_return", t, 10_000 * (i + 1))
        writer.add_scalar("eval/student_return", s, 10_000 * (i + 1))
        writer.add_scalar("charts/SPS", 50.0 + i, 10_000 * (i + 1))
    writer.close()
    return str(path)


def test_read_run_best_last5_and_config(sac_tables, tmp_path):
    teacher = [100.0, 900.0, 300.0, 400.0, 500.0, 600.0, 700.0]
    student = [50.0, 100.0, 800.0, 200.0, 300.0, 400.0, 500.0]
    row = sac_tables.read_run(fake_run(tmp_path / "a", teacher, student, alpha=0.1, seed=2))
    assert (row["alpha"], row["seed"], row["noise"], row["student_loss"], row["bf16"]) == (
        0.1,
        2,
        "uniform",
        "l1+asym",
        False,
    )
    assert (row["teacher_best"], row["teacher_best_step"]) == (900.0, 20_000)
    assert (row["student_best"], row["student_best_step"]) == (800.0, 30_000)
    assert row["teacher_last5"] == pytest.approx(500.0) and row["student_last5"] == pytest.approx(440.0)
    assert row["steps"] == 70_000 and row["sps_median"] == 53.0


def test_cells_group_tables_and_csv_round_trip(sac_tables, tmp_path):
    runs = [
        fake_run(tmp_path / "a", [1.0, 2.0], [1.0, 1.0], alpha=0.3),
        fake_run(tmp_path / "b", [1.0, 4.0], [1.0, 3.0], alpha=0.3, student_loss="l2"),
        fake_run(tmp_path / "c", [1.0, 2.0], [1.0, 2.0], alpha=0.4, noise="gaussian"),
        fake_run(tmp_path / "d", [1.0, 2.0], [1.0, 2.0], alpha=0.3, bf16=True),
    ]
    rows = [sac_tables.read_run(r) for r in runs]
    t2, t3 = sac_tables.cells(rows)
    # Table 2: default loss, float32, per (noise, alpha); Table 3: uniform 0.3, float32, per loss; bf16 in neither
    assert sorted(t2) == [("gaussian", 0.4), ("uniform", 0.3)] and sorted(t3) == ["l1+asym", "l2"]
    assert t3["l2"][0]["student_best"] / t3["l2"][0]["teacher_best"] == 0.75
    path = tmp_path / "rows.csv"
    sac_tables.write_csv(rows, path)
    back = sac_tables.load_csv(path)
    assert [{k: r[k] for k in sac_tables.FIELDS} for r in back] == [{k: r[k] for k in sac_tables.FIELDS} for r in rows]


def test_plan_adds_second_seed_for_best_and_worst_loss_once_all_are_in(sac_tables, tmp_path, capsys):
    students = {"l1": 30.0, "l2": 50.0, "kl": 10.0, "asym": 40.0}  # kl worst; l1+asym (below) best
    for loss, s in students.items():
        fake_run(tmp_path / loss, [100.0, 100.0], [s, s], alpha=0.3, student_loss=loss)

    def second_seeds():
        capsys.readouterr()
        sac_tables.plan(str(tmp_path), 20_000)
        lines = capsys.readouterr().out.splitlines()
        return sorted(
            line.split("--student-loss ")[1].split()[0]
            for line in lines
            if "--seed 2 " in line and "--alpha 0.3 " in line
        )

    assert second_seeds() == []  # l1+asym's seed-1 run is missing: best and worst not known yet
    fake_run(tmp_path / "l1asym", [100.0, 100.0], [60.0, 60.0], alpha=0.3)
    assert second_seeds() == ["kl", "l1+asym"]
    fake_run(tmp_path / "kl2", [100.0, 100.0], [5.0, 5.0], alpha=0.3, student_loss="kl", seed=2)
    capsys.readouterr()
    sac_tables.plan(str(tmp_path), 20_000)
    out = capsys.readouterr().out
    assert any(line.startswith("done ") and "--student-loss kl --seed 2 " in line for line in out.splitlines())


def test_digit_throughput_measures_the_warp_backend():
    """benchmarks/digit_throughput.py --backend warp: the env-only measurement (here on warp's CPU device, 2 flat
    worlds) agrees with the test's own clocks around each env step, physics call and reset of the timed steps: the
    steps/s is num_envs * steps over the timed window, and the physics and reset parts lie between the test's own
    times of those calls and the whole steps that hold them. (The function's three parts always add up to its wall
    time by construction, so that is no check.)"""
    import time

    import mujoco_warp  # noqa: F401  (a pinned requirement: a broken install fails here, it does not skip)
    from envs.digit.warp_vector import DigitWarpVectorEnv

    num_envs, steps, warmup = 2, 4, 2
    envs = DigitWarpVectorEnv(num_envs=num_envs, device="cpu", seed=0, alpha=0.1, env_kwargs={"terrain": "flat"})
    envs.reset()
    calls = {"step": [], "physics": [], "reset": []}

    def clocked(name, fn):  # the test's own clock, innermost for physics and reset, outermost for the step
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            calls[name].append((t0, time.perf_counter()))
            return out

        return wrapper

    envs.step = clocked("step", envs.step)
    envs.sim.step = clocked("physics", envs.sim.step)
    envs._reset_worlds = clocked("reset", envs._reset_worlds)
    sps, physics, reset, rest = load_benchmark("digit_throughput").warp_throughput(
        num_envs, steps, "cpu", envs=envs, warmup=warmup
    )
    assert len(calls["step"]) == len(calls["physics"]) == len(calls["reset"]) == warmup + steps
    timed = calls["step"][warmup:]
    window = timed[-1][1] - timed[0][0]  # from the first timed step's start to the last one's end
    outer = timed[-1][1] - calls["step"][warmup - 1][1]  # from the last warm-up step's end
    elapsed = num_envs * steps / sps
    # fails if the rate counts the warm-up steps, misses the env count, or times something else than the steps
    assert window <= elapsed <= 1.1 * outer + 0.02, (window, elapsed, outer)
    in_steps = sum(b - a for a, b in timed)
    for name, part in (("physics", physics), ("reset", reset)):
        own = sum(b - a for a, b in calls[name][warmup:])
        # fails if a part is not the time of its own calls in the timed steps (e.g. per all steps, or the warm-up's)
        assert own <= part * steps <= in_steps, (name, own, part * steps, in_steps)
    assert rest >= 0
    assert physics * steps + reset * steps <= in_steps


def test_digit_throughput_check_prints_one_summary_table(capsys):
    """--check on warp's CPU device (2 flat worlds, the PPO part skipped): every check passes, and the table names
    the overflow check, the buffer use against njmax and the steps/s split."""
    import mujoco_warp  # noqa: F401  (a pinned requirement: a broken install fails here, it does not skip)

    bench = load_benchmark("digit_throughput")
    rows = bench.check(2, "cpu", terrain="flat", steps=2, train_iterations=0)
    assert bench.print_check(rows, "cpu", 2)
    out = capsys.readouterr().out
    assert "| MuJoCo Warp buffer overflow (check_overflow) | none | PASS |" in out
    assert "/ 256 |" in out and "physics / reset / task" in out and "FAIL" not in out
    assert out.count("|---|---|---|") == 1 and out.rstrip().endswith("All checks passed.")


@pytest.fixture(scope="module")
def probe():
    """benchmarks/probe_digit_units.py as a module (its patch of the script's Teacher runs only under __main__)."""
    return load_benchmark("probe_digit_units")


def test_probe_units_teacher_is_the_same_policy_with_a_mean_head_learnt_in_smaller_units(probe):
    torch = probe.torch
    torch.manual_seed(0)
    base = probe.ppo.Teacher(12, 3, 0.05)
    torch.manual_seed(0)
    unit = probe.UnitTeacher(12, 3, 0.05)
    x = torch.randn(4, 12)
    (mean_b, log_std_b), (mean_u, log_std_u) = base(x), unit(x)
    assert torch.allclose(mean_b, mean_u, atol=1e-6) and torch.allclose(log_std_b, log_std_u)
    assert "log_std" not in dict(unit.named_parameters())  # the std is learnt in units of UNIT, as log_std_u
    moved = {}
    for name, net in (("base", base), ("unit", unit)):
        before = [p.detach().clone() for p in net.actor.parameters()]
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        mean, log_std = net(x)
        ((mean - 1.0).pow(2).sum() + log_std.sum()).backward()
        optimizer.step()
        scale = probe.UNIT if name == "unit" else 1.0  # the last layer's weights in env units
        moved[name] = [(p.detach() - b).abs().sum() for p, b in zip(net.actor.parameters(), before)]
        moved[name][-2:] = [m * scale for m in moved[name][-2:]]
        moved[name + "_log_std"] = net.log_std.detach().clone()
    for m_b, m_u in zip(moved["base"][:-2], moved["unit"][:-2]):  # hidden layers: the same Adam step
        assert torch.allclose(m_b, m_u, rtol=1e-4)
    for m_b, m_u in zip(moved["base"][-2:], moved["unit"][-2:]):  # mean head: UNIT times as far in env units
        assert torch.allclose(m_u, probe.UNIT * m_b, rtol=1e-3)
    assert torch.allclose(moved["base_log_std"], moved["unit_log_std"], atol=1e-6)  # log std: the same step


def test_probe_units_resume_rewrites_a_script_checkpoint_into_the_same_policy_and_adam_step(probe):
    torch = probe.torch
    torch.manual_seed(1)
    base, x = probe.ppo.Teacher(12, 3, 0.05), torch.randn(4, 12)

    def loss(net):
        mean, log_std = net(x)
        return (mean - 0.5).pow(2).sum() + log_std.sum()

    optimizer = torch.optim.Adam(base.parameters(), lr=1e-3)
    for _ in range(3):  # some Adam state to convert
        optimizer.zero_grad()
        loss(base).backward()
        optimizer.step()
    nets = {f"teacher.{k}": v.clone() for k, v in base.state_dict().items()}
    ckpt = {"nets": nets, "optimizers": {"teacher": copy.deepcopy(optimizer.state_dict())}}
    converted = probe.to_units(ckpt)
    assert probe.to_units(converted) is converted  # a harness checkpoint is left as it is
    unit = probe.UnitTeacher(12, 3, 1.0)
    unit.load_state_dict({k[len("teacher.") :]: v for k, v in converted["nets"].items()})
    unit_optimizer = torch.optim.Adam(unit.parameters(), lr=1e-3)
    unit_optimizer.load_state_dict(converted["optimizers"]["teacher"])
    assert torch.allclose(base(x)[0], unit(x)[0], atol=1e-6) and torch.allclose(base(x)[1], unit(x)[1])
    before = [p.detach().clone() for p in base.parameters()], [p.detach().clone() for p in unit.parameters()]
    for net, opt in ((base, optimizer), (unit, unit_optimizer)):
        opt.zero_grad()
        loss(net).backward()
        opt.step()
    for p_b, b_b, p_u, b_u in zip(base.parameters(), before[0], unit.parameters(), before[1]):
        assert torch.allclose(p_u - b_u, p_b - b_b, rtol=1e-3, atol=1e-7)  # the same step, each in its own units
