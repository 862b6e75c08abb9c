"""``kevolve kb``: ingest, list, search and remove knowledge-base documents.

Mount with ``app.add_typer(kb_app, name="kb")``. Settings come from ``ctx.obj`` when the
parent command put a settings object there (anything with ``data_dir`` and ``chroma_url``),
else from :func:`kevolve.settings.get_settings`. A :class:`KevolveError` prints its one
sentence on stderr and exits with status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tools.errors import KevolveError, KnowledgeBaseError, TargetError

kb_app = typer.Typer(help="Knowledge base: chip manuals and learned skills.", no_args_is_help=True)
EXIT_USER_ERROR = 2

__all__ = ["kb_app", "open_store", "shipped_docs_dir"]


def shipped_docs_dir() -> Path:
    """The folder of shipped chip guides (``hardware_docs/``)."""
    from hardware_docs import DOCS_DIR

    return DOCS_DIR


def _settings(ctx: typer.Context) -> Any:
    obj = ctx.obj
    if hasattr(obj, "data_dir") and hasattr(obj, "chroma_url"):
        return obj
    from kevolve.settings import get_settings

    return get_settings()


@kb_app.callback()
def _kb(
    ctx: typer.Context,
    data_dir: Path | None = typer.Option(None, "--data-dir", help="kevolve's data dir (default: settings)."),
) -> None:
    """Knowledge base: chip manuals and learned skills."""
    if data_dir is not None:
        from kevolve.settings import get_settings

        try:
            ctx.obj = get_settings(data_dir=data_dir)
        except ValueError as e:
            _fail(KnowledgeBaseError(f"Invalid setting: {str(e).splitlines()[0]}."))


def open_store(settings: Any, *, shipped: bool = True) -> Any:
    """Open the knowledge store the settings name, loading new or changed shipped guides.

    Args:
        settings: Has ``data_dir``, ``chroma_url`` and optionally ``embedding_model``.
        shipped: Load the shipped chip guides first (skipped when unchanged).
    """
    try:
        from vectorstore.store import KnowledgeStore
    except ImportError as e:
        raise KnowledgeBaseError(f"The knowledge base needs chromadb and sentence-transformers ({e}); install kevolve fully.") from e

    store = KnowledgeStore.from_settings(
        Path(settings.data_dir), settings.chroma_url, embedding_model=getattr(settings, "embedding_model", None)
    )
    if shipped:
        try:
            store.ensure_shipped_docs(shipped_docs_dir())
        except BaseException:
            store.close()
            raise
    return store


def _fail(error: KevolveError) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(EXIT_USER_ERROR)


def _registry_dirs(data_dir: Path) -> list[Path]:
    extra = Path(data_dir) / "hardware_docs"
    return [extra] if extra.is_dir() else []


def _resolve_chip(chip: str, data_dir: Path, *, has_spec: bool) -> tuple[str, str | None]:
    """(registry name, vendor) for a chip name or alias; unknown chips keep their name."""
    if has_spec:
        return chip.strip().lower(), None
    from tools.hardware import load_target

    try:
        target = load_target(chip, extra_dirs=_registry_dirs(data_dir))
    except TargetError:
        return chip.strip().lower(), None
    return target.name, target.vendor


def _registry_chips(data_dir: Path) -> list[str]:
    from tools.hardware import list_targets

    return [t.name for t in list_targets(extra_dirs=_registry_dirs(data_dir))]


def _unknown_chip(chip: str, known: list[str], what: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(
        f"Chip {chip!r} is neither in the hardware registry nor in the knowledge base (known: "
        f"{', '.join(known)}); {what}"
    )


@kb_app.command()
def ingest(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Manual to ingest: .pdf, .md, .markdown, .html, .htm or .txt."),
    chip: str = typer.Option(..., "--chip", help="Chip the manual describes (registry name or alias)."),
    version: str | None = typer.Option(None, "--version", help="Document version label."),
    spec: Path | None = typer.Option(None, "--spec", help="spec.yaml for a chip the registry does not know yet."),
    new_chip: bool = typer.Option(
        False, "--new-chip", help="File the manual under a chip that has no spec yet (add it later with --spec)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report as JSON."),
) -> None:
    """Add a manual for a chip; the same file ingested again for that chip changes nothing.

    CHIP must name a registry chip (or alias) or a chip that already has documents; a new chip
    comes with --spec spec.yaml, or with --new-chip when its spec does not exist yet.
    """
    from vectorstore.ingest import ingest_file

    settings = _settings(ctx)
    try:
        name, vendor = _resolve_chip(chip, settings.data_dir, has_spec=spec is not None)
        with open_store(settings, shipped=False) as store:
            if spec is None and vendor is None and not new_chip and name not in store.chips():
                known = sorted({*_registry_chips(settings.data_dir), *store.chips()})
                raise _unknown_chip(
                    chip, known, "pass --spec spec.yaml to add it, or --new-chip to file a manual before its spec exists."
                )
            report = ingest_file(
                store, file, name, version, spec, data_dir=Path(settings.data_dir), vendor=vendor
            )
    except KevolveError as e:
        _fail(e)
    if spec is None and vendor is None:
        typer.echo(
            f"Note: chip {name} is not in the hardware registry; pass --spec spec.yaml so that kevolve can target it.",
            err=True,
        )
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    console = Console()
    if report.unchanged:
        console.print(
            f"[bold]{escape(report.source_path)}[/] is already stored for chip [bold]{escape(report.chip)}[/] "
            f"({report.chunks} chunks); nothing changed.",
            highlight=False,
        )
        return
    action = f"replaced {report.replaced} old chunks" if report.replaced else "new document"
    console.print(
        f"Ingested [bold]{escape(report.source)}[/] for chip [bold]{escape(report.chip)}[/]: {report.chunks} chunks, "
        f"{report.pages} page(s), {len(report.sections)} section(s), {report.seconds:.1f} s ({action}).",
        highlight=False,
    )
    if report.spec_path:
        console.print(Text(f"Chip spec installed at {report.spec_path}."))


@kb_app.command("list")
def list_documents(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the documents as JSON."),
) -> None:
    """List stored documents (shipped chip guides and curator uploads)."""
    try:
        with open_store(_settings(ctx)) as store:
            docs = store.list_documents()
    except KevolveError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps([d.model_dump() for d in docs], indent=2))
        return
    table = Table(title=f"{len(docs)} document(s)")
    for column in ("source", "chip", "vendor", "version", "chunks", "pages", "path"):
        table.add_column(column, justify="right" if column in ("chunks", "pages") else "left")
    for d in docs:
        cells = (d.source, d.chip, d.vendor, d.version or "-", str(d.chunks), str(d.pages or "-"), d.source_path)
        table.add_row(*(Text(v) for v in cells))
    Console().print(table)


@kb_app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Question or keywords."),
    chip: str | None = typer.Option(None, "--chip", help="Only this chip's documents."),
    k: int = typer.Option(5, "--k", min=1, max=100, help="Number of results."),
    section: str | None = typer.Option(None, "--section", help="Only under this heading path, e.g. 'Memory hierarchy'."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON."),
) -> None:
    """Search the manuals, closest chunks first."""
    settings = _settings(ctx)
    try:
        name, vendor = _resolve_chip(chip, settings.data_dir, has_spec=False) if chip else (None, None)
        with open_store(settings) as store:
            if chip and vendor is None and name not in store.chips():
                known = sorted({*_registry_chips(settings.data_dir), *store.chips()})
                raise _unknown_chip(chip, known, "check the name (`kevolve kb list` shows the documents).")
            hits = store.search(query, chip=name, k=k, section_prefix=section)
    except KevolveError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps([h.model_dump() for h in hits], indent=2))
        return
    if not hits:
        typer.echo("No matching chunks.")
        return
    table = Table(show_lines=True, expand=True)
    ratios = {"source": 2, "section": 2, "text": 5}
    for column in ("#", "score", "chip", "source", "page", "section", "text"):
        table.add_column(column, overflow="fold", ratio=ratios.get(column), no_wrap=column not in ratios)
    for rank, hit in enumerate(hits, start=1):
        c = hit.chunk
        excerpt = c.text if len(c.text) <= 300 else c.text[:299] + "…"
        cells = (str(rank), f"{hit.score:.3f}", c.chip, c.source, str(c.page or "-"), c.section_path or "-", excerpt)
        table.add_row(*(Text(v) for v in cells))
    Console().print(table)


@kb_app.command()
def remove(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Source name or path, as `kevolve kb list` shows it."),
    chip: str | None = typer.Option(None, "--chip", help="Only this chip's document of that name."),
) -> None:
    """Remove a document and all its chunks."""
    try:
        settings = _settings(ctx)
        name = _resolve_chip(chip, settings.data_dir, has_spec=False)[0] if chip else None
        with open_store(settings, shipped=False) as store:
            removed = store.remove_document(source, chip=name)
        if not removed:
            raise KnowledgeBaseError(f"No document {source!r} is stored; `kevolve kb list` shows the sources.")
    except KevolveError as e:
        _fail(e)
    typer.echo(f"Removed {source} ({removed} chunks).")
