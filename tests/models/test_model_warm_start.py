"""NASH's warm start (``fit(init_codes=...)``): the encoder starts from another hasher's codes, and
the pull fades out on schedule; bad codes are refused with a clear error."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import FAST, one_torch_thread, planted_corpus  # noqa: E402, F401 (fixture)

from nash_index.models import NASH, VDSH  # noqa: E402
from nash_index.models.training import TrainConfig, init_weight_at  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:NASH.fit without validation data")
NBITS = 16
QUIET = dict(FAST, epochs=3, neighbours=0)


def _random_codes(n: int, seed: int) -> np.ndarray:
    return np.packbits(np.random.default_rng(seed).integers(0, 2, (n, NBITS), dtype=np.uint8), axis=1)


def _agreement(model: NASH, X, codes: np.ndarray) -> float:
    return float(np.mean(model.encode_bits(X) == np.unpackbits(codes, axis=1)))


def test_warm_start_reproduces_the_given_codes():
    # arbitrary codes no ELBO would find: only the warm start's pull can make the encoder match them
    X, _ = planted_corpus(300, seed=3)
    codes = _random_codes(300, seed=4)
    warm = NASH(nbits=NBITS, init_steps=10_000, init_weight=20.0, **dict(QUIET, epochs=25)).fit(X, init_codes=codes)
    cold = NASH(nbits=NBITS, **dict(QUIET, epochs=25)).fit(X)
    assert _agreement(warm, X, codes) > 0.9
    assert 0.3 < _agreement(cold, X, codes) < 0.7


def test_pull_fades_linearly_and_is_off_by_default():
    cfg = TrainConfig(init_steps=100, init_weight=2.0)
    assert [init_weight_at(s, cfg) for s in (0, 50, 99, 100, 500)] == pytest.approx([2.0, 1.0, 0.02, 0.0, 0.0])
    assert init_weight_at(0, TrainConfig()) == 0.0
    X, _ = planted_corpus(120, seed=5)
    codes = _random_codes(120, seed=6)
    # init_steps=0: the codes are accepted but never pull, so training is exactly the cold one
    a = NASH(nbits=NBITS, init_steps=0, **QUIET).fit(X, init_codes=codes).encode(X)
    b = NASH(nbits=NBITS, **QUIET).fit(X).encode(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("codes,match", [
    (np.zeros((120, 1), np.uint8), r"shape \(120, 2\)"),
    (np.zeros((119, 2), np.uint8), r"shape \(120, 2\)"),
    (np.zeros((120, 2), np.int64), "packed uint8"),
])
def test_bad_init_codes_are_refused(codes, match):
    X, _ = planted_corpus(120, seed=5)
    with pytest.raises(ValueError, match=match):
        NASH(nbits=NBITS, **QUIET).fit(X, init_codes=codes)


def test_vdsh_has_no_warm_start():
    X, _ = planted_corpus(60, seed=5)
    with pytest.raises(ValueError, match="init_codes: VDSH has no warm start"):
        VDSH(nbits=NBITS, **{k: v for k, v in QUIET.items() if k != "neighbours"}).fit(X, init_codes=_random_codes(60, 1))
