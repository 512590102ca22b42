"""A pipeline or an index of codes loaded with ``verify=False`` saves only what verifies (#27,
defect 2's siblings: keys, vectors, hasher files are written back too), and ``rescore=n`` names
``rescore`` (defect 16)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from pipeline_checks import corpus, word_embedder  # noqa: E402, F401 (fixtures)

from index_file_sections import damage_section  # noqa: E402
from nash_index.pipeline import CodesIndex, HashingPipeline, PipelineFormatError  # noqa: E402
from nash_index.pipeline.embedders import check_vectors  # noqa: E402

TAG_TABLES = 17  # cpp/src/file_sections.hpp


def _codes_dir(path, n=3000):
    codes = np.random.default_rng(0).integers(0, 256, (n, 8), dtype=np.uint8)
    CodesIndex.build(codes, [f"k{i}" for i in range(n)], index="mih").save(path)
    return codes


def _rewrite_keys(path, keys):
    """keys.npz replaced by one of other (valid) keys; the manifest keeps the old checksum."""
    from nash_index.pipeline.keys import DocumentKeys
    replaced = DocumentKeys()
    replaced.add(range(len(keys)), keys)
    replaced.save(path / "keys.npz")


def test_damaged_keys_loaded_unverified_are_not_saved(tmp_path):
    _codes_dir(tmp_path / "c", n=50)
    _rewrite_keys(tmp_path / "c", [f"wrong{i}" for i in range(50)])
    with pytest.raises(PipelineFormatError, match="keys.npz is corrupted"):
        CodesIndex.load(tmp_path / "c")
    loaded = CodesIndex.load(tmp_path / "c", verify=False)
    with pytest.raises(PipelineFormatError, match=r"verify=False.*keys\.npz does not match"):
        loaded.save(tmp_path / "d")
    assert not (tmp_path / "d").exists()
    with pytest.raises(PipelineFormatError, match="verify=False"):
        loaded.save(tmp_path / "c")  # in place: still refused by a verified load afterwards
    with pytest.raises(PipelineFormatError, match="keys.npz is corrupted"):
        CodesIndex.load(tmp_path / "c")


@pytest.mark.parametrize("mmap", [False, True])
def test_damaged_index_tables_loaded_unverified_are_not_saved(tmp_path, mmap):
    _codes_dir(tmp_path / "c")
    damage_section(tmp_path / "c" / "index.nidx", TAG_TABLES)
    loaded = CodesIndex.load(tmp_path / "c", verify=False, mmap=mmap)
    with pytest.raises(ValueError, match="verify=False"):
        loaded.save(tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_a_sound_directory_loaded_unverified_saves(tmp_path):
    codes = _codes_dir(tmp_path / "c", n=40)
    loaded = CodesIndex.load(tmp_path / "c", verify=False, mmap=True)
    loaded.save(tmp_path / "c")  # in place
    again = CodesIndex.load(tmp_path / "c")
    assert again.key_of(39) == "k39"
    np.testing.assert_array_equal(again.search(codes[:3], 1).ids[:, 0], [0, 1, 2])


def test_a_text_pipeline_loaded_unverified_checks_its_files(tmp_path, corpus):
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts[:30])
    pipe.save(tmp_path / "p")
    _rewrite_keys(tmp_path / "p", [f"other{i}" for i in range(30)])
    loaded = HashingPipeline.load(tmp_path / "p", verify=False)
    with pytest.raises(PipelineFormatError, match="keys.npz does not match"):
        loaded.save(tmp_path / "q")
    fine = HashingPipeline.load(tmp_path / "p", verify=False)
    pipe.save(tmp_path / "p")  # sound again, but not what `fine` read: refused as well
    with pytest.raises(PipelineFormatError, match="replaced since"):
        fine.save(tmp_path / "q")
    sound = HashingPipeline.load(tmp_path / "p", verify=False)
    sound.save(tmp_path / "q")
    assert HashingPipeline.load(tmp_path / "q").key_of(3) == "3"


# ---- defect 16 ------------------------------------------------------------------------------------
def test_a_huge_rescore_is_capped_not_blamed_on_k(corpus):
    pipe = HashingPipeline(nbits=16, hasher="itq", embedder=word_embedder, store_vectors=True, verbose=False)
    pipe.fit(corpus.train_texts)
    pipe.add(corpus.train_texts)
    queries = corpus.train_texts[:4]
    huge = pipe.search(queries, k=3, rescore=2**62)  # was: "k must be <= ..." (naming k)
    every = pipe.search(queries, k=3, rescore=pipe.ntotal)
    np.testing.assert_array_equal(huge.ids, every.ids)
    with pytest.raises(ValueError, match="rescore"):
        pipe.search(queries, k=3, rescore=0)


def test_vectors_beyond_float32_are_refused():
    """float64 vectors past float32's range became infinite when stored (sibling of defect 6)."""
    with pytest.raises(ValueError, match="embeddings.*float32"):
        check_vectors(np.array([[1e300, 1.0]]), 1, "embeddings")
    np.testing.assert_array_equal(check_vectors(np.array([[1e30, 1.0]]), 1, "e"), np.float32([[1e30, 1.0]]))
