"""Pipelines saved by release 0.1.0 (``data/release-0.1.0``, written by its ``make_pipelines.py``)
load with today's code and answer exactly as they did in the process that trained them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.pipeline import HashingPipeline  # noqa: E402

RELEASE = Path(__file__).resolve().parent / "data" / "release-0.1.0"
EXPECTED = json.loads((RELEASE / "expected.json").read_text(encoding="utf-8"))
QUERIES = EXPECTED["queries"]
NAMES = sorted(EXPECTED["pipelines"])


def _assert_answers(pipe: HashingPipeline, expected: dict) -> None:
    assert [bytes(row).hex() for row in pipe.encode(QUERIES)] == expected["codes"]
    result = pipe.search(QUERIES, k=5)
    assert result.ids.tolist() == expected["ids"]
    assert result.distances.tolist() == expected["distances"]
    assert result.keys == expected["keys"]


def test_every_hasher_of_the_release_is_here():
    assert NAMES == ["itq", "lsh", "nash", "sph", "sth"] and EXPECTED["version"] == "0.1.0"


@pytest.mark.parametrize("name", NAMES)
def test_release_pipeline_loads_torch_free_and_answers_as_saved(name):
    pipe = HashingPipeline.load(RELEASE / name)
    assert pipe.hasher_kind == name and pipe.ntotal == 120
    _assert_answers(pipe, EXPECTED["pipelines"][name])


def test_release_nash_pipeline_loads_its_torch_model():
    pytest.importorskip("torch")
    pipe = HashingPipeline.load(RELEASE / "nash", use_torch=True)
    assert type(pipe.hasher).__name__ == "NASH"
    _assert_answers(pipe, EXPECTED["pipelines"]["nash"])
    torch_codes = pipe.hasher.encode(pipe.transform(QUERIES))  # the model itself, not its numpy export
    assert [bytes(row).hex() for row in torch_codes] == EXPECTED["pipelines"]["nash"]["codes"]


@pytest.mark.parametrize("name", NAMES)
def test_release_pipeline_saved_again_keeps_its_answers(tmp_path, name):
    shutil.copytree(RELEASE / name, tmp_path / "old")  # the committed files are never written to
    HashingPipeline.load(tmp_path / "old").save(tmp_path / "new")
    again = HashingPipeline.load(tmp_path / "new")
    _assert_answers(again, EXPECTED["pipelines"][name])
    hasher_entry = json.loads((tmp_path / "new" / "manifest.json").read_text())["hasher"]
    assert hasher_entry["kind"] == name and "nash_index" not in json.dumps(hasher_entry)  # registered names only
    old_files = sorted(p.relative_to(RELEASE / name).as_posix() for p in (RELEASE / name).rglob("*") if p.is_file())
    new_files = sorted(p.relative_to(tmp_path / "new").as_posix() for p in (tmp_path / "new").rglob("*") if p.is_file())
    assert new_files == old_files  # the torch model of a torch-free load is kept too
    for member in (m for m in old_files if m.startswith("model/")):  # kept byte for byte without torch
        assert (tmp_path / "new" / member).read_bytes() == (RELEASE / name / member).read_bytes(), member
