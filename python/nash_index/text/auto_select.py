"""``hasher="auto"``: fit NASH and PCA-ITQ, keep the one with the better validation precision.

Neither model wins on every corpus and code length, so instead of guessing, :func:`select_hasher`
trains both candidates on the same rows and measures each on the validation rows:
precision@100 (``k = min(100, n_train)``) of the validation documents as queries against the
training documents as database, by Hamming distance with ties broken by id
(:func:`nash_index.evaluation.precision_at_k`, ``index_order``), a retrieved document being
relevant when it shares a label with the query. The higher score wins; a tie keeps NASH.

* The NASH candidate gets the caller's parameters (``params``: e.g. ``epochs``, ``variant``,
  ``num_threads``) and the validation rows for its own early stopping; PCA-ITQ gets only the
  seed. NASH's epoch is thus chosen on the same validation rows that then compare it with
  PCA-ITQ, which has nothing to tune: a slight edge to NASH, the price of not holding out a
  second validation set.
* PCA-ITQ is trained first, and NASH starts from its codes of the training rows (NASH's warm
  start, ``init_steps``; ``params={"init_steps": 0}`` turns it off). Where NASH's encoder will see
  the rows L2-normalised (a bag of words whose rows are not unit length: ``input_norm``,
  ``nash_index.models.row_norm``), the warm start comes from a second PCA-ITQ fitted on those
  normalised rows, since PCA-ITQ on the raw rows codes document length as much as topic
  (docstrings, 16 bits: validation 0.09 against 0.16); the PCA-ITQ candidate stays the plain one.
* Without validation labels there is nothing to compare on: NASH is kept (PCA-ITQ is not even
  trained) and the record says so.

The record (:func:`select_hasher`'s second value, JSON-serialisable) reads, e.g.::

    {"kept": "itq", "scores": {"nash": 0.8412, "itq": 0.849},
     "reason": "validation precision@100 0.8490 vs 0.8412 (1,366 validation documents)",
     "k": 100, "n_val": 1366}

NASH is imported only when it is trained (through :func:`~nash_index.text.hashers.make_hasher`),
so this module needs no torch.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..evaluation import joint_indicators, precision_at_k
from .hashers import TrainedHasher
from .registry import AUTO_CANDIDATES, AUTO_HASHER, display_name

__all__ = ["AUTO", "CANDIDATES", "EVAL_K", "NO_LABELS_REASON", "auto_summary", "select_hasher",
           "validation_precision", "warm_start_codes"]

#: The pseudo-hasher name.
AUTO = AUTO_HASHER
#: The candidates, in order of preference on a tie: the neural one (the caller's parameters,
#: validation rows for early stopping), then the classic one (only the seed).
CANDIDATES = AUTO_CANDIDATES
#: Precision@k of the comparison (capped at the database size).
EVAL_K = 100
#: The record's reason when there are no validation labels to compare on.
NO_LABELS_REASON = f"no validation labels: kept {display_name(CANDIDATES[0])}"


def validation_precision(encoder: Any, X: Any, y: Any, X_val: Any, y_val: Any, k: int = EVAL_K) -> float:
    """Mean precision@``min(k, len(X))`` (ties by id) of ``encoder``'s codes of ``X_val`` (queries,
    labels ``y_val``) against its codes of ``X`` (database, labels ``y``). Labels: 1-D classes
    or 2-D 0/1 indicators, the same form for both."""
    db_labels, q_labels = _indicators(y, y_val, X.shape[0], X_val.shape[0])
    db_codes = np.ascontiguousarray(encoder.encode(X), dtype=np.uint8)
    q_codes = np.ascontiguousarray(encoder.encode(X_val), dtype=np.uint8)
    return float(precision_at_k(db_codes, db_labels, q_codes, q_labels, min(int(k), X.shape[0])).index_order)


def select_hasher(X: Any, y: Any, X_val: Any, y_val: Any, nbits: int, params: Optional[Dict[str, Any]] = None,
                  seed: int = 0, verbose: bool = True) -> Tuple[TrainedHasher, Dict[str, Any]]:
    """Trains the candidates on ``X`` and returns ``(the kept one, the record)`` (see the module).

    ``params`` go to the NASH candidate only. ``y`` (training labels) is needed whenever
    ``y_val`` is given: the training documents are the database whose labels make a hit.
    """
    if X_val is None and y_val is not None:
        raise ValueError("y_val given without X_val")
    neural, classic = CANDIDATES
    if y_val is None:
        kept = TrainedHasher.train(neural, nbits, params, seed, verbose, X, y, X_val, None)
        n_val = 0 if X_val is None else int(X_val.shape[0])
        return kept, {"kept": neural, "scores": {}, "reason": NO_LABELS_REASON, "k": None, "n_val": n_val}
    if y is None:
        raise ValueError("hasher='auto' compares validation precision: it needs the training labels y "
                         "as well as y_val")
    _indicators(y, y_val, X.shape[0], X_val.shape[0])  # bad labels fail before anything trains
    start = TrainedHasher.train(classic, nbits, None, seed, verbose, X)
    trained: Dict[str, TrainedHasher] = {
        neural: TrainedHasher.train(neural, nbits, params, seed, verbose, X, y, X_val, y_val,
                                    warm_start_codes(start.encoder, X, nbits, params, seed)),
        classic: start,
    }
    scores = {kind: validation_precision(trained[kind].encoder, X, y, X_val, y_val) for kind in CANDIDATES}
    kept = max(CANDIDATES, key=lambda kind: scores[kind])  # the first of equal maxima: the neural one
    other = next(kind for kind in CANDIDATES if kind != kept)
    k, n_val = min(EVAL_K, int(X.shape[0])), int(X_val.shape[0])
    reason = (f"validation precision@{k} {scores[kept]:.4f} vs {scores[other]:.4f} "
              f"({n_val:,} validation documents)")
    if scores[kept] == scores[other]:
        reason += f"; a tie keeps {display_name(neural)}"
    return trained[kept], {"kept": kept, "scores": scores, "reason": reason, "k": k, "n_val": n_val}


def warm_start_codes(itq: Any, X: Any, nbits: int, params: Optional[Dict[str, Any]] = None,
                     seed: int = 0) -> np.ndarray:
    """NASH's warm start: PCA-ITQ's codes of the rows NASH's encoder will see (see the module).
    ``itq``: the PCA-ITQ already fitted on X (used as it is where the encoder sees X itself)."""
    from ..models.row_norm import encoder_rows  # torch comes with NASH's training anyway

    rows = encoder_rows(X, params or {})
    if rows is X:
        return itq.encode(X)
    itq = TrainedHasher.train(CANDIDATES[1], nbits, None, seed, False, rows)
    return itq.encoder.encode(rows)


def auto_summary(record: Dict[str, Any], with_count: bool = False) -> str:
    """The one-line account of a record: ``hasher=auto kept PCA-ITQ: validation precision@100
    0.8490 vs NASH 0.8412`` (``with_count``: `` on 1,366 validation documents`` follows), or why
    nothing was compared."""
    kept = record["kept"]
    scores = record.get("scores") or {}
    if kept not in scores:  # nothing was compared
        return f"hasher=auto kept {display_name(kept)} without comparison ({record['reason'].split(':')[0]})"
    other = next(kind for kind in CANDIDATES if kind != kept)
    line = (f"hasher=auto kept {display_name(kept)}: validation precision@{record['k']} {scores[kept]:.4f} "
            f"vs {display_name(other)} {scores[other]:.4f}")
    if with_count:
        line += f" on {record['n_val']:,} validation documents"
    return line + (f" (a tie keeps {display_name(CANDIDATES[0])})" if scores[kept] == scores[other] else "")


def _indicators(y: Any, y_val: Any, n: int, n_val: int) -> Tuple[np.ndarray, np.ndarray]:
    """The labels' joint indicators, after checking one label per row on each side."""
    if np.shape(y)[0] != n or np.shape(y_val)[0] != n_val:
        raise ValueError(f"labels: {np.shape(y)[0]} for {n} training rows, {np.shape(y_val)[0]} for {n_val} "
                         "validation rows")
    return joint_indicators(y, y_val)
