"""Mini-batching of sparse (bag-of-words) and dense inputs (checked by :func:`nash_index.checks.check_array`).

Batches are built from row slices of the caller's matrix, so a scipy.sparse corpus is
never densified as a whole: sparse batches stay sparse all the way into the first
layer (an ``EmbeddingBag`` sum), dense batches are plain float tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Union

import numpy as np
import scipy.sparse as sp
import torch

ArrayLike = Union[np.ndarray, sp.spmatrix, "sp.sparray"]


@dataclass
class SparseBatch:
    """One CSR mini-batch as flat torch tensors (the layout ``EmbeddingBag`` wants)."""

    cols: torch.Tensor      # int64 (nnz,) column (word) ids
    offsets: torch.Tensor   # int64 (n,) start of each row in ``cols``
    rows: torch.Tensor      # int64 (nnz,) row id of each entry
    values: torch.Tensor    # float32 (nnz,) entries of X
    n_rows: int
    n_cols: int

    def to(self, device: torch.device) -> "SparseBatch":
        """Move every tensor to ``device``."""
        return SparseBatch(self.cols.to(device), self.offsets.to(device), self.rows.to(device),
                           self.values.to(device), self.n_rows, self.n_cols)


Batch = Union[SparseBatch, torch.Tensor]


def to_batch(M: ArrayLike) -> Batch:
    """Convert a CSR slice or a dense float32 block into a torch batch."""
    if sp.issparse(M):
        indptr = M.indptr.astype(np.int64)
        counts = np.diff(indptr)
        return SparseBatch(
            cols=torch.from_numpy(M.indices.astype(np.int64)),
            offsets=torch.from_numpy(indptr[:-1].copy()),
            rows=torch.from_numpy(np.repeat(np.arange(M.shape[0], dtype=np.int64), counts)),
            values=torch.from_numpy(M.data.astype(np.float32)),
            n_rows=M.shape[0], n_cols=M.shape[1])
    return torch.from_numpy(np.ascontiguousarray(M, dtype=np.float32))


def iterate_batches(M: ArrayLike, batch_size: int, order: Optional[np.ndarray] = None,
                    ) -> Iterator[tuple[np.ndarray, Batch]]:
    """Yield ``(row_ids, batch)`` over ``M`` in ``order`` (default: natural order)."""
    n = M.shape[0]
    ids = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        rows = ids[start:start + batch_size]
        yield rows, to_batch(M[rows])


def batch_size_of(batch: Batch) -> int:
    """Number of documents in a batch."""
    return batch.n_rows if isinstance(batch, SparseBatch) else int(batch.shape[0])


def l2_normalised(batch: Batch) -> Batch:
    """The batch with every non-zero row scaled to unit L2 norm (``row_norm.py`` says why)."""
    if isinstance(batch, SparseBatch):
        squares = torch.zeros(batch.n_rows, dtype=batch.values.dtype, device=batch.values.device)
        squares.index_add_(0, batch.rows, batch.values * batch.values)
        norms = torch.sqrt(squares).clamp_min(1e-30)
        return SparseBatch(batch.cols, batch.offsets, batch.rows, batch.values / norms[batch.rows],
                           batch.n_rows, batch.n_cols)
    norms = torch.linalg.vector_norm(batch, dim=1, keepdim=True).clamp_min(1e-30)
    return batch / norms
