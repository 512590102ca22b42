"""Damaged saved pipelines (#12): every file of a saved pipeline, damaged in several ways, loads
(with and without checksum verification) into PipelineFormatError naming the file, or OSError;
never BadZipFile, EOFError, KeyError, RuntimeError or a crash later inside encode or search."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import QUERIES, corpus, edited_copy  # noqa: E402, F401 (fixtures)

from nash_index.pipeline import HashingPipeline, PipelineFormatError  # noqa: E402

ALLOWED = (PipelineFormatError, OSError)


def _truncate_zero(p: Path) -> None:
    p.write_bytes(b"")


def _truncate_half(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_bytes(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for pos in np.linspace(0, len(data) - 1, 9).astype(int):  # header, middle, tail
        data[pos] ^= 0xFF
    p.write_bytes(bytes(data))


def _garbage(p: Path) -> None:
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())


def _directory(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _missing(p: Path) -> None:
    p.unlink()


DAMAGES = {"zero": _truncate_zero, "half": _truncate_half, "flip": _flip_bytes, "garbage": _garbage,
           "directory": _directory, "missing": _missing}


@pytest.fixture(scope="module")
def saved(corpus, tmp_path_factory):
    """One saved pipeline per hasher family: NASH (numpy encoder + torch model) and two baselines."""
    root = tmp_path_factory.mktemp("saved")
    pipes = {"lsh": HashingPipeline(nbits=16, hasher="lsh", verbose=False),
             "sph": HashingPipeline(nbits=16, hasher="sph", verbose=False)}
    if _has_torch():
        pipes["nash"] = HashingPipeline(nbits=16, hasher="nash", verbose=False,
                                        hasher_params={"epochs": 1, "hidden": (16,), "batch_size": 64})
    for name, pipe in pipes.items():
        pipe.fit(corpus.train_texts[:150])
        pipe.add(corpus.train_texts[:40])
        pipe.save(root / name)
    return root


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _files(root: Path):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _load_and_use(path: Path, verify: bool, use_torch: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # queries without known terms
        pipe = HashingPipeline.load(path, verify=verify, use_torch=use_torch)
        pipe.encode(QUERIES)
        if pipe.ntotal:
            pipe.search(QUERIES, k=3)


@pytest.mark.parametrize("kind", ["lsh", "sph", "nash"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_every_damaged_file_raises_format_error(saved, tmp_path, kind, damage):
    if not (saved / kind).exists():
        pytest.skip("needs torch")
    files = _files(saved / kind)
    assert "manifest.json" in files and "keys.npz" in files and "vectorizer.npz" in files
    failures = []
    for name in files:
        for verify in (True, False):
            for use_torch in ((False, True) if kind == "nash" else (False,)):
                target = tmp_path / f"{name.replace('/', '_')}-{verify}-{use_torch}"
                shutil.copytree(saved / kind, target)
                DAMAGES[damage](target / name)
                try:
                    _load_and_use(target, verify, use_torch)
                except ALLOWED as exc:
                    stem = Path(name).name if name != "manifest.json" else "manifest"
                    if isinstance(exc, PipelineFormatError) and stem not in str(exc) and name.split("/")[0] not in str(exc):
                        failures.append(f"{name} {damage} verify={verify}: message does not name the file: {exc}")
                except Exception as exc:  # noqa: BLE001 (the point: nothing else may come out)
                    failures.append(f"{name} {damage} verify={verify} torch={use_torch}: {type(exc).__name__}: {exc}")
                else:
                    # loading may succeed only when the damage cannot matter (an unused file without verify)
                    if verify and damage != "missing" or name == "manifest.json":
                        failures.append(f"{name} {damage} verify={verify}: loaded without error")
    assert failures == []


def test_format_error_is_a_value_error():
    assert issubclass(PipelineFormatError, ValueError)


def test_manifest_without_files_list(saved, tmp_path):
    """Was EOFError from an empty keys.npz (or silently nothing verified)."""
    shutil.copytree(saved / "lsh", tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    del manifest["files"]
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "p" / "keys.npz").write_bytes(b"")
    for verify in (True, False):
        with pytest.raises(PipelineFormatError, match="manifest.json.*'files'"):
            HashingPipeline.load(tmp_path / "p", verify=verify)


def test_empty_npz_without_verify_names_the_file(saved, tmp_path):
    shutil.copytree(saved / "lsh", tmp_path / "p")
    (tmp_path / "p" / "keys.npz").write_bytes(b"")
    with pytest.raises(PipelineFormatError, match="keys.npz"):
        HashingPipeline.load(tmp_path / "p", verify=False)


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.update(nbits="sixteen"), "nbits"),
    (lambda m: m.update(nbits=32), "32-bit"),  # the files make 16-bit codes
    (lambda m: m.pop("hasher"), "hasher"),
    (lambda m: m["hasher"].update(arrays="../../etc/passwd"), "invalid file name"),
    (lambda m: m["hasher"].update(**{"class": "os:system"}), "refusing"),
    (lambda m: m["hasher"].update(**{"class": "nash_index.baselines.nope:LSH"}), "refusing|class"),
    (lambda m: m["vectorizer"].update(params=[1]), "params"),
    (lambda m: m["vectorizer"]["params"].update(max_features="many"), "max_features"),
    (lambda m: m.update(files={"keys.npz": m["files"]["keys.npz"]}), "not listed"),  # nothing else verified
])
def test_inconsistent_manifest(saved, tmp_path, edit, fragment):
    edited = edited_copy(saved / "lsh", tmp_path / "p", edit)
    with pytest.raises(PipelineFormatError, match=fragment):
        HashingPipeline.load(edited, verify=fragment == "not listed")


def _rewrite_npz(path: Path, **changes) -> None:
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    arrays.update(changes)
    arrays = {name: value for name, value in arrays.items() if value is not None}  # None: remove the array
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("kind, file, changes, fragment", [
    ("lsh", "hasher.npz", {"planes_": np.zeros((3, 16))}, "planes_ must have shape"),
    ("lsh", "hasher.npz", {"offset_": np.zeros(15)}, "offset_ must have shape"),
    ("sph", "hasher.npz", {"dims_": np.full(16, 99)}, "dims_ must lie in"),
    ("sph", "hasher.npz", {"low_": np.zeros(2)}, "low_ must have shape"),
    ("lsh", "vectorizer.npz", {"idf": np.ones(3, dtype=np.float32)}, "idf must have shape"),
    ("lsh", "keys.npz", {"ids": np.arange(40) - 1}, "ids must be >= 0"),
    ("lsh", "keys.npz", {"keys_format": np.array([2, 0]), "key_bytes": np.zeros(0, np.uint8),
                         "key_offsets": np.array([0, 0])}, "key_offsets must have shape"),
    ("lsh", "keys.npz", {"key_bytes": np.zeros(0, np.uint8)}, "keys are the ids but"),
    ("lsh", "keys.npz", {"ids": np.arange(40) + 1}, "keys for other ids"),  # as many ids, not the index's
    ("lsh", "keys.npz", {"ids": np.arange(40.0)}, "ids must hold integers"),  # wrong type
    ("lsh", "keys.npz", {"keys_format": np.array([2, 0])}, r"lacks the array\(s\) \['key_bytes', 'key_offsets'\]"),
    ("lsh", "vectorizer.npz", {"idf": None}, r"lacks the array\(s\) \['idf'\]"),
    ("lsh", "vectorizer.npz", {"term_offsets": np.arange(3)}, "terms: the string arrays are damaged"),
    ("lsh", "hasher.npz", {"planes_": np.full((5, 16), "x")}, "planes_"),
    ("lsh", "hasher.npz", {"planes_": None}, "planes_"),
    ("nash", "encoder.npz", {"n_layers": None}, "n_layers"),
    ("nash", "encoder.npz", {"thresholds": np.zeros(15, dtype=np.float32)}, "thresholds must be 16"),
    ("nash", "encoder.npz", {"head_b": np.zeros(3, dtype=np.float32)}, "do not chain"),
    ("nash", "encoder.npz", {"W0": np.full((5, 16), np.nan, dtype=np.float32)}, "do not chain|finite"),
])
def test_wrong_shapes_fail_at_load(saved, tmp_path, kind, file, changes, fragment):
    """Learned arrays of the wrong shape used to load and fail later inside encode (#12)."""
    if not (saved / kind).exists():
        pytest.skip("needs torch")
    shutil.copytree(saved / kind, tmp_path / "p")
    _rewrite_npz(tmp_path / "p" / file, **changes)
    with pytest.raises(PipelineFormatError, match=f"{file}.*({fragment})"):
        HashingPipeline.load(tmp_path / "p", verify=False)


def test_use_torch_without_a_saved_model_is_not_called_damage(saved, tmp_path):
    if not (saved / "nash").exists():
        pytest.skip("needs torch")
    shutil.copytree(saved / "nash", tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    manifest["hasher"]["model"] = None
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="holds no torch model") as err:
        HashingPipeline.load(tmp_path / "p", use_torch=True)
    assert not isinstance(err.value, PipelineFormatError)
    assert HashingPipeline.load(tmp_path / "p").hasher is None  # the numpy encoder serves
