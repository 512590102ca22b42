"""The HTTP protocol of ``nash-index serve`` without a server: every bad request is a RequestError
naming its field with a 4xx status; good ones become exactly the rows they hold."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nash_index.distributed.serve_protocol import DEFAULT_K, Limits, RequestError, answer, parse_search

LIMITS = Limits(nbits=32, max_rows=4, max_k=50, max_body_bytes=4096)


def parse(obj, limits=LIMITS):
    return parse_search(obj if isinstance(obj, bytes) else json.dumps(obj).encode(), limits)


def test_texts_and_k():
    query = parse({"texts": ["a b", ""], "k": 7})
    assert query.texts == ["a b", ""] and query.k == 7 and query.codes is None
    assert parse({"texts": ["x"]}).k == DEFAULT_K


def test_codes_become_packed_uint8_rows():
    rows = [[0, 255, 7, 128], [1, 2, 3, 4]]
    query = parse({"codes": rows, "k": 1})
    assert query.texts is None and query.codes.dtype == np.uint8
    np.testing.assert_array_equal(query.codes, np.array(rows, dtype=np.uint8))


BAD = [  # (body, field, status)
    (b"{not json", "body", 400),
    (b"\xff\xfe", "body", 400),
    (b"[" * 4000, "body", 400),  # nested past the JSON reader's recursion limit
    (b"x" * 5000, "body", 413),
    ([1, 2], "body", 400),
    ("texts", "body", 400),
    ({}, "texts", 400),
    ({"texts": ["a"], "codes": [[0, 0, 0, 0]]}, "codes", 400),
    ({"k": 3}, "texts", 400),
    ({"texts": ["a"], "extra": 1}, "extra", 400),
    ({"texts": ["a"], "k": 0}, "k", 400),
    ({"texts": ["a"], "k": 51}, "k", 400),
    ({"texts": ["a"], "k": -3}, "k", 400),
    ({"texts": ["a"], "k": 2.0}, "k", 400),
    ({"texts": ["a"], "k": "5"}, "k", 400),
    ({"texts": ["a"], "k": True}, "k", 400),
    ({"texts": ["a"], "k": None}, "k", 400),
    ({"texts": ["a"], "k": 10 ** 40}, "k", 400),
    ({"texts": "a b"}, "texts", 400),
    ({"texts": []}, "texts", 400),
    ({"texts": ["a"] * 5}, "texts", 413),
    ({"texts": ["a", 3]}, "texts[1]", 400),
    ({"texts": ["a", None]}, "texts[1]", 400),
    ({"texts": [["a"]]}, "texts[0]", 400),
    ({"codes": [0, 1, 2, 3]}, "codes[0]", 400),
    ({"codes": "AAAA"}, "codes", 400),
    ({"codes": []}, "codes", 400),
    ({"codes": [[0, 0, 0, 0]] * 5}, "codes", 413),
    ({"codes": [[0, 0, 0]]}, "codes[0]", 400),
    ({"codes": [[0, 0, 0, 0], [0, 0, 0, 0, 0]]}, "codes[1]", 400),
    ({"codes": [[0, 0, 0, 256]]}, "codes[0][3]", 400),
    ({"codes": [[0, -1, 0, 0]]}, "codes[0][1]", 400),
    ({"codes": [[0, 0, 1.5, 0]]}, "codes[0][2]", 400),
    ({"codes": [[0, 0, 1.0, 0]]}, "codes[0][2]", 400),
    ({"codes": [[True, 0, 0, 0]]}, "codes[0][0]", 400),
    ({"codes": [[0, 0, 0, "1"]]}, "codes[0][3]", 400),
    ({"codes": [[0, 0, 0, 2 ** 70]]}, "codes[0][3]", 400),
    ({"codes": [[0, 0, -2 ** 70, 0]]}, "codes[0][2]", 400),
    ({"codes": [[0, 0, 0, None]]}, "codes[0][3]", 400),
    ({"codes": [[0, 0, 0, [1]]]}, "codes[0][3]", 400),
]


@pytest.mark.parametrize("body, field, status", BAD, ids=[f"{i}-{b[2]}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_requests_name_their_field(body, field, status):
    with pytest.raises(RequestError) as info:
        parse(body)
    assert info.value.field == field and info.value.status == status
    assert info.value.body() == {"error": str(info.value), "field": field}
    assert field.split("[")[0] in str(info.value) or field == "body"


def test_nan_and_infinity_are_not_numbers_here():
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(RequestError, match="k must be an integer") as info:
            parse(b'{"texts": ["a"], "k": ' + literal + b"}")
        assert info.value.field == "k"


def test_texts_refused_by_a_pipeline_of_vectors():
    with pytest.raises(RequestError, match="cannot encode texts") as info:
        parse({"texts": ["a"]}, Limits(nbits=32, takes_texts=False))
    assert info.value.field == "texts"
    assert parse({"codes": [[1, 2, 3, 4]]}, Limits(nbits=32, takes_texts=False)).codes.shape == (1, 4)


@pytest.mark.parametrize("name", ["nbits", "max_rows", "max_k", "max_body_bytes"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True, None])
def test_limits_are_checked(name, value):
    with pytest.raises(ValueError, match=name):
        Limits(**{"nbits": 32, name: value})


def test_answer_keeps_padding_rows_as_the_pipeline_returns_them():
    ids = np.array([[4, -1], [2, 9]], dtype=np.int64)
    distances = np.array([[3, 2 ** 31 - 1], [0, 5]], dtype=np.int32)
    out = answer(distances, ids, [["d4", None], ["d2", "d9"]])
    assert out == {"results": [{"ids": [4, -1], "distances": [3, 2 ** 31 - 1], "keys": ["d4", None]},
                               {"ids": [2, 9], "distances": [0, 5], "keys": ["d2", "d9"]}]}
    assert json.loads(json.dumps(out)) == out  # plain JSON types only
