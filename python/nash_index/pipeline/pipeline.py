"""From text to neighbours: TF-IDF vocabulary + hasher (NASH or a baseline) + Hamming index.

>>> pipe = HashingPipeline(nbits=32).fit(train_texts, labels)
>>> pipe.add(texts, keys=titles)
>>> result = pipe.search(["parse a date string"], k=10)
>>> result.keys[0][:3], result.distances[0][:3]
>>> pipe.save("my_index")                     # one directory, written atomically
>>> pipe = HashingPipeline.load("my_index")   # serving: needs neither torch nor a GPU

A saved pipeline is a directory (see :mod:`nash_index.pipeline.storage` for the layout); ``load``
encodes queries with the numpy export of the NASH encoder, so the serving process imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..index import BaseIndex, make_index
from ..index import load as load_index
from ..index.base import PathLike
from ..index.factory import check_index_kind
from ..index.validation import check_nbits
from ..text import TextVectorizer, TrainedHasher, VectorizerParams, canonical_hasher, check_texts
from .keys import DocumentKeys
from .labels import training_label_arrays
from .storage import PipelineFormatError, open_directory, save_directory

__all__ = ["HashingPipeline", "TextSearchResult"]

#: Below this many held-out documents NASH trains without validation (early stopping needs some).
MIN_VALIDATION_DOCS = 50
VECTORIZER_FILE = "vectorizer.npz"
INDEX_FILE = "index.nidx"
KEYS_FILE = "keys.npz"


@dataclass
class TextSearchResult:
    """Search result of :meth:`HashingPipeline.search` for ``nq`` queries.

    ``distances`` int32 (nq, k) and ``ids`` int64 (nq, k), each row by (distance, id), in the
    order of :class:`nash_index.SearchResult`; ``keys`` the stored key of each id (``None`` where
    a row is padded with id -1 because k > ntotal).
    """

    distances: np.ndarray
    ids: np.ndarray
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
        check_index_kind(index, "index")
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
        self.trained: Optional[TrainedHasher] = None
        self.index: Optional[BaseIndex] = None
        self._keys = DocumentKeys()
        self.train_info: Dict[str, Any] = {}

    # ---- state --------------------------------------------------------------------------
    @property
    def hasher(self) -> Any:
        """The trainable model (None when a NASH pipeline was loaded without torch)."""
        return None if self.trained is None else self.trained.model

    @property
    def encoder(self) -> Any:
        """What encodes: NASH's numpy export, or the baseline itself."""
        return None if self.trained is None else self.trained.encoder

    @property
    def is_fitted(self) -> bool:
        """True after :meth:`fit` or :meth:`load`."""
        return self.trained is not None

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

        texts = check_texts(texts)
        val_texts = None if val_texts is None else check_texts(val_texts)
        y, y_val = training_label_arrays(labels, len(texts), val_labels, len(val_texts or []))
        t0 = time.perf_counter()
        X = self.vectorizer.fit_transform(texts)
        X_val = None
        if val_texts is not None:
            X_val = self.vectorizer.transform(val_texts)
        elif self.hasher_kind == "nash":
            X, y, X_val, y_val = self._hold_out(X, y)
        t1 = time.perf_counter()
        self.trained = TrainedHasher.train(self.hasher_kind, self.nbits, self.hasher_params, self.seed,
                                           self.verbose, X, y, X_val, y_val)
        self.train_info = {"n_train": int(X.shape[0]), "n_val": 0 if X_val is None else int(X_val.shape[0]),
                           "n_features": self.vectorizer.n_features,
                           "vectorize_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        result = getattr(self.hasher, "result_", None)
        if result is not None:
            self.train_info.update(best_epoch=int(result.best_epoch), epochs_run=len(result.history),
                                   criterion=result.criterion, best_score=float(result.best_score))
        return self

    def _hold_out(self, X: Any, y: Optional[np.ndarray]) -> tuple:
        n_val = int(round(X.shape[0] * self.validation_fraction))
        if n_val < MIN_VALIDATION_DOCS or X.shape[0] - n_val < MIN_VALIDATION_DOCS:
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
        texts = check_texts(texts, allow_empty=True)
        id_arr = self._keys.next_ids(len(texts)) if ids is None else self._keys.check_new(ids, len(texts))
        if keys is not None:
            keys = [str(k) for k in keys]
            if len(keys) != len(texts):
                raise ValueError(f"got {len(keys)} keys for {len(texts)} texts")
        codes = self._encode_batches(texts, batch_size)
        if self.index is None:
            self.index = make_index(self.nbits, n_expected=len(texts), kind=self.index_kind)
        self.index.add(codes, id_arr)
        self._keys.add(id_arr.tolist(), keys)
        return id_arr

    def attach_index(self, index: BaseIndex) -> None:
        """Searches ``index`` (codes of this pipeline's encoder, e.g. built elsewhere) from now on;
        its ids become the keys."""
        if index.nbits != self.nbits:
            raise ValueError(f"the index has {index.nbits}-bit codes but this pipeline makes {self.nbits}-bit codes")
        self.index, self._keys = index, DocumentKeys({int(i): str(i) for i in index.ids()})

    def reset(self, index: Optional[str] = None) -> None:
        """Empties the index (the model stays); ``index`` optionally changes its kind."""
        if index is not None:
            check_index_kind(index, "index")
        self.index, self._keys = None, DocumentKeys()
        self.index_kind = index or self.index_kind

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
        self._check_fitted()
        save_directory(path, self._write_files)

    def _write_files(self, out: Path) -> Dict[str, Any]:
        """Each component writes its own files; returns the manifest entries."""
        self.vectorizer.save(out / VECTORIZER_FILE)
        hasher_entry = self.trained.save(out)  # type: ignore[union-attr]
        index_entry: Dict[str, Any] = {"file": None, "ntotal": 0, "type": None}
        if self.index is not None:
            self.index.save(out / INDEX_FILE)
            index_entry = {"file": INDEX_FILE, "ntotal": self.index.ntotal, "type": type(self.index).__name__}
        self._keys.save(out / KEYS_FILE)
        return {"nbits": self.nbits, "hasher_kind": self.hasher_kind, "index_kind": self.index_kind,
                "hasher_params": self.hasher_params, "validation_fraction": self.validation_fraction,
                "seed": self.seed, "vectorizer": self.vectorizer.to_manifest(), "hasher": hasher_entry,
                "index": index_entry, "train_info": self.train_info}

    @classmethod
    def load(cls, path: PathLike, *, use_torch: bool = False, mmap: bool = False, verify: bool = True
             ) -> "HashingPipeline":
        """Reads a pipeline written by :meth:`save`.

        Queries are encoded with numpy; ``use_torch=True`` also loads the torch model (to train
        further). ``mmap`` maps the index file; ``verify`` checks every file's checksum.
        """
        src, manifest = open_directory(path, verify)
        pipe = cls(nbits=manifest["nbits"], hasher=manifest["hasher_kind"], index=manifest["index_kind"],
                   hasher_params=manifest.get("hasher_params"),
                   validation_fraction=manifest.get("validation_fraction", 0.1),
                   seed=manifest.get("seed", 0), verbose=False)
        pipe.vectorizer = TextVectorizer.load(src / VECTORIZER_FILE, manifest["vectorizer"])
        pipe.trained = TrainedHasher.load(manifest["hasher"], src, use_torch)
        pipe.train_info = manifest.get("train_info", {})
        if manifest["index"].get("file"):
            pipe.index = load_index(src / manifest["index"]["file"], mmap=mmap, verify=verify)
        pipe._keys = DocumentKeys.load(src / KEYS_FILE)
        if pipe.ntotal != len(pipe._keys):
            raise PipelineFormatError(f"{src}: the index holds {pipe.ntotal} codes but {len(pipe._keys)} keys")
        return pipe
