"""Where corpora are looked for.

Order: an explicit path given by the caller, then the ``NASH_INDEX_DATA`` environment variable
(one or more folders separated by ``os.pathsep``), then the per-user data folder
``<cache dir>/data`` (see :func:`cache_dir`). A corpus that is found nowhere raises
:class:`CorpusNotFoundError`, which lists every place that was tried and says where to put the files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

DATA_ENV = "NASH_INDEX_DATA"
CACHE_ENV = "NASH_INDEX_CACHE"


class CorpusNotFoundError(FileNotFoundError):
    """A corpus file or folder was not found in any of the searched places."""


def cache_dir() -> Path:
    """Per-user cache folder: ``$NASH_INDEX_CACHE``, else ``$XDG_CACHE_HOME/nash_index``, else ``~/.cache/nash_index``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nash_index"


def search_dirs(path: Optional[PathLike] = None) -> List[Path]:
    """Folders searched for corpus files, in order (existing or not)."""
    dirs: List[Path] = []
    if path is not None:
        dirs.append(Path(path).expanduser())
    for part in os.environ.get(DATA_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(cache_dir() / "data")
    return dirs


def locate(corpus: str, candidates: Sequence[str], path: Optional[PathLike] = None) -> Path:
    """Return the first existing ``dir/candidate`` over :func:`search_dirs` × ``candidates``.

    ``path`` may also point straight at the file or folder itself. ``candidates`` are file or
    folder names relative to a data folder, most preferred first.
    """
    if path is not None:
        direct = Path(path).expanduser()
        # an explicit file (any name) or a folder named like a candidate is the corpus itself
        if direct.is_file() or (direct.exists() and direct.name in {Path(c).name for c in candidates}):
            return direct
    tried: List[str] = []
    for folder in search_dirs(path):
        for cand in candidates:
            p = folder / cand
            if p.exists():
                return p
            tried.append(str(p))
    where = "\n  ".join(tried)
    raise CorpusNotFoundError(
        f"{corpus} corpus not found. Looked for:\n  {where}\n"
        f"Put one of {list(candidates)} in a folder and pass that folder as `path`, or set "
        f"{DATA_ENV} to it, or copy the files to {cache_dir() / 'data'}."
    )
