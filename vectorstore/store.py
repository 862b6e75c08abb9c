"""The knowledge store: chip manuals and learned skills in two Chroma collections.

``hardware_docs`` holds chunks of manuals (metadata: chip, vendor, section_path, source,
version, page, chunk_index, content_sha, file_sha); ``skills`` holds :class:`Skill` records.
Every collection is opened with the embedding function passed explicitly. Open a store with
:meth:`KnowledgeStore.persistent` (embedded, one owner process), :meth:`KnowledgeStore.http`
(a Chroma server, any number of processes), :meth:`KnowledgeStore.ephemeral` (in memory, for
tests) or :meth:`KnowledgeStore.from_settings`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.config import Settings as ChromaSettings

from tools.errors import KnowledgeBaseError
from vectorstore import locking
from vectorstore.embeddings import get_embedding_function
from vectorstore.schemas import SECTION_SEP, Chunk, DocumentInfo, Hit
from vectorstore.skills import SkillsMixin

logger = logging.getLogger(__name__)

DOCS_COLLECTION = "hardware_docs"
SKILLS_COLLECTION = "skills"
KB_SUBDIR = "kb"
"""Embedded Chroma directory under the data dir (``Settings.kb_dir``)."""
_PAGE = 2000  # rows per ``get`` page
_MODEL_KEY = "kevolve_embedding"  # collection metadata: the model its vectors came from


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False)


def _chunk_id(chunk: Chunk) -> str:
    """Deterministic id: equal ids mean equal records, so re-adding is a no-op."""
    record = hashlib.sha256(json.dumps(chunk.model_dump(), sort_keys=True).encode()).hexdigest()
    return f"{hashlib.sha256(chunk.source.encode()).hexdigest()[:12]}-{record[:24]}"


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` lies under ``prefix``, comparing headings without case (last one by prefix)."""
    want = [p.strip().lower() for p in prefix.split(SECTION_SEP.strip()) if p.strip()]
    have = [p.strip().lower() for p in path.split(SECTION_SEP.strip())] if path else []
    if not want or len(have) < len(want):
        return False
    return have[: len(want) - 1] == want[:-1] and have[len(want) - 1].startswith(want[-1])


def _brief(error: BaseException) -> str:
    """An exception as one short line, for messages that must stay one sentence."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _where(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


class KnowledgeStore(SkillsMixin):
    """Chip documents and skills over one Chroma client."""

    def __init__(
        self,
        client: Any,
        *,
        embedding_function: EmbeddingFunction[Documents] | None = None,
        prefix: str = "",
        lock_key: Path | None = None,
    ) -> None:
        """Open (creating when missing) the two collections on ``client``.

        Args:
            client: A chromadb client (persistent, HTTP or ephemeral).
            embedding_function: Defaults to the shared all-MiniLM-L6-v2 function.
            prefix: Prepended to collection names (``<prefix>_hardware_docs``).
            lock_key: Owner lock to release on :meth:`close` (persistent stores).

        Raises:
            KnowledgeBaseError: The collections cannot be opened, or were embedded with another model.
        """
        self._client = client
        self._lock_key = lock_key
        self._write_lock = threading.RLock()
        self.embedding_function = embedding_function or get_embedding_function()
        self.model_id = str(getattr(self.embedding_function, "model_id", self.embedding_function.name()))
        self.prefix = prefix
        self.docs = self._open(f"{prefix}_{DOCS_COLLECTION}" if prefix else DOCS_COLLECTION)
        self.skills = self._open(f"{prefix}_{SKILLS_COLLECTION}" if prefix else SKILLS_COLLECTION)

    # Constructors ------------------------------------------------------------------------
    @classmethod
    def persistent(cls, path: Path, *, embedding_function: EmbeddingFunction[Documents] | None = None) -> KnowledgeStore:
        """An embedded store in ``path``, owned by this process until :meth:`close`.

        Raises:
            KnowledgeBaseError: Another process owns ``path`` (use a Chroma server and
                ``KEVOLVE_CHROMA_URL``), or Chroma cannot open it.
        """
        key = locking.acquire(Path(path))
        try:
            client = chromadb.PersistentClient(path=str(key), settings=_chroma_settings())
            return cls(client, embedding_function=embedding_function, lock_key=key)
        except KnowledgeBaseError:
            locking.release(key)
            raise
        except Exception as e:  # noqa: BLE001 - chromadb raises many types here
            locking.release(key)
            raise KnowledgeBaseError(f"The knowledge base at {key} cannot be opened ({_brief(e)}); move it aside and ingest again.") from e

    @classmethod
    def http(
        cls, url: str, *, embedding_function: EmbeddingFunction[Documents] | None = None, prefix: str = ""
    ) -> KnowledgeStore:
        """A store on the Chroma server at ``url`` (``http://host:8000``).

        Raises:
            KnowledgeBaseError: The URL is malformed or the server does not answer.
        """
        parsed = urlparse(url if "://" in url else f"http://{url}")
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        except ValueError:
            port = 0
        if parsed.scheme not in ("http", "https") or not parsed.hostname or not port:
            raise KnowledgeBaseError(f"KEVOLVE_CHROMA_URL {url!r} is not an http(s) URL such as http://localhost:8000.")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=_chroma_settings()
            )
            client.heartbeat()
        except Exception as e:  # noqa: BLE001 - connection errors come in many types
            raise KnowledgeBaseError(
                f"The Chroma server at {url} does not answer ({type(e).__name__}); start it with "
                f"`chroma run --path DIR --port {port}` or unset KEVOLVE_CHROMA_URL to use the embedded store."
            ) from e
        return cls(client, embedding_function=embedding_function, prefix=prefix)

    @classmethod
    def ephemeral(
        cls, prefix: str | None = None, *, embedding_function: EmbeddingFunction[Documents] | None = None
    ) -> KnowledgeStore:
        """An in-memory store with collection names unique to ``prefix`` (random by default).

        Every ephemeral client in a process shares one memory, hence the unique names.
        """
        try:
            client = chromadb.EphemeralClient(settings=_chroma_settings())
        except ValueError:  # another part of the process made one with default settings
            client = chromadb.EphemeralClient()
        return cls(client, embedding_function=embedding_function, prefix=prefix or f"t{uuid4().hex[:12]}")

    @classmethod
    def from_settings(
        cls,
        data_dir: Path,
        chroma_url: str | None,
        *,
        embedding_model: str | None = None,
        embedding_function: EmbeddingFunction[Documents] | None = None,
    ) -> KnowledgeStore:
        """The server store when ``chroma_url`` is set, else the embedded one in ``data_dir/kb``."""
        ef = embedding_function or get_embedding_function(embedding_model)
        if chroma_url:
            return cls.http(chroma_url, embedding_function=ef)
        return cls.persistent(Path(data_dir) / KB_SUBDIR, embedding_function=ef)

    def close(self) -> None:
        """Release the owner lock of a persistent store (a no-op for other kinds)."""
        if self._lock_key is not None:
            locking.release(self._lock_key)
            self._lock_key = None

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, name: str) -> Any:
        try:
            collection = self._client.get_or_create_collection(
                name=name,
                embedding_function=self.embedding_function,
                metadata={_MODEL_KEY: self.model_id},
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as e:  # noqa: BLE001
            if "conflict" in str(e).lower():
                raise KnowledgeBaseError(
                    f"Collection {name} was embedded with another embedding function than {self.model_id}; set the "
                    "embedding model back, or remove the knowledge base and ingest the documents again."
                ) from e
            raise KnowledgeBaseError(f"The knowledge-base collection {name} cannot be opened ({_brief(e)}).") from e
        stored = (collection.metadata or {}).get(_MODEL_KEY)
        if stored and stored != self.model_id:
            raise KnowledgeBaseError(
                f"Collection {name} was embedded with {stored}, not {self.model_id}; set the embedding "
                "model back, or remove the knowledge base and ingest the documents again."
            )
        return collection

    # Documents ---------------------------------------------------------------------------
    def embed_chunks(self, chunks: Sequence[Chunk]) -> list[Any]:
        """The vectors stored for chunks: their section path and text, embedded together."""
        texts = [f"{c.section_path}\n\n{c.text}" if c.section_path else c.text for c in chunks]
        return list(self.embedding_function(texts))

    def _upsert(self, collection: Any, ids: list[str], docs: list[str], metas: list[Any], vectors: list[Any]) -> None:
        step = max(1, min(_PAGE, self._client.get_max_batch_size()))
        for i in range(0, len(ids), step):
            collection.upsert(
                ids=ids[i : i + step], documents=docs[i : i + step],
                metadatas=metas[i : i + step], embeddings=vectors[i : i + step],
            )

    def _delete(self, collection: Any, ids: list[str]) -> None:
        for i in range(0, len(ids), _PAGE):
            collection.delete(ids=ids[i : i + _PAGE])

    def _get_all(self, collection: Any, where: dict[str, Any] | None, include: list[str]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
        offset = 0
        while True:
            page = collection.get(where=where, include=include, limit=_PAGE, offset=offset)
            for key in out:
                values = page.get(key)
                out[key].extend(list(values) if values is not None else [])
            if len(page["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def add_chunks(self, chunks: Iterable[Chunk], embeddings: Sequence[Any] | None = None) -> int:
        """Embed and store chunks (re-adding an identical chunk changes nothing).

        Args:
            chunks: Chunks of any documents.
            embeddings: Vectors already computed for ``chunks`` (same order), e.g. when
                copying between stores; default: embed ``section_path`` + text.

        Returns:
            The number of chunks written.
        """
        items = list(chunks)
        if not items:
            return 0
        if embeddings is not None and len(embeddings) != len(items):
            raise KnowledgeBaseError(f"{len(embeddings)} embeddings were given for {len(items)} chunks.")
        vectors = list(embeddings) if embeddings is not None else self.embed_chunks(items)
        with self._write_lock:
            self._upsert(self.docs, [_chunk_id(c) for c in items], [c.text for c in items], [c.metadata() for c in items], vectors)
        return len(items)

    def _document_rows(self, chip: str, source: str, source_path: str, include: list[str]) -> dict[str, list[Any]]:
        """Stored rows of the document ``(chip, source_path)`` (``source`` is its file name)."""
        rows = self._get_all(self.docs, {"$and": [{"chip": chip}, {"source": source}]}, [*include, "metadatas"])
        keep = [i for i, m in enumerate(rows["metadatas"]) if (m.get("source_path") or m.get("source")) == source_path]
        return {key: [values[i] for i in keep] for key, values in rows.items()}

    def replace_document(self, source: str, chunks: Sequence[Chunk]) -> int:
        """Make ``chunks`` the only stored version of their document, all or nothing.

        A document is its chip and its source path (``Chunk.document_key``): the same file
        name for another chip, or from another folder, is another document. The new chunks
        are embedded first, written next, and only then are the previous version's chunks
        deleted; if any write fails the store is put back exactly as it was.

        Args:
            source: The document's file name (every chunk's ``source``).
            chunks: Every chunk of the new version (one chip, one source path).

        Returns:
            The number of chunks of the previous version that were removed.

        Raises:
            KnowledgeBaseError: No chunks, chunks of several documents, or the write failed
                (the store is unchanged).
        """
        if not chunks:
            raise KnowledgeBaseError(f"Document {source} has no text to store.")
        if any(c.source != source for c in chunks) or len({c.document_key for c in chunks}) != 1:
            raise KnowledgeBaseError(f"Every chunk given to replace {source} must belong to that one document.")
        chip, source_path = chunks[0].document_key
        try:
            vectors = self.embed_chunks(chunks)  # fails before anything is written
        except KnowledgeBaseError:
            raise
        except Exception as e:  # noqa: BLE001
            raise KnowledgeBaseError(f"Embedding {source} failed ({type(e).__name__}: {e}); nothing was stored.") from e
        new_ids = [_chunk_id(c) for c in chunks]
        with self._write_lock:
            old = self._document_rows(chip, source, source_path, ["documents", "embeddings"])
            old_ids = set(old["ids"])
            stale = [i for i in old["ids"] if i not in set(new_ids)]
            try:
                self._upsert(self.docs, new_ids, [c.text for c in chunks], [c.metadata() for c in chunks], vectors)
                self._delete(self.docs, stale)
            except Exception as e:  # noqa: BLE001 - roll back whatever the failure was
                self._restore(old, [i for i in new_ids if i not in old_ids])
                raise KnowledgeBaseError(
                    f"Storing {source} failed ({type(e).__name__}: {_brief(e)}); the knowledge base was left as it was."
                ) from e
        logger.info("stored %s for %s: %d chunks, %d replaced", source_path, chip, len(chunks), len(stale))
        return len(stale)

    def _restore(self, old: dict[str, list[Any]], added: list[str]) -> None:
        try:
            self._delete(self.docs, added)
            present = set(self.docs.get(ids=old["ids"], include=[])["ids"]) if old["ids"] else set()
            missing = [n for n, i in enumerate(old["ids"]) if i not in present]
            if missing:
                self._upsert(
                    self.docs, [old["ids"][n] for n in missing], [old["documents"][n] for n in missing],
                    [old["metadatas"][n] for n in missing], [old["embeddings"][n] for n in missing],
                )
        except Exception as e:  # noqa: BLE001
            raise KnowledgeBaseError(
                f"Rolling back a failed write also failed ({_brief(e)}); remove the document with `kevolve kb remove` and ingest it again."
            ) from e

    def remove_document(self, source: str, chip: str | None = None) -> int:
        """Delete every chunk of one document; return how many there were (0 when none matches).

        Args:
            source: The document's source path, or its file name when that names one document.
            chip: Only this chip's documents.

        Raises:
            KnowledgeBaseError: ``source`` names several documents (other chips or folders).
        """
        matches = [
            d for d in self.list_documents()
            if source in (d.source_path, d.source) and (chip is None or d.chip == chip.lower())
        ]  # fmt: skip
        if len(matches) > 1:
            names = "; ".join(f"{d.source_path} for {d.chip}" for d in matches)
            raise KnowledgeBaseError(
                f"{source} names {len(matches)} documents ({names}); pass --chip or the full source path."
            )
        if not matches:
            return 0
        doc = matches[0]
        with self._write_lock:
            ids = self._document_rows(doc.chip, doc.source, doc.source_path, [])["ids"]
            self._delete(self.docs, ids)
        return len(ids)

    def find_document(self, chip: str, source_path: str) -> DocumentInfo | None:
        """The stored document ``(chip, source_path)``, or ``None``."""
        chip = chip.lower()
        found = [d for d in self.list_documents() if (d.chip, d.source_path) == (chip, source_path)]
        return found[0] if found else None

    def document_sha(self, chip: str, source_path: str) -> str | None:
        """The ``file_sha`` of the stored version of ``(chip, source_path)``, or ``None``."""
        doc = self.find_document(chip, source_path)
        return doc.file_sha if doc else None

    def count(self) -> int:
        """Number of document chunks stored."""
        return int(self.docs.count())

    def chips(self) -> list[str]:
        """Chips that have at least one stored document, sorted."""
        return sorted({str(m["chip"]) for m in self._get_all(self.docs, None, ["metadatas"])["metadatas"]})

    def list_documents(self) -> list[DocumentInfo]:
        """One entry per stored document (chip + source path), sorted by chip then source."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for meta in self._get_all(self.docs, None, ["metadatas"])["metadatas"]:
            key = (str(meta["chip"]), str(meta.get("source_path") or meta["source"]))
            row = rows.setdefault(key, {"meta": meta, "chunks": 0, "pages": 0})
            row["chunks"] += 1
            row["pages"] = max(row["pages"], int(meta.get("page", 0)))
        return sorted(
            (
                DocumentInfo(
                    source=str(r["meta"]["source"]), chip=chip, vendor=str(r["meta"].get("vendor", "")),
                    version=str(r["meta"].get("version", "")), chunks=r["chunks"], pages=r["pages"],
                    source_path=path, file_sha=str(r["meta"].get("file_sha", "")),
                )
                for (chip, path), r in rows.items()
            ),
            key=lambda d: (d.chip, d.source, d.source_path),
        )

    def section_paths(self, chip: str | None = None) -> list[str]:
        """Distinct section paths stored (for ``chip`` when given), sorted."""
        where = {"chip": chip.lower()} if chip else None
        return sorted({str(m.get("section_path", "")) for m in self._get_all(self.docs, where, ["metadatas"])["metadatas"]})

    def search(self, query: str, chip: str | None = None, k: int = 5, section_prefix: str | None = None) -> list[Hit]:
        """Chunks closest to ``query``: within ``chip`` first, then under ``section_prefix``.

        Args:
            query: Free text.
            chip: Registry name; ``None`` searches every chip.
            k: Most hits returned.
            section_prefix: Headings to stay under, e.g. ``"Memory hierarchy"`` or
                ``"Memory hierarchy > L2"`` (case-insensitive, last heading by prefix).

        Returns:
            Hits, closest first.
        """
        if not query.strip() or k <= 0:
            return []
        conditions: list[dict[str, Any]] = [{"chip": chip.lower()}] if chip else []
        if section_prefix:
            matching = [p for p in self.section_paths(chip) if _under(p, section_prefix)]
            if not matching:
                return []
            conditions.append({"section_path": {"$in": matching}})
        result = self.docs.query(
            query_embeddings=list(self.embedding_function([query])), n_results=k,
            where=_where(conditions), include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(chunk=Chunk(text=doc, **meta), score=1.0 - float(dist))
            for doc, meta, dist in zip(result["documents"][0], result["metadatas"][0], result["distances"][0])
        ]

    def ensure_shipped_docs(self, docs_dir: Path) -> list[str]:
        """Load ``<docs_dir>/<chip>/guide.md`` files that are new or changed since last loaded.

        See :func:`vectorstore.ingest.load_shipped_docs`.

        Returns:
            Sources (``hardware_docs/<chip>/guide.md``) that were (re)loaded.
        """
        from vectorstore.ingest import load_shipped_docs  # ingest imports this module

        return load_shipped_docs(self, docs_dir)
