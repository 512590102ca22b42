"""From text to neighbours: TF-IDF vocabulary + hasher (NASH or a baseline) + Hamming index.

>>> pipe = HashingPipeline(nbits=32).fit(train_texts, labels)
>>> pipe.add(texts, keys=titles)
>>> result = pipe.search(["parse a date string"], k=10)
>>> result.keys[0][:3], result.distances[0][:3]
>>> pipe.save("my_index")                     # one directory, written atomically
>>> pipe = HashingPipeline.load("my_index")   # serving: needs neither torch nor a GPU

A saved pipeline is a directory (see :mod:`nash_index.pipeline_io` for the layout); ``load``
encodes queries with the numpy export of the NASH encoder, so the serving process imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ._index_base import BaseIndex, PathLike
from .hashers import canonical_hasher, encoder_of, fit_hasher, make_hasher
from .vectorizer import TextVectorizer, VectorizerParams, _check_texts

__all__ = ["HashingPipeline", "TextSearchResult", "make_index"]

INDEX_KINDS = ("auto", "flat", "mih")
_MIN_VALIDATION_DOCS = 50  # below this many held-out documents, train without validation


def make_index(nbits: int, n_expected: int = 0, kind: str = "auto") -> BaseIndex:
    """An empty index: ``nash_index.factory.make_index`` (flat or multi-index hashing by the
    auto rule) when available, else a :class:`FlatIndex`."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"index must be one of {INDEX_KINDS}, got {kind!r}")
    try:
        from .factory import make_index as factory_make_index
    except ImportError:
        if kind == "mih":
            raise ValueError("multi-index hashing is not available in this build") from None
        from .flat import FlatIndex

        return FlatIndex(nbits)
    return factory_make_index(nbits, n_expected=n_expected, kind=kind)


@dataclass
class TextSearchResult:
    """Search result of :meth:`HashingPipeline.search` for ``nq`` queries.

    ``ids`` int64 (nq, k) and ``distances`` int32 (nq, k), each row by (distance, id); ``keys``
    the stored key of each id (``None`` where a row is padded with id -1 because k > ntotal).
    """

    ids: np.ndarray
    distances: np.ndarray
    keys: List[List[Optional[str]]]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def hits(self, i: int) -> List[tuple]:
        """``(key, distance, id)`` of query ``i``'s neighbours, padding left out."""
        return [(key, int(d), int(j)) for key, d, j in zip(self.keys[i], self.distances[i], self.ids[i])
                if j >= 0]


class HashingPipeline:
    """Texts -> TF-IDF -> binary codes -> exact Hamming search, saved as one directory.

    Parameters
    ----------
    nbits : code length (a positive multiple of 8).
    hasher : ``"nash"`` (default; trained with torch) or a baseline: ``"lsh"``, ``"sph"``,
        ``"sth"``, ``"itq"``.
    index : ``"auto"`` (flat or multi-index hashing by database size and code length), ``"flat"``
        or ``"mih"``.
    hasher_params : passed to the hasher's constructor (e.g. ``{"variant": "nash", "epochs": 20}``).
    max_features, min_df, max_df : vocabulary selection (:class:`VectorizerParams`).
    validation_fraction : share of the training texts held out for NASH's early stopping (by
        validation precision@100 when labels are given, else by validation loss); 0 disables.
    seed, verbose : random seed; progress bars.
    """

    def __init__(self, nbits: int = 32, hasher: str = "nash", index: str = "auto",
                 hasher_params: Optional[Dict[str, Any]] = None, max_features: int = 10000,
                 min_df: Optional[int] = None, max_df: float = 0.8, validation_fraction: float = 0.1,
                 seed: int = 0, verbose: bool = True) -> None:
        from ._validation import check_nbits

        if index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}, got {index!r}")
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        self.nbits = check_nbits(nbits)
        self.hasher_kind = canonical_hasher(hasher)
        self.index_kind = index
        self.hasher_params = dict(hasher_params or {})
        self.vectorizer = TextVectorizer(VectorizerParams(max_features, min_df, max_df))
        self.validation_fraction = float(validation_fraction)
        self.seed = int(seed)
        self.verbose = bool(verbose)
        self.hasher: Any = None          # the trainable model (None when loaded torch-free)
        self.encoder: Any = None         # what encodes: NASH's numpy export, or the baseline
        self.index: Optional[BaseIndex] = None
        self._keys: Dict[int, str] = {}
        self._model_files: Dict[str, bytes] = {}
        self.train_info: Dict[str, Any] = {}

    # ---- state --------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """True after :meth:`fit` or :meth:`load`."""
        return self.encoder is not None

    @property
    def ntotal(self) -> int:
        """Number of indexed documents."""
        return 0 if self.index is None else self.index.ntotal

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        state = f"ntotal={self.ntotal}" if self.is_fitted else "not fitted"
        return f"HashingPipeline(nbits={self.nbits}, hasher={self.hasher_kind!r}, index={self.index_kind!r}, {state})"

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError("this pipeline is not fitted; call fit(texts) or HashingPipeline.load(path)")

    # ---- training -----------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Any = None, val_texts: Optional[Sequence[str]] = None,
            val_labels: Any = None) -> "HashingPipeline":
        """Fits the vocabulary on ``texts`` and trains the hasher on their TF-IDF rows.

        ``labels`` (optional: class names, lists of labels per text, or an indicator matrix)
        select NASH's best epoch by validation precision; they never enter the unsupervised loss.
        Without ``val_texts``, ``validation_fraction`` of ``texts`` is held out for that. The
        index is not touched: call :meth:`add` to index documents.
        """
        import time

        texts = _check_texts(texts)
        val_texts = None if val_texts is None else _check_texts(val_texts)
        y, y_val = _label_arrays(labels, len(texts), val_labels, len(val_texts or []))
        t0 = time.perf_counter()
        X = self.vectorizer.fit_transform(texts)
        X_val = None
        if val_texts is not None:
            X_val = self.vectorizer.transform(val_texts)
        elif self.hasher_kind == "nash":
            X, y, X_val, y_val = self._hold_out(X, y)
        t1 = time.perf_counter()
        hasher = make_hasher(self.hasher_kind, self.nbits, self.hasher_params, self.seed, self.verbose)
        fit_hasher(hasher, X, y, X_val, y_val)
        self.hasher, self.encoder = hasher, encoder_of(hasher)
        self._model_files = {}
        self.train_info = {"n_train": int(X.shape[0]), "n_val": 0 if X_val is None else int(X_val.shape[0]),
                           "n_features": self.vectorizer.n_features,
                           "vectorize_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        result = getattr(hasher, "result_", None)
        if result is not None:
            self.train_info.update(best_epoch=int(result.best_epoch), epochs_run=len(result.history),
                                   criterion=result.criterion, best_score=float(result.best_score))
        return self

    def _hold_out(self, X: Any, y: Optional[np.ndarray]) -> tuple:
        n_val = int(round(X.shape[0] * self.validation_fraction))
        if n_val < _MIN_VALIDATION_DOCS or X.shape[0] - n_val < _MIN_VALIDATION_DOCS:
            return X, y, None, None
        perm = np.random.default_rng(self.seed).permutation(X.shape[0])
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        if y is None:
            return X[train], None, X[val], None
        return X[train], y[train], X[val], y[val]

    # ---- encoding and indexing ------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> Any:
        """TF-IDF rows (CSR float32) of ``texts``."""
        self._check_fitted()
        return self.vectorizer.transform(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Packed binary codes, uint8 (n, nbits // 8), of ``texts``."""
        self._check_fitted()
        X = self.vectorizer.transform(texts)
        if X.shape[0] == 0:
            return np.zeros((0, self.nbits // 8), dtype=np.uint8)
        return np.ascontiguousarray(self.encoder.encode(X), dtype=np.uint8)

    def add(self, texts: Sequence[str], ids: Any = None, keys: Optional[Sequence[str]] = None,
            batch_size: int = 4096) -> np.ndarray:
        """Encodes and indexes ``texts``; returns their ids.

        ``ids`` (unique int64) default to consecutive integers after the largest id so far;
        ``keys`` (e.g. titles or file names, returned by :meth:`search`) default to ``str(id)``.
        """
        self._check_fitted()
        texts = _check_texts(texts, allow_empty=True)
        id_arr = self._new_ids(len(texts), ids)
        if keys is not None:
            keys = [str(k) for k in keys]
            if len(keys) != len(texts):
                raise ValueError(f"got {len(keys)} keys for {len(texts)} texts")
        codes = self._encode_batches(texts, batch_size)
        if self.index is None:
            self.index = make_index(self.nbits, n_expected=len(texts), kind=self.index_kind)
        self.index.add(codes, id_arr)
        for j, i in enumerate(id_arr.tolist()):
            self._keys[i] = keys[j] if keys is not None else str(i)
        return id_arr

    def reset(self, index: Optional[str] = None) -> None:
        """Empties the index (the model stays); ``index`` optionally changes its kind."""
        if index is not None and index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {INDEX_KINDS}, got {index!r}")
        self.index, self._keys = None, {}
        self.index_kind = index or self.index_kind

    def _new_ids(self, n: int, ids: Any) -> np.ndarray:
        if ids is None:
            start = (max(self._keys) + 1) if self._keys else 0
            return np.arange(start, start + n, dtype=np.int64)
        arr = np.asarray(ids)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be {n} integers, got shape {arr.shape} and dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if np.unique(arr).size != n or any(i in self._keys for i in arr.tolist()):
            raise ValueError("ids must be unique and not already in the index")
        return arr

    def _encode_batches(self, texts: List[str], batch_size: int) -> np.ndarray:
        out = np.empty((len(texts), self.nbits // 8), dtype=np.uint8)
        starts = range(0, len(texts), batch_size)
        if self.verbose and len(texts) > 4 * batch_size:
            try:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc="encode", unit="batch", leave=False)
            except ImportError:
                pass
        for s in starts:
            out[s:s + batch_size] = self.encode(texts[s:s + batch_size])
        return out

    def search(self, queries: Sequence[str], k: int = 10, *, num_threads: Optional[int] = None) -> TextSearchResult:
        """The ``k`` indexed documents nearest to each query text, by Hamming distance."""
        self._check_fitted()
        if isinstance(queries, str):
            queries = [queries]
        if self.index is None or self.ntotal == 0:
            raise RuntimeError("the index is empty; call add(texts) first")
        distances, ids = self.index.search(self.encode(queries), k, num_threads=num_threads)
        keys = [[self._keys.get(int(i)) if i >= 0 else None for i in row] for row in ids]
        return TextSearchResult(ids=ids, distances=distances, keys=keys)

    def key_of(self, doc_id: int) -> Optional[str]:
        """The stored key of an indexed id (None if absent)."""
        return self._keys.get(int(doc_id))

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Writes the pipeline to directory ``path`` atomically (temporary directory + rename):
        an interrupted save leaves the previous pipeline at ``path`` loadable."""
        from .pipeline_io import save_pipeline

        self._check_fitted()
        save_pipeline(self, path)

    @classmethod
    def load(cls, path: PathLike, *, use_torch: bool = False, mmap: bool = False, verify: bool = True
             ) -> "HashingPipeline":
        """Reads a pipeline written by :meth:`save`.

        Queries are encoded with numpy; ``use_torch=True`` also loads the torch model (to train
        further). ``mmap`` maps the index file; ``verify`` checks every file's checksum.
        """
        from .pipeline_io import load_pipeline

        return load_pipeline(cls, path, use_torch=use_torch, mmap=mmap, verify=verify)


def _label_arrays(labels: Any, n: int, val_labels: Any, n_val: int) -> tuple:
    """Training and validation labels as NASH takes them: 1-D class values or 2-D bool
    indicators (lists of labels per text become indicators over the union of both label sets)."""
    if labels is None:
        return None, None
    both = [labels] if val_labels is None else [labels, val_labels]
    if all(isinstance(b, np.ndarray) for b in both):
        arrs = [b.astype(bool) if b.ndim == 2 else b for b in both]
    else:
        lists = [list(b) for b in both]
        if any(items and isinstance(items[0], (list, tuple, set, frozenset)) for items in lists):
            names = sorted({str(lab) for items in lists for labs in items for lab in labs})
            arrs = [_indicator(items, names) for items in lists]
        else:
            arrs = [np.asarray(items) for items in lists]
    for arr, count, name in zip(arrs, (n, n_val), ("labels", "val_labels")):
        if arr.shape[0] != count:
            raise ValueError(f"{name} has {arr.shape[0]} entries for {count} texts")
    return arrs[0], (arrs[1] if len(arrs) > 1 else None)


def _indicator(items: List[Any], names: List[str]) -> np.ndarray:
    col = {lab: j for j, lab in enumerate(names)}
    arr = np.zeros((len(items), len(names)), dtype=bool)
    for i, labs in enumerate(items):
        arr[i, [col[str(lab)] for lab in labs]] = True
    return arr
