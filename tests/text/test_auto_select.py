"""``hasher="auto"`` (issue #16): NASH and PCA-ITQ are both trained, the one with the higher
validation precision@100 is kept (a tie keeps NASH), and the record says which and why.

The scores are checked against an independent recomputation (brute-force Hamming distances by
numpy, ties by database row, relevance by shared label), not against the library's metric."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nash_index.baselines import PCAITQ
from nash_index.text import HASHERS, TrainedHasher, auto_select, canonical_hasher, make_hasher, select_hasher

NASH_PARAMS = {"epochs": 2, "hidden": (16,), "batch_size": 32}
NBITS = 16


# ---- an independent oracle -------------------------------------------------------------------------
def indicator(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.astype(bool) if y.ndim == 2 else (y[:, None] == classes[None, :])


def brute_precision(db_codes, db_labels, q_codes, q_labels, k) -> float:
    """Mean over queries of (documents among the k Hamming-nearest, ties by row, that share a
    label with the query) / k."""
    classes = np.unique(np.concatenate([db_labels, q_labels])) if np.ndim(db_labels) == 1 else None
    db_ind, q_ind = indicator(db_labels, classes), indicator(q_labels, classes)
    db_bits = np.unpackbits(db_codes, axis=1).astype(np.int64)
    q_bits = np.unpackbits(q_codes, axis=1).astype(np.int64)
    dist = (q_bits[:, None, :] != db_bits[None, :, :]).sum(axis=2)
    k = min(k, db_codes.shape[0])
    hits = []
    for qi in range(q_codes.shape[0]):
        top = np.argsort(dist[qi], kind="stable")[:k]
        hits.append((db_ind[top] & q_ind[qi]).any(axis=1).sum() / k)
    return float(np.mean(hits))


# ---- a small labelled corpus: each class draws most of its words from its own block -----------
def clustered(n: int, n_classes: int = 3, n_features: int = 60, seed: int = 0, multilabel: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    block = n_features // n_classes
    X = np.zeros((n, n_features), dtype=np.float32)
    for i, c in enumerate(y):
        own = rng.choice(np.arange(c * block, (c + 1) * block), 6, replace=False)
        X[i, own] = rng.random(6) + 0.5
        X[i, rng.integers(0, n_features, 2)] += 0.3  # noise words
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = np.eye(n_classes, dtype=np.int64)[y] if multilabel else np.array([f"c{c}" for c in y])
    return sp.csr_matrix(X), labels


@pytest.fixture(scope="module")
def data():
    X, y = clustered(240, seed=1)
    X_val, y_val = clustered(60, seed=2)
    return X, y, X_val, y_val


class Constant:
    """An encoder that gives every document the same code (ranking = database order)."""

    def __init__(self, nbits: int, n_features: int) -> None:
        self.nbits, self.n_features = nbits, n_features

    def encode(self, X):
        return np.zeros((X.shape[0], self.nbits // 8), dtype=np.uint8)


class Made(dict):
    """The trained candidates by kind; ``kwargs``: the keyword arguments each was trained with."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: dict = {}


@pytest.fixture
def trained(monkeypatch):
    """Every candidate TrainedHasher.train makes, by kind; ``replace[kind]`` swaps one for a
    constant encoder (so that the other must win, or both tie)."""
    made, replace, original = Made(), set(), TrainedHasher.train

    def spy(cls, kind, nbits, params, seed, verbose, X, *rest, **kw):
        made.kwargs[kind] = dict(zip(("y", "X_val", "y_val", "init_codes"), rest), **kw)
        if kind in replace:
            enc = Constant(nbits, X.shape[1])
            out = cls(kind, enc, enc)
        else:
            out = original(kind, nbits, params, seed, verbose, X, *rest, **kw)
        made[kind] = out
        return out

    monkeypatch.setattr(TrainedHasher, "train", classmethod(spy))
    return made, replace


def check_record(record, made, X, y, X_val, y_val):
    """The record's scores are the oracle's, and the kept hasher is their argmax (a tie: NASH)."""
    assert set(record["scores"]) == {"nash", "itq"} and set(made) == {"nash", "itq"}
    for kind, hasher in made.items():
        expect = brute_precision(hasher.encoder.encode(X), y, hasher.encoder.encode(X_val), y_val, 100)
        assert record["scores"][kind] == pytest.approx(expect, abs=1e-12)
    best = max(record["scores"].values())
    assert record["kept"] == ("nash" if record["scores"]["nash"] == best else "itq")
    assert record["k"] == 100 and record["n_val"] == X_val.shape[0]


# ---- the registry ------------------------------------------------------------------------------------
def test_auto_is_a_name_but_not_a_hasher():
    assert canonical_hasher(" AUTO ") == "auto"
    assert "auto" not in HASHERS.values()  # the saved kinds stay the real hashers
    with pytest.raises(ValueError, match="hasher 'auto' is a choice between hashers"):
        make_hasher("auto", 16)
    with pytest.raises(ValueError, match="unknown hasher 'best'.*or 'auto'"):
        canonical_hasher("best")


# ---- the choice --------------------------------------------------------------------------------------
def test_end_to_end_keeps_the_argmax_of_independent_scores(data, trained):
    pytest.importorskip("torch")
    made, _ = trained
    X, y, X_val, y_val = data
    kept, record = select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, seed=0, verbose=False)
    check_record(record, made, X, y, X_val, y_val)
    assert kept is made[record["kept"]] and kept.kind == record["kept"]
    assert made["nash"].model.epochs == 2 and isinstance(made["itq"].model, PCAITQ)  # params went to NASH
    other = "itq" if record["kept"] == "nash" else "nash"
    assert record["reason"] == (f"validation precision@100 {record['scores'][record['kept']]:.4f} vs "
                                f"{record['scores'][other]:.4f} (60 validation documents)")


def test_nash_starts_from_the_itq_codes_of_the_training_rows(data, trained):
    pytest.importorskip("torch")
    made, _ = trained
    X, y, X_val, y_val = data
    select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, seed=0, verbose=False)
    np.testing.assert_array_equal(made.kwargs["nash"]["init_codes"], made["itq"].encoder.encode(X))
    assert "init_codes" not in made.kwargs["itq"]
    assert made["nash"].model.init_steps > 0  # the warm start is on by default


def test_itq_wins_against_a_nash_that_learnt_nothing(data, trained):
    made, replace = trained
    replace.add("nash")
    X, y, X_val, y_val = data
    kept, record = select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, verbose=False)
    check_record(record, made, X, y, X_val, y_val)
    assert record["kept"] == "itq" and kept.kind == "itq" and isinstance(kept.encoder, PCAITQ)
    assert record["scores"]["itq"] > record["scores"]["nash"] + 0.2  # the clusters are easy for ITQ
    assert auto_select.auto_summary(record) == (
        f"hasher=auto kept PCA-ITQ: validation precision@100 {record['scores']['itq']:.4f} "
        f"vs NASH {record['scores']['nash']:.4f}")


def test_nash_wins_against_an_itq_that_learnt_nothing(data, trained):
    pytest.importorskip("torch")
    made, replace = trained
    replace.add("itq")
    X, y, X_val, y_val = data
    kept, record = select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, verbose=False)
    check_record(record, made, X, y, X_val, y_val)
    assert record["kept"] == "nash" and kept.kind == "nash"
    assert auto_select.auto_summary(record).startswith("hasher=auto kept NASH: validation precision@100 ")


def test_a_tie_keeps_nash(data, trained):
    made, replace = trained
    replace.update({"nash", "itq"})
    X, y, X_val, y_val = data
    kept, record = select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, verbose=False)
    check_record(record, made, X, y, X_val, y_val)
    assert record["scores"]["nash"] == record["scores"]["itq"] and record["kept"] == "nash"
    assert record["reason"].endswith("; a tie keeps NASH")
    assert auto_select.auto_summary(record, with_count=True) == (
        f"hasher=auto kept NASH: validation precision@100 {record['scores']['nash']:.4f} vs PCA-ITQ "
        f"{record['scores']['itq']:.4f} on 60 validation documents (a tie keeps NASH)")


def test_multilabel_indicators_and_a_small_database(trained):
    """2-D 0/1 labels work as well; with fewer than 100 training documents k is their number."""
    made, replace = trained
    replace.add("nash")
    X, y = clustered(70, multilabel=True, seed=3)
    X_val, y_val = clustered(20, multilabel=True, seed=4)
    y[::7, 0] = 1  # some documents carry two labels
    _, record = select_hasher(X, y, X_val, y_val, NBITS, NASH_PARAMS, verbose=False)
    assert record["k"] == 70 and record["reason"].startswith("validation precision@70 ")
    for kind, hasher in made.items():
        expect = brute_precision(hasher.encoder.encode(X), y, hasher.encoder.encode(X_val), y_val, 70)
        assert record["scores"][kind] == pytest.approx(expect, abs=1e-12)


def test_validation_precision_is_the_oracle(data):
    X, y, X_val, y_val = data
    itq = PCAITQ(NBITS, random_state=0).fit(X)
    expect = brute_precision(itq.encode(X), y, itq.encode(X_val), y_val, 100)
    assert auto_select.validation_precision(itq, X, y, X_val, y_val) == pytest.approx(expect, abs=1e-12)
    assert auto_select.validation_precision(itq, X, y, X_val, y_val, k=5) == pytest.approx(
        brute_precision(itq.encode(X), y, itq.encode(X_val), y_val, 5), abs=1e-12)


# ---- nothing to compare on, and bad input ------------------------------------------------------------
@pytest.mark.parametrize("with_val", [False, True])
def test_without_validation_labels_nash_is_kept_uncompared(data, trained, with_val):
    made, replace = trained
    replace.add("nash")  # torch-free; what matters is that ITQ is not even trained
    X, y, X_val, _ = data
    kept, record = select_hasher(X, y, X_val if with_val else None, None, NBITS, NASH_PARAMS, verbose=False)
    assert set(made) == {"nash"} and kept is made["nash"]
    assert record == {"kept": "nash", "scores": {}, "reason": "no validation labels: kept NASH", "k": None,
                      "n_val": X_val.shape[0] if with_val else 0}
    assert auto_select.auto_summary(record) == "hasher=auto kept NASH without comparison (no validation labels)"


def test_bad_labels_fail_before_anything_trains(data, trained):
    made, replace = trained
    replace.update({"nash", "itq"})
    X, y, X_val, y_val = data
    with pytest.raises(ValueError, match="y_val given without X_val"):
        select_hasher(X, y, None, y_val, NBITS)
    with pytest.raises(ValueError, match="needs the training labels y as well as y_val"):
        select_hasher(X, None, X_val, y_val, NBITS)
    with pytest.raises(ValueError, match="labels: 239 for 240 training rows"):
        select_hasher(X, y[:-1], X_val, y_val, NBITS)
    with pytest.raises(ValueError, match="are not of one form"):
        select_hasher(X, y, X_val, np.eye(3, dtype=np.int64)[np.zeros(60, dtype=int)], NBITS)
    with pytest.raises(ValueError, match="0/1 indicator"):
        select_hasher(X, np.full((240, 3), 2), X_val, np.ones((60, 3), dtype=int), NBITS)
    assert made == {}


def test_the_warm_start_is_fitted_on_the_rows_the_encoder_sees():
    # raw counts (rows far from unit length): NASH's encoder sees them L2-normalised, so the warm
    # start is PCA-ITQ fitted on and encoding the normalised rows; unit rows use the given PCA-ITQ
    rng = np.random.default_rng(11)
    counts = sp.random(80, 40, density=0.2, format="csr", random_state=12, dtype=np.float32)
    counts.data = rng.integers(1, 6, counts.nnz).astype(np.float32)
    dense = counts.toarray().astype(np.float64)
    unit = sp.csr_matrix((dense / np.linalg.norm(dense, axis=1, keepdims=True)).astype(np.float32))
    given = PCAITQ(nbits=NBITS, random_state=3).fit(counts)
    expected = PCAITQ(nbits=NBITS, random_state=3).fit(unit).encode(unit)
    np.testing.assert_array_equal(auto_select.warm_start_codes(given, counts, NBITS, {}, seed=3), expected)
    np.testing.assert_array_equal(auto_select.warm_start_codes(given, counts, NBITS, {"input_norm": "none"}, 3),
                                  given.encode(counts))
    itq_unit = PCAITQ(nbits=NBITS, random_state=3).fit(unit)
    np.testing.assert_array_equal(auto_select.warm_start_codes(itq_unit, unit, NBITS, {}, 3), itq_unit.encode(unit))
