"""The indexed documents of a :class:`HashingPipeline`: their codes in a Hamming index, their keys
(and excerpts), and optionally their float vectors for rescoring, always under the same ids.

A :class:`DocumentStore` owns the three and keeps them in step: every change (add, attach an
index, reset) goes through it, and a loaded store is checked (:meth:`DocumentStore.mismatch`). It
writes and reads its own files of a saved pipeline: ``index.nidx`` (absent while empty),
``keys.npz`` and ``vectors.npz``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..index import BaseIndex, make_index
from ..index import load as load_index
from ..index.factory import auto_kind, check_index_kind, duplicate_share
from ..index.validation import check_k, check_positive_int
from .inputs import as_packed_codes
from .keys import DocumentKeys
from .results import TextSearchResult
from .storage import INDEX_FILE, KEYS_FILE, VECTORS_FILE, PipelineFormatError, is_member_name, manifest_entry, reading
from .vectors import StoredVectors, check_rescore, rescore_search

__all__ = ["DocumentStore", "store_entries", "store_files"]

Entry = Dict[str, Any]


class DocumentStore:
    """Codes, keys and (with ``vector_dtype``) vectors of the added documents, by id."""

    def __init__(self, nbits: int, index_kind: str = "auto", vector_dtype: Optional[str] = None) -> None:
        self.nbits, self.index_kind = nbits, index_kind
        self.vector_dtype = vector_dtype  # "float32", "int8" or None: whether vectors are kept
        self._index: Optional[BaseIndex] = None  # made by the first add, for its size
        # documents held when index_kind="auto" last chose the kind (-1: an attached index, kept)
        self._kind_chosen_at = 0
        self._keys = DocumentKeys()
        self._vectors: Optional[StoredVectors] = None

    @property
    def index(self) -> Optional[BaseIndex]:
        return self._index

    @property
    def vectors(self) -> Optional[StoredVectors]:
        return self._vectors

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else self._index.ntotal

    def keep_vectors(self, dim: Optional[int]) -> None:
        """From now on keeps each added document's ``dim``-d vector, if ``vector_dtype`` asks for
        it (``dim`` None: the hasher reads TF-IDF rows, nothing to keep)."""
        self._vectors = None if dim is None or self.vector_dtype is None else StoredVectors(self.vector_dtype, dim)

    # ---- changes ------------------------------------------------------------------------
    def new_ids(self, ids: Any, n: int) -> np.ndarray:
        """``ids`` checked as ``n`` new ids, or by default ``n`` consecutive ids after the largest."""
        return self._keys.next_ids(n) if ids is None else self._keys.check_new(ids, n)

    def add(self, ids: np.ndarray, codes: np.ndarray, keys: Optional[List[str]] = None,
            texts: Optional[List[str]] = None, vectors: Optional[np.ndarray] = None) -> None:
        """Indexes ``codes`` under new ``ids`` (:meth:`new_ids`) with their ``keys``, excerpts of
        ``texts`` (when given) and their ``vectors`` (kept when the store keeps vectors)."""
        if self._index is None:
            self._index = make_index(self.nbits, n_expected=len(ids), kind=self.index_kind, codes=codes)
            self._kind_chosen_at = len(ids)
        self._index.add(codes, ids)
        self._rechoose_kind()
        if self._vectors is not None:
            self._vectors.add(ids, vectors)  # type: ignore[arg-type]
        self._keys.add(ids.tolist(), keys, texts)

    def _rechoose_kind(self) -> None:
        """Under ``index_kind="auto"``, moves the documents to the kind their number and duplicate
        share call for once the store has doubled since the last choice: adding in batches would
        otherwise keep the kind the first batch chose (a flat scan for 10^6 documents added 50,000
        at a time). Doubling bounds the moves at log2(n), each one O(n)."""
        n = self.ntotal
        if self.index_kind != "auto" or self._kind_chosen_at < 0 or n < 2 * max(self._kind_chosen_at, 1):
            return
        self._kind_chosen_at = n
        index = self._index
        codes = index.codes()  # type: ignore[union-attr]
        kind = auto_kind(self.nbits, n, duplicate_share(codes))
        if kind != index.kind:  # type: ignore[union-attr]
            moved = make_index(self.nbits, kind=kind)
            moved.add(codes, index.ids())  # type: ignore[union-attr]
            moved._unverified = getattr(index, "_unverified", None)  # codes still unverified: check at save
            self._index = moved

    def attach(self, index: BaseIndex) -> None:
        """Holds ``index`` from now on; its ids become the keys. Stored vectors are dropped (they
        belong to the former index)."""
        if not isinstance(index, BaseIndex):
            raise TypeError(f"index must be a nash_index index (FlatIndex, MultiIndexHashing), got {type(index).__name__}")
        if index.nbits != self.nbits:
            raise ValueError(f"the index has {index.nbits}-bit codes but this pipeline makes {self.nbits}-bit codes")
        self._index, self._keys = index, DocumentKeys.of_ids(index.ids())
        self._kind_chosen_at = -1
        self._drop_vectors()

    def reset(self, index_kind: Optional[str] = None) -> None:
        """Empties the store; ``index_kind`` optionally changes the kind of the next index."""
        if index_kind is not None:
            check_index_kind(index_kind, "index")
        self._index, self._keys, self._kind_chosen_at = None, DocumentKeys(), 0
        self.index_kind = index_kind or self.index_kind
        self._drop_vectors()

    def _drop_vectors(self) -> None:
        if self._vectors is not None:  # they belonged to the former documents
            self._vectors = self._vectors.emptied()

    # ---- queries ------------------------------------------------------------------------
    def rescore_candidates(self, rescore: Any, k: int) -> Optional[int]:
        """``search(rescore=...)`` as a number of Hamming candidates >= k (None: no rescoring)."""
        return check_rescore(rescore, k, self._vectors)

    def check_not_empty(self) -> None:
        if self._index is None or self.ntotal == 0:
            raise RuntimeError("the index is empty; call add(texts) first")

    def search(self, codes: np.ndarray, k: int, *, num_threads: Optional[int] = None,
               query_vectors: Optional[np.ndarray] = None, n_candidates: Optional[int] = None,
               no_known_terms: Optional[np.ndarray] = None) -> TextSearchResult:
        """The ``k`` nearest documents of each query code, or with ``n_candidates`` the ``k`` of
        that many Hamming candidates nearest to ``query_vectors`` by cosine."""
        self.check_not_empty()
        scores = None
        try:
            if n_candidates is None:
                distances, ids = self._index.search(codes, k, num_threads=num_threads)  # type: ignore[union-attr]
            else:  # more candidates than documents only pads the rows; a huge count names rescore
                n_candidates = check_k(max(k, min(n_candidates, self.ntotal)), codes.shape[0], "rescore")
                ids, scores, distances = rescore_search(self._index, codes, query_vectors, self._vectors,  # type: ignore
                                                        k, n_candidates, num_threads)
        except MemoryError as exc:  # k is checked as an int only: its bound is the memory
            raise MemoryError(f"search: k={k} neighbours for {codes.shape[0]} queries do not fit in memory "
                              f"(the index holds {self.ntotal} documents): {exc}") from None
        return TextSearchResult(ids=ids, distances=distances, keys=self._keys.of_rows(ids),
                                no_known_terms=no_known_terms, scores=scores)

    def search_codes(self, codes: Any, k: int) -> TextSearchResult:
        """The ``k`` nearest documents of query codes made elsewhere (packed or 0/1 rows)."""
        self.check_not_empty()
        k = check_positive_int(k, "k")
        queries = as_packed_codes(codes, "query codes")
        if queries.shape[1] * 8 != self.nbits:
            raise ValueError(f"the query codes have {queries.shape[1] * 8} bits but the index holds {self.nbits}-bit codes")
        return self.search(queries, k)

    def key_of(self, doc_id: int) -> Optional[str]:
        return self._keys.get(doc_id)

    def text_of(self, doc_id: int) -> Optional[str]:
        return self._keys.text(doc_id)

    @property
    def stores_texts(self) -> bool:
        return self._keys.has_texts

    def mismatch(self, vectors_file: str = VECTORS_FILE) -> Optional[str]:
        """What disagrees between the ids of the index, the keys and the stored vectors (None:
        nothing). Every indexed id has a key; every stored vector an indexed id, but documents of
        an attached index have no vector (rescoring one of them says so)."""
        key_ids = np.sort(self._keys.ids())  # arrays, not sets of Python ints: 10^7 ids stay ~80 MB
        index_ids = np.zeros(0, dtype=np.int64) if self._index is None else np.sort(self._index.ids())
        if not np.array_equal(key_ids, index_ids):
            return f"the index holds {self.ntotal} codes but {KEYS_FILE} has {len(self._keys)} keys for other ids"
        if self._vectors is not None and not np.isin(self._vectors.ids, key_ids, assume_unique=True).all():
            return f"{vectors_file} holds vectors of other ids than the index"
        return None

    # ---- persistence --------------------------------------------------------------------
    def save(self, out: Path) -> Tuple[Entry, Optional[Entry]]:
        """Writes the store's files into ``out``; returns the manifest's ``index`` and ``vectors`` entries."""
        index_entry: Entry = {"file": None, "ntotal": 0, "type": None}
        if self._index is not None:
            self._index.save(out / INDEX_FILE)
            index_entry = {"file": INDEX_FILE, "ntotal": self._index.ntotal, "type": type(self._index).__name__}
        self._keys.save(out / KEYS_FILE)
        if self._vectors is None:
            return index_entry, None
        self._vectors.save(out / VECTORS_FILE)
        return index_entry, self._vectors.to_manifest(VECTORS_FILE)

    @classmethod
    def load(cls, src: Path, entries: Tuple[Entry, Optional[Entry]], nbits: int, index_kind: str,
             dim: Optional[int], *, mmap: bool = False, verify: bool = True) -> "DocumentStore":
        """Inverse of :meth:`save` (``entries``: :func:`store_entries`); PipelineFormatError naming
        the file for damage, and when the three parts hold different ids."""
        index_entry, vectors_entry = entries
        store = cls(nbits, index_kind, None if vectors_entry is None else vectors_entry.get("dtype"))
        if vectors_entry is not None:
            with reading(src, vectors_entry["file"]) as path:
                store._vectors = StoredVectors.load(path, vectors_entry)
                if store._vectors.dim != dim:
                    raise ValueError(f"{store._vectors.dim}-d vectors; the pipeline hashes {dim}-d vectors")
        if index_entry.get("file"):
            with reading(src, index_entry["file"]) as path:
                store._index = load_index(path, mmap=mmap, verify=verify)
                store._kind_chosen_at = store._index.ntotal
                if store._index.nbits != nbits:
                    raise ValueError(f"{store._index.nbits}-bit codes; the pipeline makes {nbits}-bit codes")
        with reading(src, KEYS_FILE) as path:
            store._keys = DocumentKeys.load(path)
        problem = store.mismatch(VECTORS_FILE if vectors_entry is None else vectors_entry["file"])
        if problem:
            raise PipelineFormatError(f"{src}: {problem}")
        return store


def store_entries(manifest: Dict[str, Any], dense: bool) -> Tuple[Entry, Optional[Entry]]:
    """The manifest's ``index`` entry and, for a dense pipeline, its ``vectors`` entry (None when no
    vectors are kept), checked."""
    index_entry = manifest_entry(manifest, "index")
    entry = manifest.get("vectors") if dense else None  # TF-IDF pipelines keep no vectors
    if entry is not None and (not isinstance(entry, dict) or not is_member_name(entry.get("file"))):
        raise ValueError(f"the 'vectors' entry must be an object naming a file, got {entry!r}")
    return index_entry, entry


def store_files(entries: Tuple[Entry, Optional[Entry]]) -> Sequence[str]:
    """The store's files in a saved pipeline."""
    index_entry, vectors_entry = entries
    return [KEYS_FILE] + ([index_entry["file"]] if index_entry.get("file") else []) + \
        ([vectors_entry["file"]] if vectors_entry else [])
