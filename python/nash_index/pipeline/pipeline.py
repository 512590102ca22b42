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

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..index import BaseIndex, make_index
from ..index.base import PathLike
from ..index.factory import check_index_kind
from ..index.validation import check_fraction, check_int, check_nbits, check_num_threads, check_positive_int
from ..text import TextVectorizer, TrainedHasher, VectorizerParams, canonical_hasher, check_texts
from ..text.vectorizer import describe_texts, rows_without_terms
from .codes import CodesIndex
from .compose import pipeline_from_model
from .keys import DocumentKeys, check_keys
from .labels import training_label_arrays
from .loading import load_pipeline_files
from .results import TextSearchResult
from .storage import INDEX_FILE, KEYS_FILE, VECTORIZER_FILE, open_directory, save_directory

__all__ = ["INDEX_FILE", "KEYS_FILE", "VECTORIZER_FILE", "HashingPipeline", "TextSearchResult"]

#: Below this many held-out documents NASH trains without validation (early stopping needs some).
MIN_VALIDATION_DOCS = 50


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
    num_threads : torch's CPU threads while NASH trains (None: the model's default, 1; see
        :mod:`nash_index.models.threads`); passed to the hasher, ignored by the baselines.
    """

    def __init__(self, nbits: int = 32, hasher: str = "nash", index: str = "auto",
                 hasher_params: Optional[Dict[str, Any]] = None, max_features: int = 10000,
                 min_df: Optional[int] = None, max_df: float = 0.8, validation_fraction: float = 0.1,
                 seed: int = 0, verbose: bool = True, num_threads: Optional[int] = None) -> None:
        check_index_kind(index, "index")
        if check_fraction(validation_fraction, "validation_fraction") == 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        if hasher_params is not None and not isinstance(hasher_params, dict):
            raise TypeError(f"hasher_params must be a dict, got {type(hasher_params).__name__}")
        check_num_threads(num_threads)
        if num_threads is not None and "num_threads" in (hasher_params or {}):
            raise ValueError("num_threads is given twice (as a parameter and in hasher_params); give it once")
        self.nbits = check_nbits(nbits)
        self.hasher_kind = canonical_hasher(hasher)
        self.index_kind = index
        self.hasher_params = dict(hasher_params or {})
        self.vectorizer = TextVectorizer(VectorizerParams(max_features, min_df, max_df))
        self.validation_fraction = float(validation_fraction)
        self.seed = check_int(seed, "seed")
        self.verbose = bool(verbose)
        self.num_threads = num_threads
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
        Without ``val_texts``, ``validation_fraction`` of ``texts`` is held out for that. Call
        :meth:`add` to index documents. A pipeline that already indexes documents refuses to be
        refitted (their codes come from the current model: call :meth:`reset` first); a fit that
        fails leaves the previous model in place.
        """
        import time

        if self.ntotal:
            raise RuntimeError(f"this pipeline indexes {self.ntotal} documents encoded by its current model; "
                               "call reset() before fit, or fit a new HashingPipeline")
        texts = check_texts(texts)
        val_texts = None if val_texts is None else check_texts(val_texts, name="val_texts")
        y, y_val = training_label_arrays(labels, len(texts), val_labels, len(val_texts or []))
        t0 = time.perf_counter()
        vectorizer = TextVectorizer(self.vectorizer.params)  # replaces the current one only on success
        X = vectorizer.fit_transform(texts)
        X_val = None
        if val_texts is not None:
            X_val = vectorizer.transform(val_texts)
        elif self.hasher_kind == "nash":
            X, y, X_val, y_val = self._hold_out(X, y)
        t1 = time.perf_counter()
        params = dict(self.hasher_params)
        if self.hasher_kind == "nash" and self.num_threads is not None:
            params["num_threads"] = self.num_threads
        with warnings.catch_warnings():
            if self.hasher_kind == "nash" and X_val is None:
                self._warn_no_validation(X.shape[0])
                warnings.filterwarnings("ignore", "NASH.fit without validation data", UserWarning)  # said above
            trained = TrainedHasher.train(self.hasher_kind, self.nbits, params, self.seed, self.verbose,
                                          X, y, X_val, y_val)
        self.vectorizer, self.trained = vectorizer, trained
        self.train_info = {"n_train": int(X.shape[0]), "n_val": 0 if X_val is None else int(X_val.shape[0]),
                           "n_features": self.vectorizer.n_features,
                           "vectorize_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        result = getattr(self.hasher, "result_", None)
        if result is not None:
            self.train_info.update(best_epoch=int(result.best_epoch), epochs_run=len(result.history),
                                   criterion=result.criterion, best_score=float(result.best_score))
        return self

    def _warn_no_validation(self, n_texts: int) -> None:
        epochs = self.hasher_params.get("epochs", 100)
        why = ("validation_fraction is 0" if self.validation_fraction == 0 else
               f"{n_texts} texts are too few for validation_fraction={self.validation_fraction} to leave "
               f"{MIN_VALIDATION_DOCS} for validation and {MIN_VALIDATION_DOCS} for training")
        if epochs != 1:
            warnings.warn(f"HashingPipeline.fit without validation data ({why}): all {epochs} epochs of NASH will run "
                          "(no early stopping); pass val_texts to stop at the best epoch", UserWarning, stacklevel=3)

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
        return self.vectorizer.transform(check_texts(texts, allow_empty=True))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Packed binary codes, uint8 (n, nbits // 8), of ``texts``.

        Texts with no vocabulary term all get one and the same code; a UserWarning names them.
        """
        self._check_fitted()
        texts = check_texts(texts, allow_empty=True)
        codes, blank = self._codes(texts)
        _warn_no_terms(texts, blank, "encode", "they all get one and the same code")
        return codes

    def _codes(self, texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """Codes of checked ``texts`` and the mask of those with no vocabulary term (the one home
        of that check: encode, add and search all go through here)."""
        X = self.vectorizer.transform(texts)
        if X.shape[0] == 0:
            return np.zeros((0, self.nbits // 8), dtype=np.uint8), np.zeros(0, dtype=bool)
        codes = np.ascontiguousarray(self.encoder.encode(X), dtype=np.uint8)
        return codes, rows_without_terms(X)

    def add(self, texts: Sequence[str], ids: Any = None, keys: Optional[Sequence[str]] = None,
            batch_size: int = 4096, store_texts: bool = False) -> np.ndarray:
        """Encodes and indexes ``texts``; returns their ids.

        ``ids`` (unique integers >= 0; -1 marks padding in results) default to consecutive
        integers after the largest id so far; ``keys`` (e.g. titles or file names, returned by
        :meth:`search`) default to ``str(id)``. ``store_texts`` keeps an excerpt of each text
        (one line, at most ``EXCERPT_CHARS`` characters) for :meth:`text_of`, saved with the
        keys. Texts with no vocabulary term are indexed (under one shared code) with a
        UserWarning naming them.
        """
        self._check_fitted()
        texts = check_texts(texts, allow_empty=True)
        batch_size = check_positive_int(batch_size, "batch_size")
        id_arr = self._keys.next_ids(len(texts)) if ids is None else self._keys.check_new(ids, len(texts))
        keys = check_keys(keys, len(texts))  # before the index changes: a bad key must leave no trace
        codes, blank = self._encode_batches(texts, batch_size)
        _warn_no_terms(texts, blank, "add", "they are indexed under one and the same code")
        if self.index is None:
            self.index = make_index(self.nbits, n_expected=len(texts), kind=self.index_kind)
        self.index.add(codes, id_arr)
        self._keys.add(id_arr.tolist(), keys, texts if store_texts else None)
        return id_arr

    def attach_index(self, index: BaseIndex) -> None:
        """Searches ``index`` (codes of this pipeline's encoder, e.g. built elsewhere) from now on;
        its ids become the keys."""
        if not isinstance(index, BaseIndex):
            raise TypeError(f"index must be a nash_index index (FlatIndex, MultiIndexHashing), got {type(index).__name__}")
        if index.nbits != self.nbits:
            raise ValueError(f"the index has {index.nbits}-bit codes but this pipeline makes {self.nbits}-bit codes")
        self.index, self._keys = index, DocumentKeys({i: str(i) for i in index.ids().tolist()})

    def reset(self, index: Optional[str] = None) -> None:
        """Empties the index (the model stays); ``index`` optionally changes its kind."""
        if index is not None:
            check_index_kind(index, "index")
        self.index, self._keys = None, DocumentKeys()
        self.index_kind = index or self.index_kind

    def _encode_batches(self, texts: List[str], batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
        out = np.empty((len(texts), self.nbits // 8), dtype=np.uint8)
        blank = np.zeros(len(texts), dtype=bool)
        starts = range(0, len(texts), batch_size)
        if self.verbose and len(texts) > 4 * batch_size:
            try:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc="encode", unit="batch", leave=False)
            except ImportError:
                pass
        for s in starts:
            out[s:s + batch_size], blank[s:s + batch_size] = self._codes(texts[s:s + batch_size])
        return out, blank

    def search(self, queries: Sequence[str], k: int = 10, *, num_threads: Optional[int] = None) -> TextSearchResult:
        """The ``k`` indexed documents nearest to each query text, by Hamming distance.

        A query with no vocabulary term (empty, only stop words or unknown words) has the code
        of an empty text, so its neighbours are arbitrary: its row is still filled, marked in
        ``result.no_known_terms``, and a UserWarning names it.
        """
        self._check_fitted()
        if isinstance(queries, str):
            queries = [queries]
        queries = check_texts(queries, allow_empty=True, name="queries")
        k = check_positive_int(k, "k")
        if self.index is None or self.ntotal == 0:
            raise RuntimeError("the index is empty; call add(texts) first")
        codes, blank = self._codes(queries)
        _warn_no_terms(queries, blank, "search", "their neighbours are arbitrary (see result.no_known_terms)",
                       noun="queries")
        try:
            distances, ids = self.index.search(codes, k, num_threads=num_threads)
        except MemoryError as exc:  # k is checked as an int only: its bound is the memory
            raise MemoryError(f"search: k={k} neighbours for {len(queries)} queries do not fit in memory "
                              f"(the index holds {self.ntotal} documents): {exc}") from None
        keys = [[self._keys.get(int(i)) if i >= 0 else None for i in row] for row in ids]
        return TextSearchResult(ids=ids, distances=distances, keys=keys, no_known_terms=blank)

    def search_codes(self, codes: Any, k: int = 10) -> TextSearchResult:
        """The ``k`` indexed documents nearest to query codes made elsewhere (packed uint8 rows,
        or 0/1 bits: see :func:`nash_index.pipeline.codes.as_packed_codes`)."""
        if self.index is None or self.ntotal == 0:
            raise RuntimeError("the index is empty; call add(texts) first")
        return CodesIndex(self.index, self._keys).search(codes, check_positive_int(k, "k"))

    def key_of(self, doc_id: int) -> Optional[str]:
        """The stored key of an indexed id (None if absent)."""
        return self._keys.get(check_int(doc_id, "doc_id"))

    def text_of(self, doc_id: int) -> Optional[str]:
        """The stored excerpt of an indexed id's text (None if absent or added without ``store_texts``)."""
        return self._keys.text(check_int(doc_id, "doc_id"))

    @property
    def stores_texts(self) -> bool:
        """True when documents were added with ``store_texts=True``."""
        return self._keys.has_texts

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
    def from_model(cls, model_dir: PathLike, vectorizer: Any = None, index: str = "auto") -> "HashingPipeline":
        """An empty pipeline encoding with a model saved by ``NASH.save`` and the vectorizer whose
        rows trained it: a fitted ``TextVectorizer`` (``Corpus.vectorizer()`` for ``load_corpus``
        rows), its ``TextVectorizer.save`` file, or by default ``vectorizer.npz`` beside the model
        (see :mod:`nash_index.pipeline.compose`); call :meth:`add` to index documents."""
        return pipeline_from_model(cls, model_dir, vectorizer, index)

    @classmethod
    def load(cls, path: PathLike, *, use_torch: bool = False, mmap: bool = False, verify: bool = True
             ) -> "HashingPipeline":
        """Reads a pipeline written by :meth:`save`.

        Queries are encoded with numpy; ``use_torch=True`` also loads the torch model (to train
        further). ``mmap`` maps the index file; ``verify`` checks every file's checksum. Any
        damaged file (with or without ``verify``) raises :class:`PipelineFormatError` naming it;
        I/O failures raise OSError.
        """
        src, manifest = open_directory(path, verify)
        return load_pipeline_files(cls, src, manifest, use_torch=use_torch, mmap=mmap, verify=verify)


def _warn_no_terms(texts: List[str], blank: np.ndarray, action: str, consequence: str, noun: str = "texts") -> None:
    """One UserWarning naming the texts that have no vocabulary term (positions and excerpts)."""
    positions = np.flatnonzero(blank).tolist()
    if positions:
        warnings.warn(f"{action}: {len(positions)} of {len(texts)} {noun} have no known term (empty, only stop "
                      f"words or words outside the vocabulary): {describe_texts(texts, positions)}; {consequence}",
                      UserWarning, stacklevel=3)
