"""The ``nash-index`` command line (``python -m nash_index``): one module per subcommand.

``args`` (argument types, :class:`CLIError`: a leaf), ``common`` (what subcommands share), ``app``
(parser and dispatch), and ``train``, ``build``, ``search``, ``evaluate``, ``bench``, ``demo``,
``info``.
"""
from __future__ import annotations

from .app import build_parser, main
from .args import CLIError

__all__ = ["CLIError", "build_parser", "main"]
