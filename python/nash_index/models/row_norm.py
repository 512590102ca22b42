"""The encoder's input rows, L2-normalised where the caller's bag of words is not (issue #26).

A TF-IDF matrix whose rows are not unit length (``norm=None``, raw counts) feeds the first layer
sums that grow with a document's length, so long documents saturate the ReLUs and the code tracks
length as much as topic. Normalising the encoder's input makes the model indifferent to a row
scale the user chose: on the transfer family (``bench/results/transfer.md``) the un-normalised
preparations then train like the normalised ones. Only the encoder's input is scaled: the softmax
decoder's target (word presence, counts or TF-IDF weights) and the cosine neighbour graph see X
as given.

``input_norm="auto"`` (NASH's default) decides at ``fit``: ``"l2"`` for a bag of words (the
softmax decoder) whose rows are not already unit length, else ``"none"``, so that rows that are
already normalised train exactly as before (not re-divided by norms of 1 +- 1e-7). Dense
embeddings (the Gaussian decoder) are left alone: their scale is the decoder's target.

This module must not import torch: the numpy encoder uses it at serving time.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

INPUT_NORMS = ("auto", "l2", "none")
#: Rows whose L2 norm is within this of 1 (or exactly 0) count as normalised.
UNIT_TOLERANCE = 1e-3


def row_norms(X: Any) -> np.ndarray:
    """L2 norm of every row (float64), for CSR or dense X."""
    if sp.issparse(X):
        return np.sqrt(np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel())
    X = np.asarray(X, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", X, X))


def resolve_input_norm(input_norm: str, decoder: str, X: Any) -> str:
    """``"l2"`` or ``"none"``: what ``input_norm`` means for this fit (see the module)."""
    if input_norm != "auto":
        return input_norm
    if decoder != "softmax":
        return "none"
    norms = row_norms(X)
    norms = norms[norms > 0]
    return "l2" if norms.size and float(np.max(np.abs(norms - 1.0))) > UNIT_TOLERANCE else "none"


def l2_rows(X: Any) -> Any:
    """X with every non-zero row scaled to unit L2 norm (zero rows stay zero); float32, same
    kind (CSR or dense) as X."""
    norms = row_norms(X)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    if sp.issparse(X):
        return sp.csr_matrix(sp.diags(inverse) @ X, dtype=np.float32)
    return (np.asarray(X, dtype=np.float32) * inverse[:, None]).astype(np.float32)


def encoder_rows(X: Any, params: dict) -> Any:
    """The rows the encoder of a NASH with ``params`` (its other parameters default) will see
    when fitted on X: ``l2_rows(X)`` where ``input_norm`` resolves to ``"l2"``, else X itself.
    ``hasher="auto"`` fits the warm start's PCA-ITQ on them."""
    decoder = params.get("decoder", "auto")
    if decoder == "auto":
        decoder = "softmax" if sp.issparse(X) else "gaussian"
    return l2_rows(X) if resolve_input_norm(params.get("input_norm", "auto"), decoder, X) == "l2" else X
