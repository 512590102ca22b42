"""Saved pipelines (nash_index.pipeline.storage): round trips of every baseline, empty pipelines,
atomic saves (interrupted, killed, crashed between the renames), corrupted or foreign directories."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import QUERIES, assert_same_results, corpus, lsh_pipe  # noqa: E402, F401 (fixtures)

from nash_index.pipeline import HashingPipeline, PipelineFormatError, storage  # noqa: E402
from nash_index.pipeline.keys import DocumentKeys  # noqa: E402


# ---- save / load -----------------------------------------------------------------------------
@pytest.mark.parametrize("hasher", ["lsh", "itq", "sph", "sth"])
def test_baseline_round_trip(tmp_path, corpus, hasher):
    pipe = HashingPipeline(nbits=16, hasher=hasher, verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.hasher_kind == hasher and back.ntotal == pipe.ntotal
    np.testing.assert_array_equal(back.encode(corpus.test_texts), pipe.encode(corpus.test_texts))
    assert_same_results(pipe, back)


def test_empty_pipeline_round_trip(tmp_path, corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == 0 and back.is_fitted
    np.testing.assert_array_equal(back.encode(QUERIES), pipe.encode(QUERIES))


# ---- atomic save -------------------------------------------------------------------------------
def _leftovers(parent: Path) -> list:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_interrupted_save_keeps_previous_pipeline(tmp_path, monkeypatch, corpus, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    before = lsh_pipe.search(QUERIES, k=5)
    bigger = HashingPipeline(nbits=32, hasher="lsh", seed=1, verbose=False).fit(corpus.train_texts)
    bigger.add(corpus.train_texts[:10])

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(DocumentKeys, "save", fail)  # the keys are written after the index file
    with pytest.raises(OSError, match="simulated"):
        bigger.save(tmp_path / "p")
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal
    np.testing.assert_array_equal(back.search(QUERIES, k=5).ids, before.ids)
    assert _leftovers(tmp_path) == []  # the temporary directory was removed


def test_killed_save_leaves_previous_pipeline_loadable(tmp_path, lsh_pipe):
    """A process killed mid-save (no cleanup at all) leaves a stray temp dir, never a broken pipeline."""
    lsh_pipe.save(tmp_path / "p")
    script = textwrap.dedent(f"""
        import os
        from nash_index.pipeline.keys import DocumentKeys
        from nash_index.pipeline import HashingPipeline
        pipe = HashingPipeline.load({str(tmp_path / 'p')!r})
        pipe.add(["one more"])
        DocumentKeys.save = lambda *a: os._exit(9)  # dies with the index file written
        pipe.save({str(tmp_path / 'p')!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert any(name.startswith(".p.") and ".tmp-" in name for name in _leftovers(tmp_path))
    back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal
    back.save(tmp_path / "p")  # the dead save's directory is recognised by its pid and removed
    assert _leftovers(tmp_path) == []


def test_concurrent_saves_of_one_pipeline_last_writer_wins(tmp_path, corpus):
    """Threads saving different pipelines to one path: no error, no leftovers, one of them complete."""
    pipes = []
    for seed in range(4):
        pipe = HashingPipeline(nbits=16, hasher="lsh", seed=seed, verbose=False).fit(corpus.train_texts)
        pipe.add(corpus.train_texts[: 20 + seed])
        pipes.append(pipe)
    errors = []

    def save(pipe):
        try:
            for _ in range(5):
                pipe.save(tmp_path / "p")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(p,)) for p in pipes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert _leftovers(tmp_path) == []
    back = HashingPipeline.load(tmp_path / "p")
    winner = [p for p in pipes if p.ntotal == back.ntotal]
    assert len(winner) == 1
    assert_same_results(winner[0], back)


def test_crash_between_renames_recovers_backup(tmp_path, monkeypatch, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    real_replace = os.replace
    calls = []

    def replace_then_crash(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the old pipeline is already moved aside
            raise OSError("power cut (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace_then_crash)
    with pytest.raises(OSError):
        lsh_pipe.save(tmp_path / "p")
    monkeypatch.setattr(storage.os, "replace", real_replace)
    assert not (tmp_path / "p").exists()
    with pytest.warns(RuntimeWarning, match="interrupted save"):
        back = HashingPipeline.load(tmp_path / "p")
    assert back.ntotal == lsh_pipe.ntotal
    lsh_pipe.save(tmp_path / "p")  # the next save completes and cleans up
    assert (tmp_path / "p").is_dir() and _leftovers(tmp_path) == []


def test_corrupted_or_foreign_directories_are_rejected(tmp_path, lsh_pipe):
    lsh_pipe.save(tmp_path / "p")
    with open(tmp_path / "p" / "index.nidx", "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(PipelineFormatError, match="corrupted"):
        HashingPipeline.load(tmp_path / "p")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineFormatError, match="no manifest"):
        HashingPipeline.load(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        HashingPipeline.load(tmp_path / "missing")
    lsh_pipe.save(tmp_path / "q")
    manifest = json.loads((tmp_path / "q" / "manifest.json").read_text())
    manifest["version"] = 99
    (tmp_path / "q" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PipelineFormatError, match="version 99"):
        HashingPipeline.load(tmp_path / "q")


def test_save_refuses_to_replace_a_file(tmp_path, lsh_pipe):
    (tmp_path / "f").write_text("not a pipeline")
    with pytest.raises(FileExistsError):
        lsh_pipe.save(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "not a pipeline"
