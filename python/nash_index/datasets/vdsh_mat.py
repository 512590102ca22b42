"""Reader for the VDSH-preprocessed ``.mat`` files (``reuters.tfidf.mat``, ``ng20.tfidf.mat``,
``tmc.tfidf.mat``) that most published semantic-hashing tables use.

Layout (MATLAB file for :func:`scipy.io.loadmat`): sparse TF-IDF matrices ``train``, ``cv``, ``test``
(documents × vocabulary) and label indicator matrices ``gnd_train``, ``gnd_cv``, ``gnd_test``
(documents × labels, dense or sparse). ``cv`` becomes the validation split. Rows are kept in file
order, except that ``shuffle_train=True`` (the default) shuffles the database with ``seed``: the
file may be ordered by class, which would let the index's ascending-id tie rule leak labels.
The files are not in ``../shared/data``; see its README for their git blob ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import scipy.io
import scipy.sparse as sp

from .corpus import Corpus
from .locate import PathLike, locate
from .preprocess import PUBLISHED_SIZES

MAT_FILES = {"reuters": "reuters.tfidf.mat", "20ng": "ng20.tfidf.mat", "tmc": "tmc.tfidf.mat"}
_KEYS = (("train", "train"), ("val", "cv"), ("test", "test"))


def _labels(m: object, key: str) -> np.ndarray:
    arr = m.toarray() if sp.issparse(m) else np.asarray(m)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{key} must be a 2-D label matrix, got shape {arr.shape}")
    return arr > 0


def load_vdsh_mat(name_or_path: str, path: Optional[PathLike] = None, shuffle_train: bool = True,
                  seed: int = 0) -> Corpus:
    """Load a VDSH ``.mat`` file, by dataset name ("reuters", "20ng", "tmc") or by file path."""
    if name_or_path in MAT_FILES:
        name = name_or_path
        file = locate(f"VDSH {name}", (MAT_FILES[name],), path)
    else:
        file = Path(name_or_path)
        if not file.is_file():
            raise FileNotFoundError(f"no such .mat file: {file}")
        name = {v: k for k, v in MAT_FILES.items()}.get(file.name, file.stem)
    try:
        mat = scipy.io.loadmat(str(file))
    except (ValueError, NotImplementedError) as exc:  # not MATLAB, or v7.3 (HDF5)
        raise OSError(f"cannot read {file} as a MATLAB file: {exc}") from exc
    missing = [k for _, src in _KEYS for k in (src, f"gnd_{src}") if k not in mat]
    if missing:
        raise ValueError(f"{file} lacks the key(s) {missing}; expected train/cv/test and gnd_train/gnd_cv/gnd_test")
    kw = {}
    for split, src in _KEYS:
        X = sp.csr_matrix(mat[src], dtype=np.float32)
        y = _labels(mat[f"gnd_{src}"], f"gnd_{src}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"{file}: {src} has {X.shape[0]} rows but gnd_{src} has {y.shape[0]}")
        rows = np.arange(X.shape[0])
        if split == "train" and shuffle_train:
            rows = np.random.default_rng(seed).permutation(X.shape[0])
        kw[f"X_{split}"], kw[f"y_{split}"] = X[rows], y[rows]
        kw[f"keys_{split}"] = [f"{src}:{i}" for i in rows]
    n_terms, n_labels = kw["X_train"].shape[1], kw["y_train"].shape[1]
    sizes = {s: int(kw[f"X_{s}"].shape[0]) for s, _ in _KEYS}
    return Corpus(
        name=name, vocabulary=[f"term_{j}" for j in range(n_terms)],  # the files carry no vocabulary
        label_names=[f"label_{j}" for j in range(n_labels)],
        info={"sizes": sizes, "published_sizes": PUBLISHED_SIZES.get(name), "source": str(file),
              "shuffle_train": shuffle_train, "seed": seed},
        **kw,
    )
