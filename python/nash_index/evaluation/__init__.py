"""Retrieval evaluation like the paper's: precision@k (both tie rules), mAP, P/R within a radius,
and the label conversions they share."""
from __future__ import annotations

from .cosine import cosine_precision_at_k, unit_rows
from .labels import as_indicator, indicator_from_label_sets, joint_indicators, labels_to_indicator
from .metrics import (
    PrecisionAtK,
    PrecisionRecall,
    mean_average_precision,
    precision_at_k,
    precision_recall_within_radius,
)

__all__ = [
    "PrecisionAtK",
    "PrecisionRecall",
    "as_indicator",
    "cosine_precision_at_k",
    "indicator_from_label_sets",
    "joint_indicators",
    "labels_to_indicator",
    "mean_average_precision",
    "precision_at_k",
    "precision_recall_within_radius",
    "unit_rows",
]
