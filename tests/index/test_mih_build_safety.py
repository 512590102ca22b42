"""``build_mih_file`` reads sources by their bytes and never leaves or commits what it should not
(#27, defects 3, 5, 8, 9)."""
from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
import pytest

import nash_index as ni
from nash_index.index import _core
from nash_index.index import build as build_module


def _codes(n=3000, width=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, width), dtype=np.uint8)


def _leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def _assert_holds(path, codes):
    index = ni.load(path)
    np.testing.assert_array_equal(index.codes(), codes)
    np.testing.assert_array_equal(index.ids(), np.arange(len(codes)))


# ---- defect 3: a .npy file is recognised by its magic bytes, not its suffix ----------------------
@pytest.mark.parametrize("name", ["codes.NPY", "codes.bin", "codes"])
def test_a_npy_file_under_any_name_is_read_as_npy(tmp_path, name):
    codes = _codes()
    with open(tmp_path / name, "wb") as fh:  # np.save(name) would append .npy
        np.save(fh, codes)
    out = ni.build_mih_file(tmp_path / name, tmp_path / "i.nidx", nbits=64, progress=False)
    _assert_holds(out, codes)  # was: the header read as 16 bogus codes, every id shifted by 16


def test_a_npy_file_still_checks_nbits(tmp_path):
    np.save(tmp_path / "c.bin.npy", _codes())
    (tmp_path / "c.bin.npy").rename(tmp_path / "c.bin")
    with pytest.raises(ValueError, match="nbits = 128 does not match"):
        ni.build_mih_file(tmp_path / "c.bin", tmp_path / "i.nidx", nbits=128, progress=False)


def test_a_file_named_npy_without_the_magic_is_refused(tmp_path):
    (tmp_path / "raw.npy").write_bytes(_codes().tobytes())
    with pytest.raises(ValueError, match="named .npy but is not a NumPy .npy file"):
        ni.build_mih_file(tmp_path / "raw.npy", tmp_path / "i.nidx", nbits=64, progress=False)


def test_an_npz_archive_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", codes=_codes())
    with pytest.raises(ValueError, match="zip archive"):
        ni.build_mih_file(tmp_path / "c.npz", tmp_path / "i.nidx", nbits=64, progress=False)
    assert not (tmp_path / "i.nidx").exists() and _leftovers(tmp_path, "i.nidx") == []


def test_raw_codes_still_read_as_raw(tmp_path):
    codes = _codes()
    (tmp_path / "c.raw").write_bytes(codes.tobytes())
    _assert_holds(ni.build_mih_file(tmp_path / "c.raw", tmp_path / "i.nidx", nbits=64, progress=False), codes)


# ---- defect 5: Ctrl-C stops the build; it never commits afterwards -------------------------------
def test_ctrl_c_while_the_tables_build_stops_the_build(tmp_path, monkeypatch):
    codes = _codes(400_000)

    def interrupted(self, done, total):
        raise KeyboardInterrupt  # what Ctrl-C raises in the caller's thread while it draws the bar

    monkeypatch.setattr(build_module._ProgressLine, "show", interrupted)
    target = tmp_path / "i.nidx"
    with pytest.raises(KeyboardInterrupt):
        ni.build_mih_file(codes, target, progress=True)
    # was: the build went on in its thread and renamed the finished file over the target
    assert not target.exists()
    assert _leftovers(tmp_path, "i.nidx") == []


def test_ctrl_c_keeps_the_previous_index(tmp_path, monkeypatch):
    target = tmp_path / "i.nidx"
    old = _codes(50, seed=3)
    ni.build_mih_file(old, target, progress=False)
    monkeypatch.setattr(build_module._ProgressLine, "show", lambda self, done, total: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ni.build_mih_file(_codes(300_000), target, progress=True)
    _assert_holds(target, old)


def test_a_cancelled_builder_never_commits(tmp_path):
    target = tmp_path / "i.nidx"
    builder = _core.MihFileBuilder(str(target), 64)
    builder.append(_codes())
    assert builder.cancel()
    with pytest.raises(RuntimeError, match="cancelled"):
        builder.finish()
    assert not target.exists() and _leftovers(tmp_path, "i.nidx") == []  # removed by finish itself


def test_cancel_stops_the_table_build_midway(tmp_path):
    """A cancel during the table build stops it within a progress step (2^20 codes), not after."""
    target = tmp_path / "i.nidx"
    builder = _core.MihFileBuilder(str(target), 64, 2)
    builder.append(_codes(1 << 22))
    errors = []

    def finish():
        try:
            builder.finish()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=finish)
    worker.start()
    while builder.progress_done == 0 and worker.is_alive():  # waits for the first report, not a time
        time.sleep(0.001)
    assert builder.cancel()
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError) and "cancelled" in str(errors[0])
    assert 0 < builder.progress_done < builder.progress_total // 2  # stopped early in the table build
    assert not target.exists() and _leftovers(tmp_path, "i.nidx") == []


def test_cancel_after_the_commit_reports_it(tmp_path):
    builder = _core.MihFileBuilder(str(tmp_path / "i.nidx"), 64)
    builder.append(_codes())
    builder.finish()
    assert not builder.cancel()  # too late: the file is complete
    builder.close()
    _assert_holds(tmp_path / "i.nidx", _codes())


def test_close_removes_the_temporary_at_once(tmp_path):
    builder = _core.MihFileBuilder(str(tmp_path / "i.nidx"), 64)
    builder.append(_codes())
    assert len(_leftovers(tmp_path, "i.nidx")) == 1
    builder.close()
    assert _leftovers(tmp_path, "i.nidx") == []
    with pytest.raises(ValueError, match="already finished"):
        builder.append(_codes())


# ---- defect 8: a failed build removes its temporary at once ---------------------------------------
@pytest.mark.parametrize("progress", [True, False])
def test_a_failed_build_leaves_no_temporary(tmp_path, progress):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")  # the final rename over a non-empty directory fails
    gc.disable()  # a reference cycle must not be what removes it
    try:
        with pytest.raises(OSError) as info:
            ni.build_mih_file(_codes(20_000), target, progress=progress)
        assert "target" in str(info.value)
        assert _leftovers(tmp_path, "target") == []  # was: a full-size temporary kept by the cycle
    finally:
        gc.enable()


def test_an_error_in_a_chunk_leaves_no_temporary(tmp_path):
    def chunks():
        yield _codes(100)
        yield np.zeros((3, 4), np.uint8)  # the wrong width

    gc.disable()
    try:
        with pytest.raises(ValueError, match="source chunk 1"):
            ni.build_mih_file(chunks(), tmp_path / "i.nidx", nbits=64)
        assert _leftovers(tmp_path, "i.nidx") == []
    finally:
        gc.enable()


# ---- defect 9: no stderr ---------------------------------------------------------------------------
def test_a_build_without_stderr(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, a service started with fd 2 closed
    codes = _codes()
    _assert_holds(ni.build_mih_file(codes, tmp_path / "i.nidx", progress=True), codes)


def test_a_closed_stderr_does_not_fail_the_build(tmp_path, monkeypatch):
    import io
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    line = build_module._ProgressLine("x")
    line.tty = True
    line.show(1, 2)  # writing fails quietly
    line.close()
    codes = _codes()
    _assert_holds(ni.build_mih_file(codes, tmp_path / "i.nidx", progress=True), codes)
