"""Text excerpts stored with the keys (``add(store_texts=True)``), their file format and its
backward compatibility, and a vectorizer read on its own (``TextVectorizer.read``)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.pipeline import HashingPipeline, PipelineFormatError  # noqa: E402
from nash_index.pipeline.keys import EXCERPT_CHARS  # noqa: E402
from nash_index.text import TextVectorizer  # noqa: E402

DOCS = ["parse a date string into a datetime", "compress data with gzip", "read rows\n\n from a   csv file",
        "match a regular expression against text", "format a date as a string", "word " * 200]


def fitted() -> HashingPipeline:
    return HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(DOCS)


def test_stored_texts_survive_save_and_load(tmp_path):
    pipe = fitted()
    ids = pipe.add(DOCS[:3], keys=["a", "b", "c"], store_texts=True)
    more = pipe.add(DOCS[3:], keys=["d", "e", "f"])  # added without texts
    pipe.save(tmp_path / "p")
    loaded = HashingPipeline.load(tmp_path / "p")
    assert loaded.stores_texts
    assert [loaded.text_of(i) for i in ids] == [DOCS[0], DOCS[1], "read rows from a csv file"]
    assert all(loaded.text_of(i) is None for i in more)
    assert loaded.text_of(12345) is None


def test_long_texts_are_cut_to_an_excerpt(tmp_path):
    pipe = fitted()
    (doc_id,) = pipe.add([DOCS[-1]], store_texts=True)
    text = pipe.text_of(doc_id)
    assert len(text) == EXCERPT_CHARS and text.endswith("...") and text.startswith("word word")


def test_without_texts_the_keys_file_has_no_text_arrays(tmp_path):
    pipe = fitted()
    pipe.add(DOCS)
    pipe.save(tmp_path / "p")
    with np.load(tmp_path / "p" / "keys.npz") as z:
        assert sorted(z.files) == ["ids", "keys_format"]  # keys are the ids: none stored
    assert not HashingPipeline.load(tmp_path / "p").stores_texts


def test_texts_without_their_ids_are_damage(tmp_path):
    pipe = fitted()
    pipe.add(DOCS, store_texts=True)
    pipe.save(tmp_path / "p")
    keys_file = tmp_path / "p" / "keys.npz"
    with np.load(keys_file) as z:
        arrays = {name: z[name] for name in z.files if name != "text_ids"}
    with open(keys_file, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(PipelineFormatError, match="keys.npz.*'text_bytes' and 'text_offsets' and 'text_ids' come together"):
        HashingPipeline.load(tmp_path / "p", verify=False)


def test_vectorizer_read_alone(tmp_path):
    vec = TextVectorizer().fit(DOCS)
    vec.save(tmp_path / "v.npz")
    again = TextVectorizer.read(tmp_path / "v.npz")
    assert again.terms == vec.terms and again.params == vec.params
    assert (again.transform(DOCS) != vec.transform(DOCS)).nnz == 0
    with open(tmp_path / "old.npz", "wb") as fh:  # written before parameters were stored
        np.savez(fh, terms=np.asarray(vec.terms), idf=vec.idf)
    assert (TextVectorizer.read(tmp_path / "old.npz").transform(DOCS) != vec.transform(DOCS)).nnz == 0
