"""Knowledge for the agents: chip documents and skills from the vector store.

Retrieval is hierarchical (chip -> section -> chunks) plus skills filtered by chip and op
family. The store is optional at run time: when it cannot be opened the run goes on without
retrieved context and says so in the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tools.errors import KevolveError
from tools.records import Problem, Skill, Target

if TYPE_CHECKING:
    from graph.context import RunContext

log = logging.getLogger(__name__)

DOC_QUERIES = {
    "softmax": "row-wise reduction softmax exp max sum bandwidth",
    "norm": "row reduction normalization mean variance bandwidth",
    "reduction": "reduction across a row, warp shuffle, bandwidth",
    "pointwise": "elementwise kernel memory bandwidth vectorized loads",
    "scan": "prefix sum scan across a row",
    "matmul": "matrix multiply tensor cores tile sizes shared memory",
}


_STORES: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def open_store(ctx: "RunContext"):  # noqa: ANN201 - vectorstore types stay lazy
    """The process's knowledge store (embedded or server), with shipped guides loaded.

    One store per data dir and URL per process: the embedded store is owned by one process,
    and opening it twice would contend for its lock.
    """
    from hardware_docs import DOCS_DIR
    from vectorstore.store import KnowledgeStore

    key = (str(ctx.data_dir), ctx.chroma_url or "")
    with _LOCK:
        if key not in _STORES:
            store = KnowledgeStore.from_settings(
                ctx.data_dir, ctx.chroma_url, embedding_model=ctx.embedding_model
            )
            store.ensure_shipped_docs(DOCS_DIR)
            _STORES[key] = store
        return _STORES[key]


def retrieve_cited(
    problem: Problem, target: Target, ctx: "RunContext"
) -> tuple[list[str], list[Skill], list[dict[str, Any]]]:
    """Cited chip excerpts, skills, and where each excerpt came from.

    Returns:
        (one quoted, cited excerpt per chunk; skills; one ``{"chip", "source", "source_path",
        "section", "page"}`` per excerpt, in the same order) — the report lists the last.
    """
    try:
        from vectorstore.ingest import quote_for_prompt

        store = open_store(ctx)
        query = f"{target.display_name} {DOC_QUERIES.get(problem.op_family, problem.op_family)}"
        hits = store.search(query, chip=target.name, k=4)
        documents = [quote_for_prompt([hit]) for hit in hits]
        refs = [
            {
                "chip": hit.chunk.chip,
                "source": hit.chunk.source,
                "source_path": hit.chunk.source_path or hit.chunk.source,
                "section": hit.chunk.section_path,
                "page": hit.chunk.page,
            }
            for hit in hits
        ]
        skills = store.search_skills(
            f"{problem.op_family} {problem.op or problem.name}",
            chip=target.name,
            op_family=problem.op_family,
            k=5,
        )
        return documents, list(skills), refs
    except (KevolveError, ImportError, OSError) as e:
        log.warning("knowledge base unavailable, continuing without it: %s", e)
        return [], [], []


def remember_skills(skills: Sequence[Skill], ctx: "RunContext") -> None:
    """Write skills into the knowledge base (near-duplicates are merged there)."""
    try:
        store = open_store(ctx)
        for skill in skills:
            store.add_skill(skill)
    except (KevolveError, ImportError, OSError) as e:
        log.warning("could not store %d skills in the knowledge base: %s", len(skills), e)
