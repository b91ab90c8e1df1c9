"""Checkpoint files: atomic writes, safe loading, clear errors, random states, and what resuming takes."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from seqkit.checkpoint import (
    CheckpointError,
    load_checkpoint,
    preserved_random_states,
    random_states,
    require_fields,
    restore_random_states,
    resume_path,
    save_checkpoint,
)

#: What resuming reads from a checkpoint, and its type.
RESUMABLE = {"model": dict, "optimizer": dict, "progression": dict, "random": dict}


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_saved_checkpoint_loads_with_weights_only_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "progression": {"step": 3}}, path)
    payload = torch.load(path, weights_only=True)
    assert payload["progression"] == {"step": 3}
    assert torch.equal(payload["model"]["w"], torch.ones(2))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_checkpoint_file_gets_the_usual_permissions(tmp_path):
    path = tmp_path / "last.pt"
    umask = os.umask(0o022)
    try:
        save_checkpoint({}, path)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_truncated_checkpoint_is_reported_as_damaged(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*last\.pt: the file is truncated"):
        load_checkpoint(path)


def test_torch_file_without_the_seqkit_marker_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    with pytest.raises(CheckpointError, match="is not a seqkit checkpoint"):
        load_checkpoint(path)


class Pickled:
    """An arbitrary object: what weights_only loading must refuse to unpickle."""


def test_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "seqkit-checkpoint", "payload": Pickled()}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint") as refused:
        load_checkpoint(path)
    assert "Pickled" in str(refused.value) and "Please file an issue" not in str(refused.value)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_random_states_survive_a_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    path = tmp_path / "rng.pt"
    save_checkpoint({"random": random_states()}, path)
    expected = draws()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    restore_random_states(load_checkpoint(path)["random"])
    assert draws() == expected


def test_preserved_random_states_leave_every_stream_where_it_was():
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    expected = draws()
    torch.manual_seed(5), random.seed(5), np.random.seed(5)
    with preserved_random_states():
        draws(), draws()
    assert draws() == expected


def test_resume_auto_without_a_checkpoint_starts_afresh(tmp_path):
    assert resume_path("auto", tmp_path / "checkpoints") is None


def test_resume_auto_finds_this_runs_last_checkpoint(tmp_path):
    save_checkpoint({}, tmp_path / "checkpoints" / "last.pt")
    assert resume_path("auto", tmp_path / "checkpoints") == tmp_path / "checkpoints" / "last.pt"


def test_resume_from_a_run_directory_uses_its_last_checkpoint(tmp_path):
    save_checkpoint({}, tmp_path / "old" / "checkpoints" / "last.pt")
    assert resume_path(str(tmp_path / "old"), tmp_path / "new" / "checkpoints") == (
        tmp_path / "old" / "checkpoints" / "last.pt"
    )


def test_resume_from_a_missing_place_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="trainer.resume=.*no checkpoint at"):
        resume_path(str(tmp_path / "gone.pt"), tmp_path / "checkpoints")


def test_a_checkpoint_missing_what_resuming_needs_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="lacks optimizer, random: it cannot resume training"):
        require_fields({"model": {}, "progression": {}}, RESUMABLE, tmp_path / "last.pt")


def test_a_checkpoint_entry_of_the_wrong_type_is_named(tmp_path):
    payload = {"model": "weights", "optimizer": {}, "progression": {}, "random": {}}
    with pytest.raises(CheckpointError, match="its 'model' entry holds a str, not a dict"):
        require_fields(payload, RESUMABLE, tmp_path / "last.pt")
