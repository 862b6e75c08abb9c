"""The knowledge store's contract, run here on an in-memory Chroma (``EphemeralClient``).

``StoreContract`` holds the tests every store backend must pass; the integration test
``tests/integration/test_chroma_server.py`` runs the same class against a real Chroma server.
The lexical ``HashingEmbedding`` stands in for the neural model so that each test takes
milliseconds; ranking with the real model is tested in ``test_vectorstore_cli.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.errors import KnowledgeBaseError
from tools.records.skill import Skill
from vectorstore import store as store_module
from vectorstore.embeddings import HashingEmbedding
from vectorstore.ingest import ingest_file
from vectorstore.store import KnowledgeStore

ZX9_GUIDE = """---
vendor: zeta
version: "1.0"
---
# ZX9 Programming Guide

## Execution model

The ZX9 runs lanes in bundles of 48; a bundle issues one instruction per cycle.

## Memory hierarchy

Global memory is HBM with 4.1 TB/s of bandwidth.

### Scratchpad

Each tile has 192 KiB of scratchpad memory, split into 32 banks of 4 bytes.

### L2 cache

The L2 cache is 72 MiB and is shared by every tile.

## Tuning knobs

Choose tile sizes that are multiples of 48 and keep two bundles per tile.
"""

OTHER_GUIDE = """# QQ1 Guide

## Memory hierarchy

### Scratchpad

Each QQ1 core has 64 KiB of scratchpad memory with 16 banks.
"""


def write_guide(folder: Path, name: str = "zx9_guide.md", text: str = ZX9_GUIDE) -> Path:
    """Write a manual file and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(store: KnowledgeStore) -> list[tuple[str, str, Any]]:
    """Everything stored in the documents collection, sorted, for exact comparisons."""
    got = store.docs.get(include=["documents", "metadatas"])
    return sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=True))


def make_skill(skill_id: str, gain: float, summary: str = "Use one program per row; BLOCK_SIZE is the next power of two of the row length.", **extra: Any) -> Skill:
    """A softmax skill on h100 in Triton."""
    fields = {
        "id": skill_id, "op_family": "softmax", "chip": "h100", "language": "triton", "summary": summary,
        "template": "triton.softmax_row", "gain": gain, "measured_on": "modeled", "run_id": "run1", "candidate_id": f"c-{skill_id}",
    }
    return Skill(**{**fields, **extra})


class StoreContract:
    """Tests every ``KnowledgeStore`` backend passes; subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> KnowledgeStore:
        raise NotImplementedError

    def test_ingest_then_search_ranks_the_answering_chunk_first(self, store: KnowledgeStore, tmp_path: Path) -> None:
        ingest_file(store, write_guide(tmp_path), "zx9")
        ingest_file(store, write_guide(tmp_path, "qq1.md", OTHER_GUIDE), "qq1")
        hits = store.search("scratchpad memory banks per tile", chip="zx9", k=3)
        assert hits[0].chunk.section_path == "Memory hierarchy > Scratchpad"
        assert hits[0].chunk.chip == "zx9" and hits[0].chunk.vendor == "zeta"
        assert "192 KiB" in hits[0].chunk.text
        assert all(h.chunk.chip == "zx9" for h in hits)  # the chip filter is applied first
        assert hits[0].score >= hits[-1].score

    def test_section_prefix_restricts_hits(self, store: KnowledgeStore, tmp_path: Path) -> None:
        ingest_file(store, write_guide(tmp_path), "zx9")
        hits = store.search("tile", chip="zx9", k=10, section_prefix="memory hierarchy > l2")
        assert [h.chunk.section_path for h in hits] == ["Memory hierarchy > L2 cache"]
        under = store.search("tile", chip="zx9", k=10, section_prefix="Memory hierarchy")
        assert {h.chunk.section_path for h in under} == {
            "Memory hierarchy", "Memory hierarchy > Scratchpad", "Memory hierarchy > L2 cache",
        }
        assert store.search("tile", chip="zx9", section_prefix="No such section") == []

    def test_reingest_replaces_the_previous_version(self, store: KnowledgeStore, tmp_path: Path) -> None:
        path = write_guide(tmp_path)
        first = ingest_file(store, path, "zx9")
        again = ingest_file(store, path, "zx9")
        assert store.count() == first.chunks == again.chunks  # one copy, not two
        path.write_text(ZX9_GUIDE.replace("72 MiB", "96 MiB").split("## Tuning knobs")[0], encoding="utf-8")
        second = ingest_file(store, path, "zx9", version="2.0")
        assert second.replaced == first.chunks and store.count() == second.chunks
        texts = [h.chunk.text for h in store.search("L2 cache size", chip="zx9", k=10)]
        assert any("96 MiB" in t for t in texts) and not any("72 MiB" in t for t in texts)
        [doc] = store.list_documents()
        assert (doc.source, doc.version, doc.chunks) == ("zx9_guide.md", "2.0", second.chunks)

    @pytest.mark.parametrize(
        ("method", "failing_call", "done_first", "edit", "words"),
        [
            # the second batch of the new version's write fails: no batch is written after it
            ("upsert", 2, False, ("48", "64"), "left as it was"),
            # the old version's delete fails after part of it is gone: rolled back
            ("delete", 1, True, ("Scratchpad", "Local store"), ""),
        ],
        ids=["failed-write", "failed-delete-of-the-old-version"],
    )
    def test_failure_mid_ingest_leaves_the_store_exactly_as_it_was(
        self,
        store: KnowledgeStore,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        method: str,
        failing_call: int,
        done_first: bool,
        edit: tuple[str, str],
        words: str,
    ) -> None:
        path = write_guide(tmp_path)
        ingest_file(store, path, "zx9")
        before = snapshot(store)
        path.write_text(ZX9_GUIDE.replace(*edit), encoding="utf-8")
        monkeypatch.setattr(store_module, "_PAGE", 2)  # several batches, so the failure is mid-way
        real, calls = getattr(store.docs, method), []

        def failing(**kwargs: Any) -> None:
            calls.append(1)
            if done_first:  # the call did its work, then the connection failed
                real(**kwargs)
            if len(calls) == failing_call:
                raise RuntimeError("the storage failed")
            if not done_first:
                real(**kwargs)

        monkeypatch.setattr(store.docs, method, failing)
        with pytest.raises(KnowledgeBaseError, match=words):
            ingest_file(store, path, "zx9")
        assert snapshot(store) == before
        if method == "upsert":  # nothing more is written after the failed batch
            assert len(calls) == failing_call

    def test_list_and_remove_documents(self, store: KnowledgeStore, tmp_path: Path) -> None:
        a = ingest_file(store, write_guide(tmp_path), "zx9")
        b = ingest_file(store, write_guide(tmp_path, "qq1.md", OTHER_GUIDE), "qq1", version="7")
        docs = {d.source: d for d in store.list_documents()}
        assert docs["zx9_guide.md"].chunks == a.chunks and docs["qq1.md"].chunks == b.chunks
        assert (docs["qq1.md"].chip, docs["qq1.md"].version, docs["zx9_guide.md"].vendor) == ("qq1", "7", "zeta")
        assert store.remove_document("qq1.md") == b.chunks
        assert store.remove_document("qq1.md") == 0
        assert [d.source for d in store.list_documents()] == ["zx9_guide.md"]

    def test_skills_merge_near_duplicates_keeping_the_higher_gain(self, store: KnowledgeStore) -> None:
        assert store.add_skill(make_skill("s1", 1.4)).id == "s1"
        kept = store.add_skill(make_skill("s2", 1.9))  # same summary and key, better gain: replaces
        assert kept.id == "s2" and store.count_skills() == 1
        assert store.add_skill(make_skill("s3", 1.1)).id == "s2"  # worse twin: dropped
        other = make_skill("s4", 1.2, summary="Fuse the exponent and the division into one pass over registers.")
        assert store.add_skill(other).id == "s4"  # different summary: kept apart
        assert store.add_skill(make_skill("s5", 1.0, template="triton.softmax_online")).id == "s5"  # other template
        assert store.count_skills() == 3
        found = store.search_skills("row softmax block size power of two", chip="H100", op_family="softmax", k=5)
        assert found[0].id == "s2" and found[0].gain == 1.9 and found[0].params == {}
        assert store.search_skills("softmax", chip="mi300x", op_family="softmax") == []
        assert store.search_skills("softmax", chip="h100", op_family="softmax", language="cuda") == []

    def test_ensure_shipped_docs_loads_once_and_reloads_on_change(self, store: KnowledgeStore, tmp_path: Path) -> None:
        docs = tmp_path / "hardware_docs"
        (docs / "zx9").mkdir(parents=True)
        (docs / "zx9" / "spec.yaml").write_text("vendor: zeta\n", encoding="utf-8")
        guide = write_guide(docs / "zx9", "guide.md", ZX9_GUIDE.replace("vendor: zeta", "vendor: wrong"))
        assert store.ensure_shipped_docs(docs) == ["hardware_docs/zx9/guide.md"]
        assert store.ensure_shipped_docs(docs) == []  # unchanged: nothing to do
        guide.write_text(ZX9_GUIDE.replace("72 MiB", "80 MiB"), encoding="utf-8")
        assert store.ensure_shipped_docs(docs) == ["hardware_docs/zx9/guide.md"]
        [doc] = store.list_documents()
        assert (doc.chip, doc.vendor) == ("zx9", "zeta")  # vendor from spec.yaml
        assert "80 MiB" in store.search("L2 cache", chip="zx9", k=1)[0].chunk.text


class TestEphemeralStore(StoreContract):
    @pytest.fixture
    def store(self) -> KnowledgeStore:
        return KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())


def test_ephemeral_stores_do_not_see_each_other(tmp_path: Path) -> None:
    a = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    b = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    ingest_file(a, write_guide(tmp_path), "zx9")
    assert a.count() > 0 and b.count() == 0


def test_a_second_process_is_pointed_to_server_mode(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    with KnowledgeStore.persistent(path, embedding_function=HashingEmbedding()) as store:
        ingest_file(store, write_guide(tmp_path), "zx9")
        code = (
            "import sys; from pathlib import Path\n"
            "from tools.errors import KnowledgeBaseError\n"
            "from vectorstore.embeddings import HashingEmbedding\n"
            "from vectorstore.store import KnowledgeStore\n"
            "try:\n"
            f"    KnowledgeStore.persistent(Path({str(path)!r}), embedding_function=HashingEmbedding())\n"
            "except KnowledgeBaseError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path.cwd())
        assert done.returncode == 3, done.stderr
        assert "already open in another process" in done.stdout and "KEVOLVE_CHROMA_URL" in done.stdout
        count = store.count()
    with KnowledgeStore.persistent(path, embedding_function=HashingEmbedding()) as reopened:  # lock released
        assert reopened.count() == count > 0


def test_a_store_built_with_another_model_is_refused(tmp_path: Path) -> None:
    with KnowledgeStore.persistent(tmp_path / "kb", embedding_function=HashingEmbedding(dim=64)):
        pass
    with pytest.raises(KnowledgeBaseError, match="embedded with"):
        KnowledgeStore.persistent(tmp_path / "kb", embedding_function=HashingEmbedding(dim=128))


def test_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(KnowledgeBaseError, match="does not answer"):
        KnowledgeStore.http("http://127.0.0.1:9", embedding_function=HashingEmbedding())
    with pytest.raises(KnowledgeBaseError, match="not an http"):
        KnowledgeStore.http("ftp://example", embedding_function=HashingEmbedding())
