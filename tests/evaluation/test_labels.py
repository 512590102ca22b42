"""nash_index.evaluation.labels: the one home of the label conversions (models, corpora, metrics)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.evaluation import as_indicator, indicator_from_label_sets, labels_to_indicator


def test_labels_to_indicator_single_label_any_dtype():
    # the models' contract: y -> (indicator, multilabel, classes), classes sorted
    ind, multilabel, classes = labels_to_indicator(np.array(["dog", "cat", "dog", "emu"]))
    assert not multilabel and classes.tolist() == ["cat", "dog", "emu"]
    assert ind.dtype == bool
    np.testing.assert_array_equal(ind, [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    rng = np.random.default_rng(0)
    y = rng.integers(-3, 7, 200)
    ind, multilabel, classes = labels_to_indicator(y)
    np.testing.assert_array_equal(classes, np.unique(y))
    np.testing.assert_array_equal(classes[ind.argmax(axis=1)], y)  # one True per row, at its class
    assert (ind.sum(axis=1) == 1).all()


def test_labels_to_indicator_multi_label_and_errors():
    y = np.array([[1, 0, 1], [0, 0, 0]], dtype=np.uint8)
    ind, multilabel, classes = labels_to_indicator(y)
    assert multilabel and ind.dtype == bool and classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ind, y.astype(bool))
    with pytest.raises(ValueError, match="0/1 indicator"):
        labels_to_indicator(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        labels_to_indicator(np.zeros((2, 2, 2)))


def test_indicator_from_label_sets_ignores_unknown_labels():
    names = ["acq", "earn", "grain"]
    ind = indicator_from_label_sets([["earn"], ["acq", "earn"], [], ["cocoa", "grain"]], names)
    assert ind.dtype == bool and ind.shape == (4, 3)
    np.testing.assert_array_equal(ind, [[0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]])
    # random label sets against a set-membership oracle
    rng = np.random.default_rng(1)
    vocab = [f"l{j}" for j in range(8)]
    sets = [list(rng.choice(vocab + ["other"], size=int(rng.integers(0, 4)), replace=False)) for _ in range(50)]
    ind = indicator_from_label_sets(sets, vocab[:5])
    for row, labels in zip(ind, sets):
        assert row.tolist() == [name in labels for name in vocab[:5]]


def test_as_indicator_accepts_class_ids_dense_and_sparse():
    ids = np.array([2, 0, -1, 2])  # -1: no label, relevant to nothing
    ind = as_indicator(ids, 4, "labels")
    np.testing.assert_array_equal(ind, [[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 1]])
    dense = np.array([[1, 0], [0, 1]])
    np.testing.assert_array_equal(as_indicator(dense, 2, "labels"), dense.astype(bool))
    np.testing.assert_array_equal(as_indicator(sp.csr_matrix(dense), 2, "labels"), dense.astype(bool))
    assert as_indicator(np.array([-1, -1]), 2, "labels").shape == (2, 0)
    with pytest.raises(TypeError, match="1-D db_labels must hold integer class ids"):
        as_indicator(np.array([0.5, 1.0]), 2, "db_labels")
    with pytest.raises(ValueError, match="q_labels has 3 rows but there are 2 codes"):
        as_indicator(np.zeros((3, 2)), 2, "q_labels")
    with pytest.raises(ValueError, match="q_labels must be 1-D class ids or a 2-D"):
        as_indicator(np.zeros((2, 2, 2)), 2, "q_labels")
