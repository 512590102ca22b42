"""training_label_arrays (nash_index.pipeline.labels): what HashingPipeline.fit accepts as labels."""
from __future__ import annotations

import numpy as np
import pytest

from nash_index.pipeline.labels import training_label_arrays


def test_class_values_and_indicators_pass_through():
    y, y_val = training_label_arrays(["a", "b", "a"], 3, ["b"], 1)
    assert y.tolist() == ["a", "b", "a"] and y_val.tolist() == ["b"]
    ind = np.array([[1, 0], [0, 1]])
    y, y_val = training_label_arrays(ind, 2, None, 0)
    assert y.dtype == bool and y.tolist() == [[True, False], [False, True]] and y_val is None
    assert training_label_arrays(None, 5, None, 0) == (None, None)


def test_label_lists_become_indicators_over_both_sets():
    y, y_val = training_label_arrays([["x", "y"], ["y"]], 2, [["z"], []], 2)
    # columns: sorted union of every label of both sets
    np.testing.assert_array_equal(y, [[True, True, False], [False, True, False]])
    np.testing.assert_array_equal(y_val, [[False, False, True], [False, False, False]])


def test_counts_must_match_the_texts():
    with pytest.raises(ValueError, match="labels has 2 entries for 3 texts"):
        training_label_arrays(["a", "b"], 3, None, 0)
    with pytest.raises(ValueError, match="val_labels has 1 entries for 2 texts"):
        training_label_arrays(["a"], 1, ["b"], 2)


@pytest.mark.parametrize("labels, val_labels, error, fragment", [
    ("abc", None, TypeError, "labels must be a sequence"),
    (["a", None, "b"], None, ValueError, r"labels\[1\] is None"),
    (["a", "b", "c"], [None], ValueError, r"val_labels\[0\] is None"),
    (5, None, TypeError, "labels must be a sequence"),
])
def test_one_string_or_missing_labels_are_refused(labels, val_labels, error, fragment):
    """A bare string became one label per character; None became a class of its own (#12 siblings)."""
    with pytest.raises(error, match=fragment):
        training_label_arrays(labels, 3, val_labels, 0 if val_labels is None else 1)
