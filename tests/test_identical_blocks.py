"""Blocks that two scripts share are byte-identical, so that the copies cannot drift apart.

Scripts never import each other (each is read top to bottom on its own), so a class or function that two of them need
is copied. The copies below have no algorithmic reason to differ; this test reads each script's source text (ast, no
import) and compares every top-level block by name, docstrings and comments inside it included. To change one, change
every copy the same way. What differs for a reason (e.g. IPMD's critic target, its Cassie evaluation) is not listed.
"""

import ast
import difflib
import os

import pytest

from conftest import ROOT

SAC, IPMD, PPO, TSL = "l2t_sac_mujoco.py", "l2t_ipmd_cassie.py", "l2t_ppo_digit.py", "tsl_dagger_baseline.py"

# (the scripts, the top-level names whose source text must be the same in all of them)
SHARED = [
    (
        (SAC, IPMD),
        ("Actor", "TwinQ", "ReplayBuffer", "gaussian_kl", "student_loss", "run_name", "make_run_dir", "resume_hint"),
    ),
    ((SAC, IPMD, TSL), ("real_next_observation",)),
    ((SAC, TSL), ("Actor", "TwinQ", "make_env", "to_env_action")),  # TSL's stage-1 teacher loads across the two
    ((PPO, TSL), ("mlp", "EmpiricalNormalization", "Teacher", "Student")),  # Digit checkpoints load strictly
    ((SAC, IPMD, PPO, TSL), ("fail", "first_line")),
]
# module-level constants the shared blocks read: the same value in every script that has the block
CONSTANTS = [((SAC, IPMD, TSL), ("LOG_STD_MIN", "LOG_STD_MAX")), ((PPO, TSL), ("HIDDEN_SIZES",))]


def top_level(script):
    """{name: source text} of the script's top-level functions and classes, and {name: value} of its constants."""
    with open(os.path.join(ROOT, script)) as f:
        source = f.read()
    tree = ast.parse(source)
    blocks, constants = {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            blocks[node.name] = ast.get_source_segment(source, node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                values = node.value.elts if isinstance(node.value, ast.Tuple) and len(names) > 1 else [node.value]
                for name, value in zip(names, values):
                    if isinstance(name, ast.Name):
                        try:
                            constants[name.id] = ast.literal_eval(value)
                        except ValueError:
                            pass
    return blocks, constants


CASES = [(scripts, name) for scripts, names in SHARED for name in names]


@pytest.mark.parametrize(
    "scripts, name", CASES, ids=[f"{name}:{'+'.join(s[:-3] for s in scripts)}" for scripts, name in CASES]
)
def test_shared_block_is_byte_identical(scripts, name):
    texts = {}
    for script in scripts:
        blocks, _ = top_level(script)
        assert name in blocks, f"{script} has no top-level `{name}`"
        texts[script] = blocks[name]
    first = scripts[0]
    for script in scripts[1:]:
        diff = "".join(
            difflib.unified_diff(texts[first].splitlines(True), texts[script].splitlines(True), first, script, n=1)
        )
        assert texts[script] == texts[first], f"`{name}` differs between {first} and {script}:\n{diff}"


@pytest.mark.parametrize("scripts, names", CONSTANTS)
def test_constants_of_the_shared_blocks_agree(scripts, names):
    for name in names:
        values = {script: top_level(script)[1].get(name) for script in scripts}
        assert None not in values.values() and len(set(values.values())) == 1, (name, values)


def test_the_comparison_sees_a_one_character_change(tmp_path, monkeypatch):
    """The extraction is exact: a changed character inside a block is a difference, text outside it is not."""
    import conftest

    for script in (SAC, IPMD):
        with open(os.path.join(ROOT, script)) as f:
            (tmp_path / script).write_text(f.read())
    text = (tmp_path / IPMD).read_text()
    (tmp_path / IPMD).write_text("# a comment outside every block\n" + text)
    monkeypatch.setattr(conftest, "ROOT", str(tmp_path))
    monkeypatch.setitem(globals(), "ROOT", str(tmp_path))
    test_shared_block_is_byte_identical((SAC, IPMD), "TwinQ")
    (tmp_path / IPMD).write_text(text.replace("torch.baddbmm(b, x, w)", "torch.baddbmm(b, x,  w)", 1))
    with pytest.raises(AssertionError, match="`TwinQ` differs"):
        test_shared_block_is_byte_identical((SAC, IPMD), "TwinQ")
