"""A stand-in for a torch tensor (the checks recognise tensors by their class's module), so that
the GPU rule is tested without torch or a GPU: it records whether a host copy was made."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class FakeTensor:
    def __init__(self, data: np.ndarray, device: str = "cpu", dtype: str = "", log: list | None = None) -> None:
        self.data, self.device, self.log = data, SimpleNamespace(type=device.split(":")[0]), log if log is not None else []
        self.dtype = dtype or f"torch.{data.dtype}"

    def detach(self) -> "FakeTensor":
        self.log.append("detach")
        return self

    def cpu(self) -> "FakeTensor":
        self.log.append("cpu")
        return FakeTensor(self.data.copy(), "cpu", self.dtype, self.log)

    def float(self) -> "FakeTensor":
        self.log.append("float")
        return FakeTensor(self.data.astype(np.float32), self.device.type, "torch.float32", self.log)

    def numpy(self) -> np.ndarray:
        if self.device.type != "cpu":  # what torch does: numpy cannot read device memory
            raise TypeError("can't convert cuda:0 device type tensor to numpy")
        return self.data


FakeTensor.__module__ = "torch"  # how torch.Tensor presents itself
