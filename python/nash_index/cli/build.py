"""``nash-index build``: encode a corpus with a model, or take your own codes, and write a
searchable index directory."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from ..datasets.lines import utf8_lines
from ..index import INDEX_KINDS
from ..index.faiss_interop import read_faiss
from ..pipeline import CodesIndex
from ..pipeline.codes import as_packed_codes
from .args import CLIError, add_corpus_options
from .common import load_model, load_splits, say

__all__ = ["CORPUS_VECTORIZER", "add_parser", "run"]

#: ``--vectorizer corpus``: the vocabulary ``load_corpus`` built for the benchmark corpus named by --corpus.
CORPUS_VECTORIZER = "corpus"


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("build", help="encode a corpus with a model (or index your own codes)",
                       description="Encode every document of a corpus with a trained model and write a "
                                   "self-contained index directory (model + codes + document keys + text "
                                   "excerpts), or index codes you made elsewhere (--codes).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="DIR", help="model directory written by train or "
                        "HashingPipeline.save, or a model saved by NASH.save (with its vectorizer); a model trained with "
                        "--embeddings embeds the corpus with its saved embedder (build takes no --embeddings)")
    source.add_argument("--codes", metavar="FILE.npy", help="your own codes, one per row: packed uint8 "
                        "(n, bits/8) in pack_bits order, or 0/1 bits (n, bits) as bool or integers")
    source.add_argument("--faiss", metavar="FILE", help="a faiss binary index written by faiss.write_index_binary "
                        "(IndexBinaryFlat, or IndexBinaryIDMap over one): its codes, keyed by their faiss ids")
    p.add_argument("--vectorizer", metavar="FILE|corpus", help="with a NASH.save model: the TextVectorizer.save "
                   "file its training rows came from (default: vectorizer.npz in the model directory), or "
                   "'corpus' for a model trained on load_corpus(NAME) rows: the vocabulary of --corpus NAME")
    p.add_argument("--keys", metavar="FILE", help="with --codes or --faiss: one key per line, in the order of the "
                   "rows (default: the row numbers; with --faiss, the faiss ids)")
    add_corpus_options(p, required=False)
    p.add_argument("--out", required=True, metavar="INDEX", help="index directory to write")
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                   help="which documents of the corpus to index: its train / validation / test split as "
                        "train and evaluate use it (a benchmark corpus: load_corpus's), or all three (default)")
    p.add_argument("--no-texts", action="store_true", help="do not store text excerpts (for search --show-text)")
    p.add_argument("--index-type", choices=INDEX_KINDS, default="auto",
                   help="flat scan or multi-index hashing (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (the summary still prints)")


def run(args: argparse.Namespace) -> int:
    """Writes an index directory from a corpus + model, or from codes + keys."""
    if args.codes is not None or args.faiss is not None:
        return _build_from_codes(args)
    if args.corpus is None:
        raise CLIError("--model needs --corpus (the documents to index)")
    if args.keys is not None:
        raise CLIError("--keys goes with --codes; a corpus's keys come from it (see --key-column)")
    raw = load_splits(args)
    vectorizer = args.vectorizer
    if vectorizer == CORPUS_VECTORIZER:
        if raw.processed is None:
            raise CLIError("--vectorizer corpus takes the load_corpus vocabulary of a benchmark corpus "
                           f"(reuters, 20ng, tmc); '{args.corpus}' is not one")
        vectorizer = raw.processed.vectorizer()
    pipe = load_model(args.model, vectorizer)
    pipe.reset(index=args.index_type)
    pipe.verbose = not args.quiet
    docs = raw.train + raw.val + raw.test if args.split == "all" else getattr(raw, args.split)
    if not len(docs):
        raise CLIError(f"the {args.split} split of the corpus has no documents")
    t0 = time.perf_counter()
    pipe.add(docs.texts, keys=docs.keys, store_texts=not args.no_texts)
    elapsed = time.perf_counter() - t0
    pipe.save(args.out)
    say(f"indexed {pipe.ntotal} documents ({pipe.nbits}-bit codes, {type(pipe.index).__name__}) in "
        f"{elapsed:.1f} s ({pipe.ntotal / max(elapsed, 1e-9):,.0f} docs/s); index written to {args.out}")
    return 0


def _build_from_codes(args: argparse.Namespace) -> int:
    extra = [flag for flag, value in (("--corpus", args.corpus), ("--vectorizer", args.vectorizer)) if value]
    if extra:
        raise CLIError(f"{'--codes' if args.faiss is None else '--faiss'} indexes the codes as they are: "
                       f"{' and '.join(extra)} do not apply")
    codes, ids = (read_codes(args.codes), None) if args.faiss is None else _read_faiss(args.faiss)
    keys = _read_keys(args.keys, codes.shape[0]) if args.keys or ids is None else [str(i) for i in ids.tolist()]
    index = CodesIndex.build(codes, keys, index=args.index_type)
    index.save(args.out)
    say(f"indexed {index.ntotal} codes ({index.nbits} bits, {type(index.index).__name__}); index written to "
        f"{args.out} (search it with: nash-index search --index {args.out} --codes QUERIES.npy)")
    return 0


#: The first bytes of a ``.npy`` file and of a zip archive (a ``.npz``): files are told apart by
#: their bytes, not their names.
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def read_codes(path: str, option: str = "--codes") -> np.ndarray:
    """The array in the ``.npy`` file at ``path`` (no pickles); CLIError naming ``option`` and the
    file for anything else (a ``.npz`` archive, a raw or text file, an object array)."""
    if not Path(path).is_file():
        raise CLIError(f"{option}: no codes file at '{path}'")
    with open(path, "rb") as fh:
        magic = fh.read(len(_NPY_MAGIC))
    if magic.startswith(_ZIP_MAGIC):
        raise CLIError(f"{option} '{path}' is a .npz archive; give one array saved with numpy.save (a .npy file)")
    if magic != _NPY_MAGIC:
        raise CLIError(f"{option} '{path}' is not a .npy file (no NumPy header); save the codes with numpy.save")
    try:
        codes = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as exc:  # damaged header, truncated data, an object array
        raise CLIError(f"{option} '{path}' is not a readable .npy array of codes ({' '.join(str(exc).split())})") from None
    if not isinstance(codes, np.ndarray):
        raise CLIError(f"{option} '{path}' does not hold one array of codes")
    try:
        return as_packed_codes(codes, f"{option} '{path}'")
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _read_faiss(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """The codes and ids of the faiss binary index file at ``path``."""
    try:
        index = read_faiss(path)
    except (ImportError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    return index.codes(), index.ids()


def _read_keys(path: Optional[str], n: int) -> Optional[List[str]]:
    """One key per line of the UTF-8 file at ``path`` (lines end at \\n or \\r\\n only: a key may hold
    any other character, U+2028 included)."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise CLIError(f"--keys: no keys file at '{path}'")
    try:
        keys = utf8_lines(path)
    except ValueError as exc:
        raise CLIError(f"--keys {exc}") from None
    if len(keys) != n:
        raise CLIError(f"--keys '{path}' has {len(keys)} lines but there are {n} codes (one key per line, in row order)")
    return keys
