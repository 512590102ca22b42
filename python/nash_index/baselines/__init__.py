"""Classic (non-neural) hashing baselines, all with ``fit(X)`` then ``encode(X) -> packed uint8 codes``.

* :class:`LSH`: random hyperplanes.
* :class:`SpectralHashing` (SpH): thresholded eigenfunctions on the PCA box.
* :class:`STH`: self-taught hashing (Laplacian eigenmap codes + per-bit linear SVMs).
* :class:`PCAITQ`: PCA followed by iterative quantization.
"""

from ._pca import Projection
from .base import HashingBaseline, pack
from .itq import PCAITQ
from .lsh import LSH
from .sph import SpectralHashing
from .sth import STH

#: The baselines by the canonical names of the hasher registry (nash_index.text.registry, which
#: also holds their display names: ``nash_index.text.display_name("itq") == "PCA-ITQ"``).
BASELINES = {"lsh": LSH, "sph": SpectralHashing, "sth": STH, "itq": PCAITQ}
#: The dataclasses a fitted baseline's state may hold, by the name a saved pipeline stores.
STATE_CLASSES = {"pca-projection": Projection}

__all__ = ["BASELINES", "HashingBaseline", "LSH", "PCAITQ", "Projection", "STATE_CLASSES", "STH", "SpectralHashing", "pack"]
