"""Self-taught hashing (Zhang, Wang, Cai & Lu, SIGIR 2010).

Stage 1 (unsupervised codes for the training documents): a symmetric k-nearest-neighbour graph
under cosine similarity, then the Laplacian eigenmap: the generalised eigenvectors of
L y = lambda D y with the smallest non-trivial eigenvalues, computed as the top eigenvectors of
D^-1/2 W D^-1/2. Each of the ``nbits`` eigenvectors is thresholded at its median.

Stage 2 (out-of-sample hash functions): one linear SVM per bit (scikit-learn ``LinearSVC``), trained
to predict that bit from the document vector. ``encode`` applies these SVMs to every input,
including the training documents; the stage-1 codes are kept in ``train_bits_``.
"""

from __future__ import annotations

import sys
import warnings
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import LinearSVC

from ..checks import Integer, Real
from ._pca import has_variance
from .base import ArrayLike, HashingBaseline

try:  # progress bars are optional
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    def tqdm(it, **_):  # type: ignore[no-redef]
        return it


def knn_graph(X: ArrayLike, n_neighbors: int) -> sp.csr_matrix:
    """Symmetric kNN graph with cosine-similarity weights (clipped at 0), no self loops."""
    n = X.shape[0]
    k = min(n_neighbors, n - 1)
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(X)
    dist, ind = nn.kneighbors(X)
    rows = np.repeat(np.arange(n), k + 1)
    sim = np.clip(1.0 - dist.ravel(), 0.0, None)
    W = sp.csr_matrix((sim, (rows, ind.ravel())), shape=(n, n))
    W.setdiag(0)
    W.eliminate_zeros()
    return W.maximum(W.T).tocsr()


def laplacian_eigenmap(W: sp.csr_matrix, n_components: int, random_state: Optional[int]) -> np.ndarray:
    """The ``n_components`` non-trivial generalised eigenvectors of (D - W) y = lambda D y."""
    deg = np.asarray(W.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(np.maximum(deg, 1e-12))  # isolated nodes get a tiny degree
    S = sp.diags(inv_sqrt) @ W @ sp.diags(inv_sqrt)
    v0 = np.random.default_rng(random_state).standard_normal(W.shape[0])
    vals, vecs = eigsh(S, k=n_components + 1, which="LA", v0=v0)
    order = np.argsort(-vals)[1:]  # drop the trivial top eigenvector (eigenvalue 1)
    return vecs[:, order] * inv_sqrt[:, None]


class STH(HashingBaseline):
    """Self-taught hashing: Laplacian-eigenmap codes, then per-bit linear SVMs.

    ``n_neighbors``: size of the kNN graph; ``C``: the SVMs' regularisation.
    """

    # C: NaN and infinity are numbers here, refused by the range (finite, > 0)
    _parameter_constraints = {**HashingBaseline._parameter_constraints, "n_neighbors": Integer(low=1),
                              "C": Real(0, np.inf, closed="neither", finite=False)}

    def __init__(self, nbits: int = 32, random_state: Optional[int] = 0, n_neighbors: int = 25,
                 C: float = 1.0, progress: bool = False) -> None:
        self.n_neighbors, self.C, self.progress = n_neighbors, C, progress
        super().__init__(nbits, random_state)

    def _fit(self, X: ArrayLike, rng: np.random.Generator) -> None:
        if X.shape[0] <= self.nbits + 1:
            raise ValueError(f"STH needs more than nbits + 1 = {self.nbits + 1} training documents, got {X.shape[0]}")
        if not has_variance(X):
            raise ValueError("STH cannot learn from documents that are all equal (e.g. all zero): no neighbour graph")
        seed = None if self.random_state is None else int(self.random_state)
        Y = laplacian_eigenmap(knn_graph(X, self.n_neighbors), self.nbits, seed)
        self.train_bits_ = Y > np.median(Y, axis=0)
        coef = np.zeros((X.shape[1], self.nbits))
        intercept = np.zeros(self.nbits)
        bits = range(self.nbits)
        for j in tqdm(bits, desc="STH SVMs", disable=not self.progress or sys.stderr is None or getattr(sys.stderr, "closed", False)):
            target = self.train_bits_[:, j]
            if target.all() or not target.any():  # degenerate bit: constant output
                intercept[j] = 1.0 if target.all() else -1.0
                continue
            svm = LinearSVC(C=self.C, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(X, target)
            coef[:, j], intercept[j] = svm.coef_.ravel(), svm.intercept_[0]
        self.coef_, self.intercept_ = coef, intercept

    def _bits(self, X: ArrayLike) -> np.ndarray:
        return np.asarray(X @ self.coef_) + self.intercept_ > 0

    def _state_spec(self) -> dict:
        return {"coef_": (self.coef_, (self.n_features_, self.nbits), "f"),
                "intercept_": (self.intercept_, (self.nbits,), "f"),
                "train_bits_": (self.train_bits_, (None, self.nbits), "b")}
