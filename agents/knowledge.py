"""Knowledge for the agents: chip documents and skills from the vector store.

Retrieval is hierarchical (chip -> section -> chunks) plus skills filtered by chip and op
family. The store is optional at run time: when it cannot be opened the run goes on without
retrieved context and says so in the log. :class:`ChromaKnowledge` is the run's
``graph.ports.KnowledgeStore``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import KevolveError
from tools.records import Problem, Skill, Target

log = logging.getLogger(__name__)

DOC_QUERIES = {
    "softmax": "row-wise reduction softmax exp max sum bandwidth",
    "norm": "row reduction normalization mean variance bandwidth",
    "reduction": "reduction across a row, warp shuffle, bandwidth",
    "pointwise": "elementwise kernel memory bandwidth vectorized loads",
    "scan": "prefix sum scan across a row",
    "matmul": "matrix multiply tensor cores tile sizes shared memory",
}


class KnowledgeSettings(BaseModel):
    """Whether and where a run reads and writes chip knowledge and skills."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    use_knowledge: bool = True
    """Retrieve chip documents and skills into the coders' context."""
    chroma_url: str | None = None
    """Chroma server URL (``http://host:8000``); unset: embedded PersistentClient in data_dir."""
    embedding_model: str = "all-MiniLM-L6-v2"
    """Sentence-transformers model for the knowledge base (shipped offline)."""


class Retrieved(BaseModel):
    """What the knowledge base holds for one problem on one chip."""

    documents: list[str] = Field(default_factory=list)
    """One quoted, cited excerpt per manual chunk."""
    skills: list[Skill] = Field(default_factory=list)
    refs: list[dict[str, Any]] = Field(default_factory=list)
    """Where each of ``documents`` came from: ``{"chip", "source", "source_path", "section",
    "page"}``, in the same order (the run's report lists them)."""


_STORES: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def open_store(data_dir: Path, settings: KnowledgeSettings) -> Any:
    """The process's knowledge store (embedded or server), with shipped guides loaded.

    One store per data dir and URL per process: the embedded store is owned by one process,
    and opening it twice would contend for its lock. Returns a
    ``vectorstore.store.KnowledgeStore`` (imported lazily: Chroma is slow to import).
    """
    from hardware_docs import DOCS_DIR
    from vectorstore.store import KnowledgeStore

    key = (str(data_dir), settings.chroma_url or "")
    with _LOCK:
        if key not in _STORES:
            store = KnowledgeStore.from_settings(
                data_dir, settings.chroma_url, embedding_model=settings.embedding_model
            )
            store.ensure_shipped_docs(DOCS_DIR)
            _STORES[key] = store
        return _STORES[key]


def retrieve(problem: Problem, target: Target, store: Any) -> Retrieved:
    """Cited chip excerpts, skills, and where each excerpt came from, from an open store."""
    from vectorstore.ingest import quote_for_prompt

    query = f"{target.display_name} {DOC_QUERIES.get(problem.op_family, problem.op_family)}"
    hits = store.search(query, chip=target.name, k=4)
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
    return Retrieved(
        documents=[quote_for_prompt([hit]) for hit in hits], skills=list(skills), refs=refs
    )


@dataclass(frozen=True, kw_only=True)
class ChromaKnowledge:
    """The vector store as the run's knowledge port; the store opens on first use."""

    data_dir: Path
    settings: KnowledgeSettings
    store: Any = field(default=None, repr=False, compare=False)
    """An open ``vectorstore.store.KnowledgeStore`` to use (tests: an ephemeral one); ``None``:
    the process's store for ``data_dir`` (:func:`open_store`)."""

    def _open(self) -> Any:
        return self.store if self.store is not None else open_store(self.data_dir, self.settings)

    def retrieve(self, problem: Problem, target: Target) -> Retrieved:
        """Cited chip excerpts, skills and their sources; empty when the store cannot be opened."""
        try:
            return retrieve(problem, target, self._open())
        except (KevolveError, ImportError, OSError) as e:
            log.warning("knowledge base unavailable, continuing without it: %s", e)
            return Retrieved()

    def remember(self, skills: Sequence[Skill]) -> None:
        """Write skills into the knowledge base (near-duplicates are merged there)."""
        try:
            store = self._open()
            for skill in skills:
                store.add_skill(skill)
        except (KevolveError, ImportError, OSError) as e:
            log.warning("could not store %d skills in the knowledge base: %s", len(skills), e)
