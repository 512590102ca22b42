"""The HTTP protocol of :mod:`nash_index.distributed.serve`: reading a ``POST /search`` body and
writing its answer. Plain Python and numpy (no Ray, no web framework), so every rule is tested
without a server.

A request is a JSON object with exactly one of ``texts`` (a list of strings) or ``codes`` (a list of
packed code rows: lists of integers 0..255, ``nbits / 8`` each), and optionally ``k`` (default
:data:`DEFAULT_K`). Anything else is a :class:`RequestError` naming the field, answered with a 4xx
status and ``{"error": ..., "field": ...}``: user input never reaches the search unchecked.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

import numpy as np

__all__ = ["DEFAULT_K", "Limits", "Query", "RequestError", "answer", "parse_search"]

DEFAULT_K = 10
FIELDS = ("texts", "codes", "k")


class RequestError(ValueError):
    """A bad request: ``status`` (400, 413, ...) and the ``field`` it is about; ``allow``: the
    method a 405 names."""

    def __init__(self, field: str, message: str, status: int = 400, allow: Optional[str] = None) -> None:
        super().__init__(message)
        self.field, self.status, self.allow = field, status, allow

    def body(self) -> Dict[str, str]:
        return {"error": str(self), "field": self.field}


@dataclass(frozen=True)
class Limits:
    """What one request may ask: ``max_rows`` queries, ``k`` up to ``max_k``, ``max_body_bytes`` of
    JSON; ``nbits``: the served codes' length (a ``codes`` row has ``nbits // 8`` bytes);
    ``takes_texts``: False for a pipeline fitted on vectors without an embedder."""

    nbits: int
    max_rows: int = 1024
    max_k: int = 1000
    max_body_bytes: int = 16 << 20
    takes_texts: bool = True

    def __post_init__(self) -> None:
        for name in ("nbits", "max_rows", "max_k", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class Query:
    """A checked request: ``texts`` (list of str) or ``codes`` (uint8 (n, nbits // 8)), and ``k``."""

    k: int
    texts: Optional[List[str]] = None
    codes: Optional[np.ndarray] = None


def parse_search(body: bytes, limits: Limits) -> Query:
    """The checked query of a ``POST /search`` body; :class:`RequestError` naming the field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise RequestError("body", f"the request body has {len(body)} bytes, more than {limits.max_body_bytes}", 413)
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8; RecursionError: deep nesting
        raise RequestError("body", f"the request body is not valid JSON: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(request, dict):
        raise RequestError("body", f"the request body must be a JSON object, got {_json_type(request)}")
    unknown = sorted(set(request) - set(FIELDS))
    if unknown:
        raise RequestError(unknown[0], f"unknown field {unknown[0]!r}: a search takes {', '.join(FIELDS)}")
    k = _k(request.get("k", DEFAULT_K), limits.max_k)
    if ("texts" in request) == ("codes" in request):
        field = "texts" if "texts" not in request else "codes"
        raise RequestError(field, "give exactly one of 'texts' (a list of strings) or 'codes' (a list of packed code rows)")
    if "texts" in request:
        if not limits.takes_texts:
            raise RequestError("texts", "this pipeline was fitted on vectors without an embedder: it cannot encode "
                                        "texts; send 'codes'")
        return Query(k, texts=_texts(request["texts"], limits.max_rows))
    return Query(k, codes=_codes(request["codes"], limits))


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _k(value: Any, max_k: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError("k", f"k must be an integer from 1 to {max_k}, got {_json_type(value)}")
    if not 1 <= value <= max_k:
        raise RequestError("k", f"k must be an integer from 1 to {max_k}, got {value}")
    return value


def _rows(value: Any, field: str, what: str, max_rows: int) -> list:
    if not isinstance(value, list):
        raise RequestError(field, f"{field} must be an array of {what}, got {_json_type(value)}")
    if not 1 <= len(value) <= max_rows:
        raise RequestError(field, f"{field} must hold 1 to {max_rows} {what} per request, got {len(value)}",
                           413 if len(value) > max_rows else 400)
    return value


def _texts(value: Any, max_rows: int) -> List[str]:
    texts = _rows(value, "texts", "strings", max_rows)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(f"texts[{i}]", f"texts[{i}] must be a string, got {_json_type(text)}")
    return texts


def _codes(value: Any, limits: Limits) -> np.ndarray:
    rows = _rows(value, "codes", "code rows", limits.max_rows)
    width = limits.nbits // 8
    # The common case in one pass (type() is int: JSON true/false are bools, never codes); anything
    # odd is found row by row below, to name it.
    if all(isinstance(row, list) and len(row) == width for row in rows) and \
            all(type(byte) is int and 0 <= byte <= 255 for row in rows for byte in row):
        return np.array(rows, dtype=np.uint8).reshape(len(rows), width)
    out = np.empty((len(rows), width), dtype=np.uint8)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else _json_type(row)
            raise RequestError(f"codes[{i}]", f"codes[{i}] must be an array of {width} bytes (a packed "
                                              f"{limits.nbits}-bit code), got {got}")
        for j, byte in enumerate(row):
            if isinstance(byte, bool) or not isinstance(byte, int) or not 0 <= byte <= 255:
                shown = byte if isinstance(byte, int) and not isinstance(byte, bool) else _json_type(byte)
                raise RequestError(f"codes[{i}][{j}]", f"codes[{i}][{j}] must be an integer from 0 to 255, got {shown}")
        out[i] = row
    return out


def answer(distances: np.ndarray, ids: np.ndarray, keys: List[List[Optional[str]]]) -> Dict[str, Any]:
    """``{"results": [{"ids", "distances", "keys"}, ...]}``, one entry per query row, padding included
    (id -1, distance 2**31 - 1, key null), as :meth:`HashingPipeline.search` returns it."""
    results: List[Dict[str, Union[List[int], List[Optional[str]]]]] = []
    for row_ids, row_distances, row_keys in zip(np.asarray(ids).tolist(), np.asarray(distances).tolist(), keys):
        results.append({"ids": row_ids, "distances": row_distances, "keys": list(row_keys)})
    return {"results": results}
