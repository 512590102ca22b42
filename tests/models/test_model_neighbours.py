"""Neighbourhood reconstruction: the kNN graph, the mean targets and the loss term, hand-checked."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from planted import FAST, corpus, one_torch_thread  # noqa: E402, F401 (fixtures)

from nash_index.models import NASH  # noqa: E402
from nash_index.models.losses import softmax_nll  # noqa: E402
from nash_index.models.neighbours import NeighbourTargets, nearest_neighbours  # noqa: E402


def _brute_knn(X: np.ndarray, k: int) -> np.ndarray:
    """Oracle: full cosine matrix, self excluded, stable sort by descending similarity."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.maximum(norms, 1e-12)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("sparse", [True, False])
def test_nearest_neighbours_match_brute_force_cosine(sparse):
    rng = np.random.default_rng(3)
    # more rows than one block; a few all-zero rows (similarity 0 to everything: all ties)
    dense = (rng.random((1500, 12)) * (rng.random((1500, 12)) < 0.3)).astype(np.float32)
    X = sp.csr_matrix(dense) if sparse else dense
    got = nearest_neighbours(X, 4)
    want = _brute_knn(dense.astype(np.float64), 4)
    # ties may be broken differently only between exactly equal similarities
    U = dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
    sims_got = np.einsum("ij,ikj->ik", U, U[got])
    sims_want = np.einsum("ij,ikj->ik", U, U[want])
    np.testing.assert_allclose(sims_got, sims_want, atol=1e-5)
    assert not np.any(got == np.arange(len(dense))[:, None])
    wide = _brute_knn(dense.astype(np.float64), 5)  # the gap to the 5th decides membership too
    sims_wide = np.einsum("ij,ikj->ik", U, U[wide])
    untied = np.abs(np.diff(sims_wide, axis=1)).min(axis=1) > 1e-4
    assert untied.mean() > 0.5  # enough rows where the order is unambiguous
    np.testing.assert_array_equal(got[untied], want[untied])


def test_nearest_neighbours_hand_checked():
    X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    np.testing.assert_array_equal(nearest_neighbours(X, 1).ravel(), [1, 0, 3, 2])
    np.testing.assert_array_equal(nearest_neighbours(X, 2)[0], [1, 3])


def test_nearest_neighbours_rejects_k_out_of_range():
    with pytest.raises(ValueError, match="neighbours must lie in"):
        nearest_neighbours(np.eye(3, dtype=np.float32), 3)


def test_mean_targets_are_the_neighbours_mean_presence():
    X = sp.csr_matrix(np.array([[2, 0, 0, 1], [0, 3, 0, 0], [1, 1, 0, 0], [0, 0, 5, 0]],
                               dtype=np.float32))
    graph = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    batch = NeighbourTargets(X, graph, "presence").batch(np.array([0, 3]))
    dense = np.zeros((2, 4), dtype=np.float32)
    dense[batch.rows.numpy(), batch.cols.numpy()] = batch.values.numpy()
    # doc 0: mean of presence rows 1 [0,1,0,0] and 2 [1,1,0,0]; doc 3: rows 0 and 1
    np.testing.assert_allclose(dense, [[0.5, 1, 0, 0], [0.5, 0.5, 0, 0.5]])
    weighted = NeighbourTargets(X, graph, "counts").batch(np.array([0]))
    np.testing.assert_allclose(sorted(weighted.values.numpy()), [0.5, 2.0])  # (0+1)/2, (3+1)/2


def test_dense_mean_targets():
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    got = NeighbourTargets(X, np.array([[1, 2], [0, 3], [0, 1], [1, 2]]), "presence").batch(np.array([1]))
    np.testing.assert_allclose(got.numpy(), [(X[0] + X[3]) / 2])


def test_mean_target_loss_equals_mean_of_per_neighbour_losses():
    """The collapsed term is exactly (1/k) sum_j -log p(x_j | z) of the presence targets."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((6, 9)) < 0.4).astype(np.float32))
    graph = np.array([[1, 2, 3], [0, 4, 5], [0, 1, 3], [2, 4, 5], [0, 1, 2], [3, 4, 0]])
    log_probs = torch.log_softmax(torch.from_numpy(rng.standard_normal((6, 9)).astype(np.float32)), dim=1)
    rows = np.arange(6)
    collapsed = softmax_nll(log_probs, NeighbourTargets(X, graph).batch(rows), "counts")
    presence = torch.from_numpy(X.toarray())
    each = torch.stack([-(presence[graph[:, j]] * log_probs).sum(1) for j in range(3)], 1).mean(1)
    np.testing.assert_allclose(collapsed.numpy(), each.numpy(), rtol=1e-5)


def test_neighbour_term_enters_the_training_loss(corpus):
    X = corpus[0]
    model = NASH(nbits=8, neighbours=3, neighbour_weight=2.0, **{**FAST, "epochs": 1}).fit(X)
    net = model.net_
    net.eval()
    targets = model._neighbour_targets(X)
    rows = np.arange(16)
    from nash_index.models.batching import to_batch
    batch, nbr = to_batch(X[rows]), targets.batch(rows)
    with_term, _ = net.loss(batch, None, 1.0, 0.0, x_neighbours=nbr)
    without, _ = net.loss(batch, None, 1.0, 0.0)
    z = (torch.sigmoid(net.encoder(batch)) > 0.5).float()
    expected = 2.0 * softmax_nll(net.recon.decoder(z), nbr, "counts").mean()
    assert float(with_term - without) == pytest.approx(float(expected), rel=1e-4)


def test_neighbours_parameter_checked_and_saved(corpus, tmp_path):
    X = corpus[0]
    with pytest.raises(ValueError, match="neighbours must be >= 0"):
        NASH(nbits=8, neighbours=-1, **FAST).fit(X)
    with pytest.raises(TypeError, match="neighbour_weight must be a finite number"):  # as lr, alpha, ...
        NASH(nbits=8, neighbour_weight=float("nan"), **FAST).fit(X)
    with pytest.raises(ValueError, match="neighbour_weight must be >= 0"):
        NASH(nbits=8, neighbour_weight=-1.0, **FAST).fit(X)
    model = NASH(nbits=8, neighbours=5, neighbour_weight=0.5, **{**FAST, "epochs": 2}).fit(X)
    model.save(tmp_path / "m")
    loaded = NASH.load(tmp_path / "m", device="cpu")
    assert (loaded.neighbours, loaded.neighbour_weight) == (5, 0.5)
    np.testing.assert_array_equal(loaded.encode(X), model.encode(X))
