"""20 Newsgroups, "bydate" version (11,314 train / 7,532 test posts, 20 groups, single-label).

Reads ``20news-bydate.tar.gz`` (or the unpacked folder holding ``20news-bydate-train/`` and
``20news-bydate-test/``) in place. Posts are decoded as latin-1, like scikit-learn does.

Cleaning (``remove``, re-implementing scikit-learn's ``fetch_20newsgroups(remove=...)``):
"headers" drops the header block up to the first blank line; "quotes" drops quoted lines (starting
with ``>`` or ``|``) and "In article ... writes:" lines; "footers" drops a short signature after the
last line of dashes. The default keeps only the header removal, because with the VDSH recipe it
gives the split sizes closest to the VDSH ``.mat`` file (11,016 / 3,667 / 3,665):

============================  ======  =====  =====
``remove``                    train   val    test
============================  ======  =====  =====
``("headers",)`` (default)    10,976  3,658  3,657
``()`` (verbatim posts)       11,038  3,686  3,686
headers+footers+quotes        10,734  3,576  3,575
============================  ======  =====  =====

(Chaidaroon's later PyTorch recreation of the recipe removes all three.) The remaining gap of
~0.4 % comes from the vocabulary and hence token counts being refit on our own text and from the
length rule (VDSH keeps 5 < tokens, we keep 5 <= tokens, as the issue states).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from .archive import iter_members
from .corpus import RawCorpus
from .locate import PathLike, locate

ARCHIVE_NAMES = ("20news-bydate.tar.gz", "20news-bydate")
_SPLIT_DIRS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
_QUOTE_INTRO = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_header(text: str) -> str:
    """Drop the header block (everything up to the first blank line)."""
    _, sep, body = text.partition("\n\n")
    return body if sep else text


def strip_quotes(text: str) -> str:
    """Drop quoted lines and the lines that introduce a quote."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_INTRO.search(line))


def strip_footer(text: str) -> str:
    """Drop a signature: everything after the last line made only of dashes, if that part is short."""
    lines = text.strip().split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().strip("-") == "" and lines[i].strip():
            # only strip real signatures; a long tail is more likely content
            if len(lines) - i <= 10:
                return "\n".join(lines[:i])
            break
    return text


def clean_post(text: str, remove: Tuple[str, ...]) -> str:
    """Apply the requested removals (any of "headers", "footers", "quotes") to one post."""
    unknown = set(remove) - {"headers", "footers", "quotes"}
    if unknown:
        raise ValueError(f"unknown removal(s) {sorted(unknown)}; use 'headers', 'footers', 'quotes'")
    if "headers" in remove:
        text = strip_header(text)
    if "quotes" in remove:
        text = strip_quotes(text)
    if "footers" in remove:
        text = strip_footer(text)
    return text


def load_20newsgroups(
    path: Optional[PathLike] = None,
    remove: Tuple[str, ...] = ("headers",),
) -> RawCorpus:
    """Load 20 Newsgroups bydate; ``remove`` selects the cleaning (``()`` keeps posts verbatim)."""
    source = locate("20 Newsgroups (bydate)", ARCHIVE_NAMES, path)
    found: Dict[str, List[Tuple[str, str, str]]] = {"train": [], "test": []}
    for name, data in iter_members(source, lambda n: any(f"{d}/" in n for d in _SPLIT_DIRS.values())):
        parts = name.split("/")
        for split, d in _SPLIT_DIRS.items():
            if d in parts and len(parts) >= parts.index(d) + 3:
                group = parts[parts.index(d) + 1]
                found[split].append((group, "/".join(parts[parts.index(d):]), data.decode("latin-1")))
    if not found["train"] or not found["test"]:
        raise OSError(f"{source} does not hold both 20news-bydate-train/ and 20news-bydate-test/ posts")
    groups = sorted({g for g, _, _ in found["train"]})
    column = {g: j for j, g in enumerate(groups)}
    out: Dict[str, Tuple[List[str], np.ndarray, List[str]]] = {}
    for split, items in found.items():
        labels = np.zeros((len(items), len(groups)), dtype=bool)
        for i, (g, _, _) in enumerate(items):
            if g in column:  # a test-only group would carry no label; none exists in bydate
                labels[i, column[g]] = True
        out[split] = ([clean_post(t, tuple(remove)) for _, _, t in items], labels, [k for _, k, _ in items])
    return RawCorpus(
        name="20ng",
        train_texts=out["train"][0], train_labels=out["train"][1],
        test_texts=out["test"][0], test_labels=out["test"][1],
        label_names=groups, train_keys=out["train"][2], test_keys=out["test"][2],
        source=str(source),
    )
