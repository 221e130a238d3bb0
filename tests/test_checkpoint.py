"""envs/checkpoint.py: digests that catch flipped bytes, atomic writes that survive a crash, stale files removed."""

import os
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from conftest import ROOT
from envs import checkpoint as checkpoint_file


def payload():
    torch.manual_seed(0)
    return {
        "format": "test/1",
        "global_step": 1234,
        "nets": {"w": torch.randn(64, 64), "b": torch.zeros(64)},
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.default_rng(0).bit_generator.state,
            "python": (3, tuple(range(5)), None),
        },
        "low": np.array([-1.0, -2.0]),
    }


def flip_tensor_byte(path, entry_suffix):
    """Flip one byte inside a stored tensor of a torch zip file; the zip structure stays intact."""
    with zipfile.ZipFile(path) as z:
        (info,) = [i for i in z.infolist() if i.filename.endswith(entry_suffix)]
        assert info.compress_type == zipfile.ZIP_STORED
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        where = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(where)
        byte = f.read(1)
        f.seek(where)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_round_trip_keeps_the_payload_and_its_digest(tmp_path):
    path = str(tmp_path / "c.pt")
    checkpoint_file.save(payload(), path)
    loaded = checkpoint_file.load(path)
    assert torch.equal(loaded["nets"]["w"], payload()["nets"]["w"]) and loaded["global_step"] == 1234
    assert loaded["digest"] == checkpoint_file.payload_digest(payload())
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left


def test_flipped_tensor_bytes_are_refused(tmp_path):
    path = str(tmp_path / "c.pt")
    checkpoint_file.save(payload(), path)
    with zipfile.ZipFile(path) as z:  # the largest stored tensor: the 64 x 64 weights
        entry = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size).filename
    flip_tensor_byte(path, entry)
    changed = torch.load(path, weights_only=False)  # torch itself accepts the file...
    assert not torch.equal(changed["nets"]["w"], payload()["nets"]["w"])
    with pytest.raises(checkpoint_file.CheckpointError, match="corrupted"):  # ...we do not
        checkpoint_file.load(path)


def test_changed_values_and_missing_digests_are_refused(tmp_path):
    path = str(tmp_path / "c.pt")
    checkpoint_file.save(payload(), path)
    saved = torch.load(path, weights_only=False)
    torch.save({**saved, "global_step": 1235}, path)  # a plain number changed, the old digest kept
    with pytest.raises(checkpoint_file.CheckpointError, match="corrupted"):
        checkpoint_file.load(path)
    torch.save(payload(), path)
    with pytest.raises(checkpoint_file.CheckpointError, match="no digest"):
        checkpoint_file.load(path)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(checkpoint_file.CheckpointError, match="cannot read") as e:
        checkpoint_file.load(str(tmp_path / "junk.pt"))
    assert "\n" not in str(e.value)


CRASH = """
import os, sys
sys.path.insert(0, {root!r})
import torch
from envs import checkpoint as checkpoint_file
os.replace = lambda *a: os._exit(9)  # killed after the temporary file is written, before the rename
checkpoint_file.save({{"global_step": 2, "w": torch.ones(1000)}}, {path!r})
"""


def test_a_crash_during_a_write_keeps_the_previous_file_and_the_next_run_cleans_up(tmp_path):
    path = str(tmp_path / "checkpoint.pt")
    checkpoint_file.save({"global_step": 1, "w": torch.zeros(1000)}, path)
    proc = subprocess.run([sys.executable, "-c", CRASH.format(root=ROOT, path=path)], timeout=120)
    assert proc.returncode == 9
    stale = [f for f in os.listdir(tmp_path) if f.startswith("checkpoint.pt.tmp")]
    assert len(stale) == 1 and os.path.getsize(tmp_path / stale[0]) > 4000  # the whole new file, never renamed
    assert checkpoint_file.load(path)["global_step"] == 1  # the previous checkpoint is whole
    live = f"{path}.tmp{os.getppid()}"  # a temporary file of a process that still runs is left alone
    open(live, "wb").close()
    assert checkpoint_file.remove_stale_temps(path) == [str(tmp_path / stale[0])]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt", os.path.basename(live)]
