"""``kevolve kb`` end to end on a temporary data dir.

Most tests swap the neural model for the lexical ``HashingEmbedding`` so they take a second;
``test_real_model_answers_from_the_new_chips_manuals`` runs the issue's acceptance check with
the shipped all-MiniLM-L6-v2 model (marked slow: loading sentence-transformers takes ~15 s here).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

import kevolve.kb_cli as kb_cli
import vectorstore.store as store_module
from tools.hardware import load_target
from vectorstore.embeddings import HashingEmbedding
from vectorstore.pdf_writer import pdf_bytes, write_text_pdf

MANUAL = """# ZX9 Programming Guide

## Execution model

The ZX9 runs lanes in bundles of 48; a bundle issues one instruction per cycle.

## Memory hierarchy

### Scratchpad

Each tile has 192 KiB of scratchpad memory, split into 32 banks of 4 bytes.

### L2 cache

The L2 cache is 72 MiB and is shared by every tile.
"""

SPEC = """display_name: Zeta ZX9
vendor: zeta
kind: gpu
arch: gfx1299
aliases: ["ZX-9"]
warp_size: 64
compute_units: 96
shared_mem_per_block_kib: 192
memory_bandwidth_gbps: 4100
peak_tflops: {fp32: 80.0, fp16: 640.0}
languages: [triton]
triton_target: {backend: hip, arch: gfx942, warp_size: 64}
"""

runner = CliRunner()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    empty = tmp_path / "no_shipped_docs"
    empty.mkdir()
    monkeypatch.setattr(kb_cli, "shipped_docs_dir", lambda: empty)
    return SimpleNamespace(data_dir=tmp_path / "data", chroma_url=None, embedding_model=None)


@pytest.fixture
def lexical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "get_embedding_function", lambda model=None: HashingEmbedding())


def kb(settings: SimpleNamespace, *args: str) -> Any:
    return runner.invoke(kb_cli.kb_app, list(args), obj=settings, env={"COLUMNS": "240"})


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored_chunks(settings: SimpleNamespace) -> int:
    result = kb(settings, "list", "--json")
    assert result.exit_code == 0, result.output
    return sum(d["chunks"] for d in json.loads(result.stdout))


def test_ingest_with_spec_registers_the_new_chip(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    result = kb(settings, "ingest", str(write(tmp_path, "zx9.md", MANUAL)), "--chip", "zx9",
                "--spec", str(write(tmp_path, "spec.yaml", SPEC)), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["chip"], report["vendor"], report["chunks"]) == ("zx9", "zeta", 3)
    target = load_target("ZX-9", extra_dirs=[settings.data_dir / "hardware_docs"])
    assert (target.name, target.vendor, target.warp_size) == ("zx9", "zeta", 64)
    hits = json.loads(kb(settings, "search", "scratchpad banks", "--chip", "zx9", "--json").stdout)
    assert hits[0]["chunk"]["section_path"] == "Memory hierarchy > Scratchpad"
    assert hits[0]["chunk"]["chip"] == "zx9"


def test_ingesting_twice_leaves_one_copy(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    path = write(tmp_path, "zx9.md", MANUAL)
    assert kb(settings, "ingest", str(path), "--chip", "zx9", "--new-chip").exit_code == 0
    once = stored_chunks(settings)
    again = kb(settings, "ingest", str(path), "--chip", "zx9")  # a chip with documents is known
    assert again.exit_code == 0 and "nothing changed" in again.stdout
    assert stored_chunks(settings) == once == 3


def test_corrupt_pdf_exits_2_with_one_sentence_and_changes_nothing(
    settings: SimpleNamespace, lexical: None, tmp_path: Path
) -> None:
    assert kb(settings, "ingest", str(write(tmp_path, "zx9.md", MANUAL)), "--chip", "zx9", "--new-chip").exit_code == 0
    before = stored_chunks(settings)
    broken = tmp_path / "manual.pdf"
    broken.write_bytes(pdf_bytes([["Scratchpad facts."]])[:150])
    result = kb(settings, "ingest", str(broken), "--chip", "zx9")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: manual.pdf is not a readable PDF")
    assert "Traceback" not in result.output
    assert stored_chunks(settings) == before


def test_invalid_spec_exits_2_and_leaves_no_file(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    spec = write(tmp_path, "spec.yaml", SPEC.replace("compute_units: 96", "compute_units: -1"))
    result = kb(settings, "ingest", str(write(tmp_path, "zx9.md", MANUAL)), "--chip", "zx9", "--spec", str(spec))
    assert result.exit_code == 2 and "compute_units" in result.stderr
    assert not (settings.data_dir / "hardware_docs" / "zx9").exists()
    assert stored_chunks(settings) == 0


def test_a_failed_ingest_does_not_install_the_spec(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    broken = tmp_path / "zx9.pdf"
    broken.write_bytes(b"%PDF-1.4 garbage")
    result = kb(settings, "ingest", str(broken), "--chip", "zx9", "--spec", str(write(tmp_path, "spec.yaml", SPEC)))
    assert result.exit_code == 2
    assert not (settings.data_dir / "hardware_docs" / "zx9").exists()


def test_new_chip_without_spec_is_stored_with_a_note(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    result = kb(settings, "ingest", str(write(tmp_path, "notes.txt", "Some facts.")), "--chip", "Mystery", "--new-chip")
    assert result.exit_code == 0 and "--spec" in result.stderr
    assert json.loads(kb(settings, "list", "--json").stdout)[0]["chip"] == "mystery"


def test_known_alias_resolves_to_the_registry_name(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    assert kb(settings, "ingest", str(write(tmp_path, "n.md", "# T\n\n## Notes\n\nLDS is 64 KiB.")), "--chip", "MI300").exit_code == 0
    [doc] = json.loads(kb(settings, "list", "--json").stdout)
    assert (doc["chip"], doc["vendor"]) == ("mi300x", "amd")
    assert json.loads(kb(settings, "search", "LDS", "--chip", "MI300X", "--json").stdout)[0]["chunk"]["chip"] == "mi300x"


def test_remove(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    assert kb(settings, "ingest", str(write(tmp_path, "zx9.md", MANUAL)), "--chip", "zx9", "--new-chip").exit_code == 0
    gone = kb(settings, "remove", "zx9.md")
    assert gone.exit_code == 0 and "3 chunks" in gone.stdout and stored_chunks(settings) == 0
    missing = kb(settings, "remove", "zx9.md")
    assert missing.exit_code == 2 and "kevolve kb list" in missing.stderr


def test_tables_render(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    assert kb(settings, "ingest", str(write(tmp_path, "zx9.md", MANUAL)), "--chip", "zx9", "--new-chip").exit_code == 0
    listing = kb(settings, "list")
    assert listing.exit_code == 0 and "zx9.md" in listing.stdout and "1 document(s)" in listing.stdout
    found = kb(settings, "search", "L2 cache size", "--chip", "zx9", "--k", "1")
    assert found.exit_code == 0 and "72 MiB" in found.stdout


@pytest.mark.slow
def test_real_model_answers_from_the_new_chips_manuals(settings: SimpleNamespace, tmp_path: Path) -> None:
    md = write(tmp_path, "zx9_guide.md", MANUAL)
    pdf = write_text_pdf(tmp_path / "qq1_manual.pdf", [
        [("QQ1 Accelerator Manual", 20), ("1 Execution model", 16),
         "Work runs in groups of 16 threads called a squad; four squads share one core."],
        [("2 Memory system", 16), ("2.1 Register file", 13),
         "Each core owns a 512 KiB register file; spilling beyond it goes to DRAM."],
        [("2.2 DRAM", 13), "The QQ1 uses LPDDR6 with 800 GB/s of peak bandwidth."],
    ])
    assert kb(settings, "ingest", str(md), "--chip", "zx9", "--spec", str(write(tmp_path, "spec.yaml", SPEC))).exit_code == 0
    result = kb(settings, "ingest", str(pdf), "--chip", "qq1", "--new-chip", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pages"] == 3
    top = json.loads(kb(settings, "search", "How much on-chip memory does a single tile have?", "--chip", "zx9", "--json").stdout)[0]
    assert (top["chunk"]["chip"], top["chunk"]["section_path"]) == ("zx9", "Memory hierarchy > Scratchpad")
    top = json.loads(kb(settings, "search", "What is the memory bandwidth of off-chip memory?", "--json").stdout)[0]
    assert (top["chunk"]["chip"], top["chunk"]["page"]) == ("qq1", 3)
    assert top["chunk"]["section_path"] == "2 Memory system > 2.2 DRAM"
    assert kb(settings, "ingest", str(pdf), "--chip", "qq1").exit_code == 0
    assert stored_chunks(settings) == 3 + 3


def test_a_typo_for_an_uploaded_chip_is_refused_with_the_known_chips(
    settings: SimpleNamespace, lexical: None, tmp_path: Path
) -> None:
    assert kb(settings, "ingest", str(write(tmp_path, "tpu8.md", MANUAL)), "--chip", "tpu8", "--new-chip").exit_code == 0
    before = json.loads(kb(settings, "list", "--json").stdout)
    other = tmp_path / "other"
    other.mkdir()
    result = kb(settings, "ingest", str(write(other, "tpu8.md", MANUAL.replace("48", "64"))), "--chip", "tpu9")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "'tpu9'" in result.stderr
    assert "tpu8" in result.stderr and "h100" in result.stderr  # uploaded and registry chips listed
    assert "--spec" in result.stderr and "--new-chip" in result.stderr
    assert json.loads(kb(settings, "list", "--json").stdout) == before  # nothing moved or added
    search = kb(settings, "search", "scratchpad", "--chip", "tpu9")
    assert search.exit_code == 2 and "'tpu9'" in search.stderr


def test_documents_are_chip_plus_path_plus_content(settings: SimpleNamespace, lexical: None, tmp_path: Path) -> None:
    ours = write(tmp_path, "manual.md", "# Guide\n\n## Notes\n\nThe H100 note says 50 MiB of L2.")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = write(elsewhere, "manual.md", "# Guide\n\n## Notes\n\nThe A100 note says 40 MiB of L2.")
    assert kb(settings, "ingest", str(ours), "--chip", "h100").exit_code == 0
    assert kb(settings, "ingest", str(theirs), "--chip", "h100").exit_code == 0  # same name, other file
    assert kb(settings, "ingest", str(ours), "--chip", "a100").exit_code == 0  # same file, other chip
    again = kb(settings, "ingest", str(ours), "--chip", "h100", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] is True
    docs = json.loads(kb(settings, "list", "--json").stdout)
    assert sorted((d["chip"], d["source_path"]) for d in docs) == sorted(
        [("h100", str(ours.resolve())), ("h100", str(theirs.resolve())), ("a100", str(ours.resolve()))]
    )
    assert all(d["chunks"] == 1 for d in docs)
    h100 = json.loads(kb(settings, "search", "L2", "--chip", "h100", "--k", "5", "--json").stdout)
    assert {h["chunk"]["source_path"] for h in h100} == {str(ours.resolve()), str(theirs.resolve())}
    ambiguous = kb(settings, "remove", "manual.md")
    assert ambiguous.exit_code == 2 and "--chip" in ambiguous.stderr
    assert kb(settings, "remove", str(ours.resolve()), "--chip", "a100").exit_code == 0
    assert stored_chunks(settings) == 2
    ours.write_text("# Guide\n\n## Notes\n\nThe H100 note now says 60 MiB.\n\n## More\n\nText.", encoding="utf-8")
    updated = json.loads(kb(settings, "ingest", str(ours), "--chip", "h100", "--json").stdout)
    assert (updated["unchanged"], updated["replaced"], updated["chunks"]) == (False, 1, 2)
    assert stored_chunks(settings) == 3  # the other folder's manual.md is untouched
