"""Neural hashers (torch models of ``nash_index.models``: NASH, VDSH) as pipeline hashers.

Files: the torch model (``model/``: ``config.json`` + ``weights.pt``, what ``BaseHasher.save``
writes, for further training or GPU encoding) and its numpy export ``encoder.npz``. Encoding
always goes through the numpy export, so a loaded pipeline needs neither torch nor a GPU and gives
bit-identical codes; a torch-free load keeps the model's bytes, so that saving again keeps them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .spec import HasherSpec

__all__ = ["ENCODER_FILE", "MODEL_DIR", "MODEL_FILES", "NeuralSpec"]

ENCODER_FILE = "encoder.npz"
MODEL_DIR = "model"
MODEL_FILES = ("config.json", "weights.pt")


@dataclass(frozen=True)
class NeuralSpec(HasherSpec):
    """A torch model trained with labels (model selection) and validation rows (early stopping),
    served by its numpy export."""

    package = "nash_index.models"
    requires = ("torch",)
    neural = True
    uses_labels = True
    uses_validation = True
    seed_param = "seed"

    def _default_params(self, params: Dict[str, Any], verbose: bool) -> None:
        params.setdefault("verbose", verbose)

    def fit(self, hasher: Any, X: Any, y: Any = None, X_val: Any = None, y_val: Any = None,
            init_codes: Any = None) -> Any:
        """Trains with labels and validation rows; ``init_codes``: another hasher's codes of X to
        start from (NASH's warm start; ``hasher="auto"`` passes PCA-ITQ's)."""
        extra = {} if init_codes is None else {"init_codes": init_codes}
        hasher.fit(X, y, X_val=X_val, y_val=y_val if X_val is not None else None, **extra)
        return hasher

    def owns(self, hasher: Any) -> bool:
        return "torch" in sys.modules and super().owns(hasher)  # a model exists only once torch is imported

    def encoder_of(self, hasher: Any) -> Any:
        return hasher.export_numpy_encoder()

    def save(self, hasher: Any, encoder: Any, out: Path, model_files: Optional[Dict[str, bytes]] = None) -> Dict[str, Any]:
        """``hasher`` is None when the pipeline was loaded torch-free: ``model_files`` (the bytes
        of the ``model/`` files read at load time) are then written back unchanged."""
        encoder.save(out / ENCODER_FILE)
        model_dir = out / MODEL_DIR
        if hasher is not None:
            hasher.save(model_dir)
        elif model_files:
            model_dir.mkdir()
            for name, data in model_files.items():
                (model_dir / name).write_bytes(data)
        return {"kind": self.name, "encoder": ENCODER_FILE,
                "model": MODEL_DIR if (model_dir / MODEL_FILES[0]).exists() else None}

    def load(self, entry: Dict[str, Any], src: Path, use_torch: bool = False) -> tuple:
        """The torch model is loaded only with ``use_torch=True``; otherwise its files are kept
        as bytes."""
        from ..models.numpy_encoder import NumpyEncoder  # torch-free

        encoder = NumpyEncoder.load(src / entry["encoder"])
        model_dir = src / entry["model"] if entry.get("model") else None
        files = {p.name: p.read_bytes() for p in sorted(model_dir.iterdir())} if model_dir else {}
        model = None
        if use_torch:
            self.check_torch_load(entry, src)
            model = self.hasher_class().load(model_dir)
        return model, encoder, files

    def files(self, entry: Dict[str, Any]) -> List[str]:
        model = entry.get("model")
        if model is not None and not (isinstance(model, str) and model):
            raise ValueError(f"invalid model directory name {model!r}")
        return [entry["encoder"]] + ([f"{model}/{name}" for name in MODEL_FILES] if model else [])

    def check_torch_load(self, entry: Dict[str, Any], src: Path) -> None:
        if not entry.get("model"):
            raise ValueError(f"{src} holds no torch model (only its numpy export); load it with use_torch=False")
