"""The knowledge base: chip manuals and learned skills in Chroma, embedded offline.

Public API (imported lazily, so ``import vectorstore`` does not load Chroma or torch)::

    from vectorstore import KnowledgeStore, ingest_file, parse_document, quote_for_prompt
    store = KnowledgeStore.from_settings(settings.data_dir, settings.chroma_url)
    store.ensure_shipped_docs(SHIPPED_DOCS_DIR)
    hits = store.search("L2 cache size", chip="h100", section_prefix="Memory hierarchy")
    prompt_part = quote_for_prompt(hits)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KnowledgeStore": "vectorstore.store",
    "SentenceTransformerEmbedding": "vectorstore.embeddings",
    "get_embedding_function": "vectorstore.embeddings",
    "resolve_model_path": "vectorstore.embeddings",
    "ingest_file": "vectorstore.ingest",
    "parse_document": "vectorstore.ingest",
    "quote_for_prompt": "vectorstore.quoting",
    "Chunk": "vectorstore.schemas",
    "DocumentInfo": "vectorstore.schemas",
    "Hit": "vectorstore.schemas",
    "IngestReport": "vectorstore.schemas",
    "SHIPPED_DOCS_DIR": "hardware_docs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vectorstore' has no attribute {name!r}")
    attr = "DOCS_DIR" if name == "SHIPPED_DOCS_DIR" else name
    return getattr(importlib.import_module(_EXPORTS[name]), attr)
