"""Training with its progress bars on, where there is no stderr to draw them on (pythonw, a service
started with fd 2 closed): the bars are skipped, the training runs and gives the same codes."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from planted import FAST, planted_corpus  # noqa: E402

from nash_index.baselines import STH  # noqa: E402
from nash_index.models import NASH  # noqa: E402


def _closed_stream() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


@pytest.mark.parametrize("stderr", [None, _closed_stream()], ids=["none", "closed"])
def test_nash_trains_verbose_without_stderr(monkeypatch, stderr):
    X, y = planted_corpus(200, seed=1)
    params = dict(FAST, epochs=2, seed=0)
    reference = NASH(nbits=8, **params).fit(X).encode(X)  # verbose off, stderr as usual
    monkeypatch.setattr(sys, "stderr", stderr)
    torch.manual_seed(0)
    codes = NASH(nbits=8, **dict(params, verbose=True)).fit(X).encode(X)  # neighbour graph and epochs: two bars
    np.testing.assert_array_equal(codes, reference)


@pytest.mark.parametrize("stderr", [None, _closed_stream()], ids=["none", "closed"])
def test_sth_fits_with_progress_without_stderr(monkeypatch, stderr):
    X, _ = planted_corpus(120, seed=2)
    reference = STH(nbits=8, n_neighbors=5).fit(X).encode(X)
    monkeypatch.setattr(sys, "stderr", stderr)
    np.testing.assert_array_equal(STH(nbits=8, n_neighbors=5, progress=True).fit(X).encode(X), reference)
