"""Shared sklearn-like estimator machinery: parameters, fit orchestration, encoding, I/O."""
from __future__ import annotations

import inspect
import os
import warnings
from typing import Any, ClassVar, Optional

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..checks import Checked, Integer, IntSequence, Options, Real, check_array, check_params
from ..evaluation import joint_indicators, labels_to_indicator, precision_at_k
from ..index.validation import check_nbits
from .batching import ArrayLike, iterate_batches
from .row_norm import resolve_input_norm
from .threads import resolve_num_threads, torch_threads
from .training import TrainConfig, TrainResult, select_device, train

DECODERS = ("auto", "softmax", "gaussian")
TARGETS = ("presence", "counts", "tfidf")

#: Constraints of the parameters NASH and VDSH share, checked by ``fit`` and ``load``.
COMMON_CONSTRAINTS: dict[str, Any] = {
    "nbits": Checked(check_nbits),
    "decoder": Options(*DECODERS),
    "target": Options(*TARGETS),
    "hidden": IntSequence(low=1, what="layer widths"),
    "dropout": Real(0.0, 1.0, closed="left"),
    "lr": Real(0.0, closed="neither"),
    "kl_weight": Real(0.0),
    "epochs": Integer(low=1),
    "batch_size": Integer(low=1),
    "patience": Integer(low=1),
    "kl_anneal_steps": Integer(),  # any int: <= 0 turns the warm-up off
    "eval_k": Integer(low=1),
    "num_threads": Checked(resolve_num_threads),
}


def _check_X(X: Any, name: str, n_features: Optional[int] = None) -> ArrayLike:
    """Float32 CSR (sorted indices) or C-contiguous float32 array, finite, at least one row."""
    return check_array(X, name, accept_sparse=True, dtype=np.float32, n_features=n_features)


class NotFittedError(RuntimeError):
    """Raised when encode/save/export is called before fit or load."""


class BaseHasher:
    """Common base of ``NASH`` and ``VDSH``; subclasses build the network and thresholds."""

    # ---- parameters (sklearn conventions: __init__ stores arguments verbatim) -------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def _store_params(self, arguments: dict[str, Any]) -> None:
        """Keeps every constructor argument as an attribute of the same name (``locals()`` of
        ``__init__``), as scikit-learn estimators do."""
        for name in self._param_names():
            setattr(self, name, arguments[name])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments of this estimator."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "BaseHasher":
        """Set constructor arguments (takes effect at the next ``fit``)."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"unknown parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- hooks ----------------------------------------------------------------------------
    #: ``{parameter: constraint}`` (see :mod:`nash_index.checks.constraints`); subclasses extend it.
    _parameter_constraints: ClassVar[dict[str, Any]] = COMMON_CONSTRAINTS

    def _check_params(self) -> None:
        """Rules a single constraint cannot state (one parameter's range depending on another)."""

    def build_net(self, n_features: int, n_labels: int) -> nn.Module:
        """The untrained network for these parameters (``fit`` trains it, ``load`` fills it)."""
        raise NotImplementedError

    def _thresholds(self, X: ArrayLike) -> np.ndarray:
        """Per-bit thresholds applied to ``code_scores`` (after training, from the DB X)."""
        raise NotImplementedError

    def _neighbour_targets(self, X: ArrayLike) -> Any:
        """Neighbourhood reconstruction targets for training (None: the model has no such term)."""
        return None

    # ---- validation ---------------------------------------------------------------------------
    def _validate_params(self) -> None:
        """Checks every declared parameter constraint, then the rules that join parameters."""
        check_params(self, self._parameter_constraints)
        self._check_params()

    def _resolve_decoder(self, X: ArrayLike) -> str:
        """``auto``: softmax over words for sparse X, Gaussian distortion for dense X."""
        decoder = self.decoder
        if decoder == "auto":
            decoder = "softmax" if sp.issparse(X) else "gaussian"
        if decoder == "gaussian" and sp.issparse(X):
            raise ValueError("the Gaussian decoder needs dense X (e.g. sentence embeddings)")
        if decoder == "softmax":
            values = X.data if sp.issparse(X) else X
            if values.size and values.min() < 0:
                raise ValueError("the softmax decoder needs non-negative X (bag of words)")
            if self.target == "counts" and not np.all(values == np.round(values)):
                raise ValueError("target='counts' needs integer word counts in X")
        return decoder

    def _distortion_weight(self, X: ArrayLike) -> float:
        """beta = 1 / (2 s^2); by default s^2 is X's mean per-feature variance."""
        if self.distortion_weight is not None:
            return float(self.distortion_weight)
        if self.decoder_ != "gaussian":
            return 1.0
        var = float(np.mean(np.var(X, axis=0)))
        return 1.0 / (2.0 * max(var, 1e-12))

    def _train_config(self) -> TrainConfig:
        return TrainConfig(epochs=int(self.epochs), batch_size=int(self.batch_size),
                           lr=float(self.lr), patience=int(self.patience),
                           kl_weight=float(self.kl_weight),
                           kl_anneal_steps=int(self.kl_anneal_steps),
                           alpha=float(getattr(self, "alpha", 0.0)),
                           grad_clip=self.grad_clip, seed=int(self.seed),
                           verbose=bool(self.verbose), init_steps=int(getattr(self, "init_steps", 0)),
                           init_weight=float(getattr(self, "init_weight", 1.0)))

    # ---- fit ------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: Optional[np.ndarray] = None,
            X_val: Optional[ArrayLike] = None, y_val: Optional[np.ndarray] = None,
            init_codes: Optional[np.ndarray] = None) -> "BaseHasher":
        """Learn the hash function on X (the documents that will form the database).

        Labels enter the loss only when ``supervised=True``. Otherwise ``y``/``y_val`` serve
        model selection only: with ``X_val`` and ``y_val``, early stopping maximises the
        validation precision@``eval_k`` of X_val queries against X; with ``X_val`` alone it
        minimises the validation loss; with neither, all ``epochs`` run (a UserWarning says so).
        Torch runs on ``num_threads`` threads meanwhile (see :mod:`nash_index.models.threads`).
        ``init_codes`` (NASH only): packed codes of X's rows from another hasher (e.g. PCA-ITQ's
        ``encode(X)``) to start from: for the first ``init_steps`` steps the encoder is also pulled
        towards them (see ``NASH``).
        """
        self._validate_params()
        X = _check_X(X, "X")
        init_bits = self._init_bits(init_codes, X.shape[0])
        X_val = None if X_val is None else _check_X(X_val, "X_val", X.shape[1])
        y, y_val = self._check_labels(X, y, X_val, y_val)
        self.n_features_ = X.shape[1]
        self.decoder_ = self._resolve_decoder(X)
        # NASH's encoder input rows (``row_norm.py``); VDSH has no such parameter
        self.input_norm_ = resolve_input_norm(getattr(self, "input_norm", "none"), self.decoder_, X)
        self.distortion_weight_ = self._distortion_weight(X)
        self.device_ = select_device(self.device)
        targets, n_labels = self._label_targets(y)
        if X_val is None and self.epochs > 1:
            warnings.warn(f"{type(self).__name__}.fit without validation data: all {self.epochs} epochs will run "
                          "(no early stopping); pass X_val (and y_val) to stop at the best epoch",
                          UserWarning, stacklevel=2)
        torch.manual_seed(int(self.seed))
        self.net_ = self.build_net(self.n_features_, n_labels).to(self.device_)
        scorer = self._make_scorer(X, y, X_val, y_val)
        loss_data = None
        if X_val is not None:
            val_targets = (self._label_targets(y_val, fit=False)[0]
                           if n_labels and y_val is not None else None)
            loss_data = (X_val, val_targets)
        with torch_threads(self.num_threads):
            self.result_: TrainResult = train(self.net_, X, targets, self._train_config(),
                                              self.device_, scorer, loss_data,
                                              self._neighbour_targets(X), init_bits)
            self.thresholds_ = self._thresholds(X).astype(np.float32)
        self.history_ = self.result_.history
        return self

    def _init_bits(self, init_codes: Optional[np.ndarray], n: int) -> Optional[torch.Tensor]:
        """The warm start's 0/1 bits as a float tensor (None without ``init_codes``)."""
        if init_codes is None:
            return None
        if not hasattr(self, "init_steps"):
            raise ValueError(f"init_codes: {type(self).__name__} has no warm start (NASH has)")
        codes = np.asarray(init_codes)
        shape = (n, int(self.nbits) // 8)
        if codes.dtype != np.uint8 or codes.shape != shape:
            raise ValueError(f"init_codes must be packed uint8 codes of shape {shape} (one row per row of X), "
                             f"got {codes.dtype} {codes.shape}")
        return torch.from_numpy(np.unpackbits(codes, axis=1).astype(np.float32))

    def _check_labels(self, X, y, X_val, y_val):
        if getattr(self, "supervised", False) and y is None:
            raise ValueError("supervised=True needs labels y")
        if y_val is not None and X_val is None:
            raise ValueError("y_val given without X_val")
        for name, lab, M in (("y", y, X), ("y_val", y_val, X_val)):
            if lab is not None and np.asarray(lab).shape[0] != M.shape[0]:
                raise ValueError(f"{name} has {np.asarray(lab).shape[0]} rows, "
                                 f"the matrix has {M.shape[0]}")
        return (None if y is None else np.asarray(y)), (None if y_val is None else np.asarray(y_val))

    def _label_targets(self, y: Optional[np.ndarray], fit: bool = True):
        """Loss targets for the supervised head: class ids (single-label) or indicators."""
        if not getattr(self, "supervised", False) or y is None:
            if fit:
                self.multilabel_, self.classes_ = False, None
            return None, 0
        if fit:
            _, self.multilabel_, self.classes_ = labels_to_indicator(y)
        if self.multilabel_:
            ind = labels_to_indicator(y)[0]
            if ind.shape[1] != len(self.classes_):
                raise ValueError("validation labels have a different number of columns")
            return torch.from_numpy(ind.astype(np.float32)), len(self.classes_)
        pos = np.searchsorted(self.classes_, y)
        if np.any(pos >= len(self.classes_)) or np.any(self.classes_[np.minimum(
                pos, len(self.classes_) - 1)] != y):
            return None, len(self.classes_)  # unseen class in validation: score the ELBO only
        return torch.from_numpy(pos.astype(np.int64)), len(self.classes_)

    def _make_scorer(self, X, y, X_val, y_val):
        """Validation precision@k closure, or None without validation labels."""
        if X_val is None or y_val is None:
            return None
        if y is None:
            raise ValueError("validation precision needs database labels y as well as y_val")
        db_lab, q_lab = joint_indicators(y, y_val)

        def score() -> float:
            db_scores = self._scores(X)
            thresholds = self._thresholds_from_scores(db_scores)
            db_codes = np.packbits(db_scores > thresholds, axis=1)
            q_codes = np.packbits(self._scores(X_val) > thresholds, axis=1)
            k = min(int(self.eval_k), len(db_lab))  # a small database: score all of it
            return precision_at_k(db_codes, db_lab, q_codes, q_lab, k).index_order
        return score

    def _thresholds_from_scores(self, scores: np.ndarray) -> np.ndarray:
        return np.zeros(scores.shape[1], dtype=np.float32)

    # ---- encoding -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit or load")

    def _scores(self, X: ArrayLike, batch_size: int = 4096) -> np.ndarray:
        """``code_scores`` of every row (eval mode: no dropout, no sampling, no noise)."""
        self.net_.eval()
        out = np.empty((X.shape[0], self.nbits), dtype=np.float32)
        with torch.no_grad():
            for rows, batch in iterate_batches(X, batch_size):
                out[rows] = self.net_.code_scores(batch.to(self.device_)).float().cpu().numpy()
        return out

    def encode_bits(self, X: ArrayLike) -> np.ndarray:
        """0/1 codes as a uint8 array (n, nbits)."""
        self._check_fitted()
        X = _check_X(X, "X", self.n_features_)
        with torch_threads(self.num_threads):
            return (self._scores(X) > self.thresholds_).astype(np.uint8)

    def encode(self, X: ArrayLike) -> np.ndarray:
        """Packed codes, uint8 (n, nbits // 8), bit order of ``np.packbits(bits, axis=1)``."""
        return np.packbits(self.encode_bits(X), axis=1)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` and ``weights.pt`` into directory ``path``."""
        from .serialization import save_estimator
        self._check_fitted()
        save_estimator(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "BaseHasher":
        """Rebuild a fitted estimator saved by ``save`` (no training data needed)."""
        from .serialization import load_estimator
        return load_estimator(cls, path, device)

    def export_numpy_encoder(self):
        """A torch-free ``NumpyEncoder`` that gives the same codes as ``encode``."""
        from .numpy_encoder import NumpyEncoder
        self._check_fitted()
        enc = self.net_.encoder
        to_np = lambda t: t.detach().float().cpu().numpy().copy()  # noqa: E731
        layers = [(to_np(W), to_np(b)) for W, b in enc.affine_layers()]
        W, b = enc.head_layer(0)
        return NumpyEncoder(layers, (to_np(W), to_np(b)), self.thresholds_.copy(),
                            input_norm=getattr(self, "input_norm_", "none"))
