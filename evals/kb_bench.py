"""Knowledge-base benchmark: ingest throughput and query latency at 10,000 chunks.

Run from the repository root::

    python evals/kb_bench.py                      # writes evals/results/kb_bench_<date>.json
    python evals/kb_bench.py --chunks 2000 --pages 20 --queries 50   # a quicker look

What is measured, with the real all-MiniLM-L6-v2 model on CPU and the embedded
``PersistentClient`` store (the default deployment):

* **Ingest throughput**: a generated text PDF manual of ``--pages`` pages (headings, several
  paragraphs per page) goes through ``ingest_file`` (pypdf parse + embed + write); reported
  in pages per minute, with the parse-only share.
* **Query latency**: the store is filled to ``--chunks`` chunks over 10 chips, then
  ``--queries`` questions are timed end to end (query embedding + Chroma search) in three
  modes: no filter, chip filter, chip + section prefix. p50/p95 in milliseconds.

To keep the run short on a small machine, only ``--real-chunks`` filler chunks are embedded
by the model; the rest reuse those vectors with small Gaussian noise (re-normalised). HNSW
search cost depends on the number and dimension of vectors, not on their meaning, so the
latency stands; the JSON records this under ``method``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vectorstore.ingest import ingest_file, parse_document  # noqa: E402
from vectorstore.pdf_writer import write_text_pdf  # noqa: E402
from vectorstore.schemas import Chunk  # noqa: E402
from vectorstore.store import KnowledgeStore  # noqa: E402

logger = logging.getLogger("kb_bench")

TOPICS = ["Memory hierarchy", "Execution model", "Occupancy", "Tuning knobs", "Pitfalls", "Numerics"]
SUBTOPICS = ["Registers", "Shared memory", "L2 cache", "HBM", "Scheduling", "Vector units", "Tensor cores", "Atomics"]
NOUNS = ["tile", "warp", "wavefront", "bank", "register", "cache line", "DMA engine", "stream", "block", "lane"]
VERBS = ["limits", "doubles", "hides", "saturates", "splits", "reorders", "aligns", "coalesces", "stalls", "prefetches"]
QUESTIONS = [
    "How large is the L2 cache?", "What limits occupancy per compute unit?", "Which tile sizes work best for matmul?",
    "How many registers can one thread use?", "How do I avoid shared memory bank conflicts?",
    "What is the peak memory bandwidth?", "How does the scheduler issue instructions?",
    "When should I use vectorized loads?", "What causes register spills?", "How are atomics implemented?",
]


def _sentence(rng: random.Random, i: int) -> str:
    return (f"The {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)} when {rng.randint(2, 512)} "
            f"{rng.choice(NOUNS)}s share {rng.randint(1, 256)} KiB (case {i}).")


def _paragraph(rng: random.Random, i: int, sentences: int = 5) -> str:
    return " ".join(_sentence(rng, i * 10 + j) for j in range(sentences))


def make_manual(path: Path, pages: int, seed: int = 0) -> Path:
    """A text PDF of ``pages`` pages: a numbered heading, a sub-heading and four paragraphs
    (about 2,000 characters) each."""
    rng = random.Random(seed)
    content = []
    for p in range(pages):
        lines: list[Any] = [(f"{p + 1} {TOPICS[p % len(TOPICS)]}", 16), (f"{p + 1}.1 {SUBTOPICS[p % len(SUBTOPICS)]}", 13)]
        for k in range(4):
            lines += [_paragraph(rng, p * 4 + k), ""]
        content.append(lines)
    return write_text_pdf(path, content)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_ingest(store: KnowledgeStore, tmp: Path, pages: int) -> dict[str, Any]:
    pdf = make_manual(tmp / "bench_manual.pdf", pages)
    started = time.perf_counter()
    parsed = parse_document(pdf, "benchchip")
    parse_s = time.perf_counter() - started
    report = ingest_file(store, pdf, "benchchip", version="1")
    return {
        "pages": report.pages, "chunks": report.chunks, "pdf_bytes": pdf.stat().st_size,
        "seconds": round(report.seconds, 3), "parse_seconds": round(parse_s, 3),
        "pages_per_minute": round(report.pages / report.seconds * 60.0, 1),
        "chunks_per_second": round(report.chunks / report.seconds, 2),
        "parsed_chunks_match": len(parsed) == report.chunks,
    }


def fill(store: KnowledgeStore, total: int, real: int, seed: int = 1) -> dict[str, Any]:
    """Add filler chunks until the store holds ``total``; ``real`` of them embedded by the model."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    need = total - store.count()
    chunks = []
    for i in range(need):
        topic, sub = TOPICS[i % len(TOPICS)], SUBTOPICS[(i // len(TOPICS)) % len(SUBTOPICS)]
        chunks.append(Chunk(
            text=_paragraph(rng, i, sentences=6), chip=f"chip{(i // len(TOPICS)) % 10}", vendor="bench", source=f"filler_{i % 40}.md",
            section_path=f"{topic} > {sub}", version="1", chunk_index=i,
        ))
    started = time.perf_counter()
    base = np.asarray(store.embed_chunks(chunks[: min(real, need)]), dtype=np.float32)
    embed_s = time.perf_counter() - started
    vectors = list(base)
    for i in range(len(base), need):
        v = base[i % len(base)] + nrng.normal(0.0, 0.05, base.shape[1]).astype(np.float32)
        vectors.append(v / np.linalg.norm(v))
    started = time.perf_counter()
    store.add_chunks(chunks, embeddings=vectors)
    write_s = time.perf_counter() - started
    return {"added": need, "embedded_by_model": len(base), "embed_seconds": round(embed_s, 2),
            "model_chunks_per_second": round(len(base) / embed_s, 2) if embed_s else None,
            "write_seconds": round(write_s, 2), "total_chunks": store.count()}


def bench_queries(store: KnowledgeStore, n: int) -> dict[str, Any]:
    rng = random.Random(2)
    modes = {
        "no_filter": lambda q: store.search(q, k=5),
        "chip": lambda q: store.search(q, chip=f"chip{rng.randrange(10)}", k=5),
        "chip_and_section": lambda q: store.search(q, chip=f"chip{rng.randrange(10)}", k=5, section_prefix="Memory hierarchy"),
    }
    for fn in modes.values():  # warm-up: model, HNSW index load
        fn(QUESTIONS[0])
    out = {}
    for name, fn in modes.items():
        times, empty = [], 0
        for i in range(n):
            started = time.perf_counter()
            hits = fn(QUESTIONS[i % len(QUESTIONS)] + f" ({i})")
            times.append((time.perf_counter() - started) * 1000.0)
            empty += not hits
        out[name] = {"queries": n, "p50_ms": round(_pct(times, 50), 2), "p95_ms": round(_pct(times, 95), 2),
                     "mean_ms": round(statistics.fmean(times), 2), "empty_results": empty}
    return out


def _device() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {"cpu": model, "logical_cpus": os.cpu_count(), "affinity_cpus": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(), "python": platform.python_version()}


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if sha.returncode != 0:
        return "none (no commit yet)"
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="store size for the latency test")
    parser.add_argument("--real-chunks", type=int, default=1_000, help="filler chunks embedded by the model")
    parser.add_argument("--pages", type=int, default=60, help="pages of the generated PDF manual")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per mode")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default evals/results/kb_bench_<date>.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        with KnowledgeStore.persistent(Path(tmp) / "kb") as store:
            t = time.perf_counter()
            store.embedding_function(["warm up"])
            load_s = time.perf_counter() - t
            logger.info("model loaded in %.1f s; ingesting a %d-page PDF", load_s, args.pages)
            ingest = bench_ingest(store, Path(tmp), args.pages)
            logger.info("ingest: %s", ingest)
            filled = fill(store, args.chunks, args.real_chunks)
            logger.info("fill: %s", filled)
            queries = bench_queries(store, args.queries)
            logger.info("queries: %s", queries)
    result = {
        "benchmark": "kb_bench",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "device": _device(),
        "store": "chromadb PersistentClient (embedded), cosine HNSW",
        "embedding_model": store.model_id,
        "model_load_seconds": round(load_s, 2),
        "ingest": ingest,
        "fill": filled,
        "query_latency": queries,
        "method": (f"{filled['embedded_by_model']} filler chunks embedded by the model; the other "
                   f"{filled['added'] - filled['embedded_by_model']} reuse those vectors plus N(0, 0.05) noise, "
                   "re-normalised. Latency = query embedding + Chroma search, end to end, k=5."),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    out = args.out or ROOT / "evals" / "results" / f"kb_bench_{datetime.now(UTC):%Y%m%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
