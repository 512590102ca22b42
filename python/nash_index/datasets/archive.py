"""Read members of a corpus stored either as a ``.tar.gz`` archive or as an unpacked folder.

Archives are read in place with :mod:`tarfile`; nothing is unpacked to disk.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Callable, Iterator, Tuple


def iter_members(source: Path, want: Callable[[str], bool]) -> Iterator[Tuple[str, bytes]]:
    """Yield ``(relative name, bytes)`` for every regular file in ``source`` whose name passes ``want``.

    Names use ``/`` separators and are relative to the archive root or to the folder. Order is
    sorted by name, so the output does not depend on the archive's or the file system's order.
    """
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            rel = p.relative_to(source).as_posix()
            if p.is_file() and want(rel):
                yield rel, p.read_bytes()
        return
    try:
        tar = tarfile.open(source, mode="r:*")
    except tarfile.TarError as exc:
        raise OSError(f"{source} is neither a folder nor a readable tar archive: {exc}") from exc
    with tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and want(m.name)), key=lambda m: m.name)
        for m in members:
            fh = tar.extractfile(m)
            if fh is not None:
                yield m.name, fh.read()
