"""The run report lists where the chip knowledge in its prompts came from (source, section, page)."""

from __future__ import annotations

from pathlib import Path

from agents.knowledge import ChromaKnowledge, KnowledgeSettings
from graph.report import render_report
from graph.state import RunRequest, RunState
from tools.hardware import load_target
from tools.problems import load_problem
from vectorstore.embeddings import HashingEmbedding
from vectorstore.ingest import ingest_file
from vectorstore.store import KnowledgeStore

GUIDE = """# H100 notes

## Memory hierarchy

### L2 cache

The L2 cache is 50 MiB; row-wise reductions and softmax stream through it at full bandwidth.
"""


def test_the_report_lists_the_chunks_the_prompts_quoted(tmp_path: Path) -> None:
    store = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    guide = tmp_path / "h100_notes.md"
    guide.write_text(GUIDE, encoding="utf-8")
    ingest_file(store, guide, "h100")
    knowledge = ChromaKnowledge(data_dir=tmp_path, settings=KnowledgeSettings(), store=store)
    problem, target = load_problem("softmax", shape="64x128"), load_target("h100")
    found = knowledge.retrieve(problem, target)
    documents, refs = found.documents, found.refs
    assert documents and len(refs) == len(documents)
    assert refs[0] == {
        "chip": "h100", "source": "h100_notes.md", "source_path": str(guide.resolve()),
        "section": "Memory hierarchy > L2 cache", "page": 0,
    }  # fmt: skip
    state = RunState(
        run_id="r", request=RunRequest(problem="softmax", target="h100"),
        problem=problem.model_dump(mode="json"), target=target.model_dump(mode="json"),
        documents=documents, document_refs=refs,
    )  # fmt: skip
    prompted = render_report(state, None, False, "m", prompted=True)
    assert f"| {guide.resolve()} | Memory hierarchy > L2 cache | — | h100 |" in prompted
    assert "quoted into the coders' model prompts" in prompted
    offline = render_report(state, None, False, "m", prompted=False)
    assert "no model prompt used them" in offline
