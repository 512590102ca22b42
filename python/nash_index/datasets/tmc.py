"""TMC: the SIAM 2007 Text Mining Competition corpus (aviation safety reports, 22 anomaly labels).

Files, all in one folder (default names ``tmc2007/`` or ``tmc/`` under a data folder):

* ``TrainingData.txt`` / ``TestData.txt``: one report per line. Some copies start each line with a
  record prefix ending in ``~`` (e.g. an id); when the part before the first ``~`` holds no space it
  is removed. The reports are already lower-cased and tokenised with ``_`` joining phrases; ``_``
  and ``.`` are turned into spaces.
* ``TrainCategoryMatrix.csv`` / ``TestTruth.csv``: one row per report, 22 comma-separated values,
  ``1`` = label present, ``-1`` (or ``0``) = absent, no header.

Only the labels are in ``../shared/data`` (``tmc2007-labels.tar.gz``); the texts are not, so the
real TMC cannot be built there. The VDSH ``.mat`` reports 21,286 / 3,498 / 3,498 documents and a
20,000-term vocabulary (``load_corpus("tmc")`` uses ``max_features=20000``). Those sizes fit the
label files: 21,519 train reports minus 233 dropped by the length rule, and 7,077 test reports minus
81 dropped, halved into 3,498 + 3,498. Sizes from a text copy cannot be checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

import numpy as np

from .corpus import RawCorpus
from .locate import PathLike, locate

FOLDER_NAMES = ("tmc2007", "tmc")
TEXT_FILES = {"train": "TrainingData.txt", "test": "TestData.txt"}
LABEL_FILES = {"train": "TrainCategoryMatrix.csv", "test": "TestTruth.csv"}
N_LABELS = 22
_PREFIX = re.compile(r"^[^\s~]{0,64}~")


def read_tmc_texts(path: Path) -> List[str]:
    """Reports of one text file, one per line (blank trailing lines ignored)."""
    lines = path.read_text(encoding="latin-1").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [re.sub(r"[_.]", " ", _PREFIX.sub("", line)).strip() for line in lines]


def read_tmc_labels(path: Path) -> np.ndarray:
    """Bool label matrix (n_reports, n_labels) from a ``-1``/``1`` CSV."""
    rows = []
    for i, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [int(float(v)) for v in line.split(",")]
        except ValueError as exc:
            raise ValueError(f"{path}:{i}: label values must be numbers (-1/0/1): {line[:80]!r}") from exc
        rows.append([v > 0 for v in values])
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"{path}: rows have different numbers of columns {sorted(widths)}")
    return np.asarray(rows, dtype=bool).reshape(len(rows), widths.pop() if widths else 0)


def tmc_folder(path: Optional[PathLike]) -> Path:
    if path is not None and all((Path(path) / f).exists() for f in (*TEXT_FILES.values(), *LABEL_FILES.values())):
        return Path(path)
    return locate("TMC (SIAM 2007)", FOLDER_NAMES, path)


def load_tmc(path: Optional[PathLike] = None) -> RawCorpus:
    """Load TMC from a folder holding the two text files and the two label CSVs."""
    folder = tmc_folder(path)
    parts: dict = {}
    for split in ("train", "test"):
        text_path, label_path = folder / TEXT_FILES[split], folder / LABEL_FILES[split]
        for p in (text_path, label_path):
            if not p.exists():
                raise FileNotFoundError(f"TMC: {p} is missing; the folder needs {list(TEXT_FILES.values()) + list(LABEL_FILES.values())}")
        texts, labels = read_tmc_texts(text_path), read_tmc_labels(label_path)
        if len(texts) != labels.shape[0]:
            raise ValueError(f"TMC {split}: {len(texts)} reports in {text_path.name} but {labels.shape[0]} label rows in {label_path.name}")
        parts[split] = (texts, labels, [f"{TEXT_FILES[split]}:{i + 1}" for i in range(len(texts))])
    n_labels = parts["train"][1].shape[1]
    if parts["test"][1].shape[1] != n_labels:
        raise ValueError(f"TMC: train has {n_labels} label columns, test {parts['test'][1].shape[1]}")
    return RawCorpus(
        name="tmc",
        train_texts=parts["train"][0], train_labels=parts["train"][1],
        test_texts=parts["test"][0], test_labels=parts["test"][1],
        label_names=[f"anomaly_{j + 1:02d}" for j in range(n_labels)],
        train_keys=parts["train"][2], test_keys=parts["test"][2], source=str(folder),
    )
