"""The saved vocabulary: UTF-8 bytes + offsets, so one long token does not widen every term (a numpy
unicode array takes 4 bytes times the longest term for each one); files of the old layout still load."""
from __future__ import annotations

import os

import numpy as np
import pytest

from nash_index.text import TextVectorizer, VectorizerParams
from nash_index.text.arrays import strings_from_arrays, strings_to_arrays


def _fitted(texts):
    return TextVectorizer(VectorizerParams(min_df=1, max_df=1.0)).fit(texts)


def test_one_long_token_does_not_widen_the_file(tmp_path):
    long_token = "x" * 100_000
    texts = [f"word{i} common" for i in range(2000)] + [f"{long_token} common"]
    vec = _fitted(texts)
    assert long_token in vec.terms
    vec.save(tmp_path / "vec.npz")
    # every term as wide as the longest would be 2,002 * 400,000 bytes; bytes + offsets keep it near the text
    assert os.path.getsize(tmp_path / "vec.npz") < 200_000 + 30 * len(vec.terms)
    back = TextVectorizer.load(tmp_path / "vec.npz", vec.to_manifest())
    assert back.terms == vec.terms
    np.testing.assert_array_equal(back.idf, vec.idf)
    X = ["word7 common", f"{long_token} word3", "unknown"]
    assert (back.transform(X) != vec.transform(X)).nnz == 0


def test_terms_keep_every_character(tmp_path):
    vec = _fitted(["café naïve 東京 emoji😀", "café 東京"])
    vec.save(tmp_path / "vec.npz")
    assert TextVectorizer.read(tmp_path / "vec.npz").terms == vec.terms


def test_the_old_layout_still_loads(tmp_path):
    vec = _fitted(["cats chase mice", "dogs chase cats"])
    np.savez(tmp_path / "old.npz", terms=np.asarray(vec.terms, dtype=str), idf=vec.idf)
    back = TextVectorizer.load(tmp_path / "old.npz", vec.to_manifest())
    assert back.terms == vec.terms


@pytest.mark.parametrize("damage, message", [
    (lambda b, o: (b, o[:-1]), "damaged"),                         # offsets short of the bytes
    (lambda b, o: (b.astype(np.int16), o), "damaged"),             # bytes of another type
    (lambda b, o: (np.full_like(b, 0xFF), o), "not valid UTF-8"),
])
def test_damaged_term_arrays_name_the_file(tmp_path, damage, message):
    data, offsets = damage(*strings_to_arrays(["alpha", "beta", "gamma"]))
    path = tmp_path / "bad.npz"
    np.savez(path, term_bytes=data, term_offsets=offsets, idf=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=message) as info:
        TextVectorizer.load(path, {"params": {}})
    assert "bad.npz" in str(info.value)


def test_strings_round_trip_through_arrays():
    strings = ["", "a", "ü" * 3, "x" * 1000, ""]
    assert strings_from_arrays(*strings_to_arrays(strings), where="t") == strings
