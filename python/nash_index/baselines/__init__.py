"""Classic (non-neural) hashing baselines, all with ``fit(X)`` then ``encode(X) -> packed uint8 codes``.

* :class:`LSH`: random hyperplanes.
* :class:`SpectralHashing` (SpH): thresholded eigenfunctions on the PCA box.
* :class:`STH`: self-taught hashing (Laplacian eigenmap codes + per-bit linear SVMs).
* :class:`PCAITQ`: PCA followed by iterative quantization.
"""

from .base import HashingBaseline, pack
from .itq import PCAITQ
from .lsh import LSH
from .sph import SpectralHashing
from .sth import STH

BASELINES = {"LSH": LSH, "SpH": SpectralHashing, "STH": STH, "PCA-ITQ": PCAITQ}

__all__ = ["BASELINES", "HashingBaseline", "LSH", "PCAITQ", "STH", "SpectralHashing", "pack"]
