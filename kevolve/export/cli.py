"""``kevolve export RUN_ID --format kernelbench|torch-op --out DIR``. Mount with :func:`register`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kevolve.console import fail, out, print_json
from tools.errors import KevolveError


class Format(str, Enum):
    kernelbench = "kernelbench"
    torch_op = "torch-op"


def export(
    run_id: Annotated[str, typer.Argument(help="A finished run (`kevolve runs list`).")],
    fmt: Annotated[Format, typer.Option("--format", help="kernelbench or torch-op.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the package into.")],
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Where runs live.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Export a run's best kernel as a KernelBench package or a torch.library custom op."""
    from kevolve.console import load_settings as _settings
    from kevolve.export.bundle import load_bundle
    from kevolve.export.kernelbench import write_kernelbench
    from kevolve.export.torch_op import write_torch_op

    settings = _settings(data_dir=data_dir)
    try:
        bundle = load_bundle(settings.runs_dir, run_id)
        if fmt is Format.torch_op:
            path, op = write_torch_op(bundle, out_dir), f"kevolve::{bundle.op_name}"
        else:
            path, op = write_kernelbench(bundle, out_dir), None
    except KevolveError as e:
        fail(str(e))
    view = {"format": fmt.value, "path": str(path.resolve()), "package": bundle.package, "op": op}
    if json_out:
        print_json(view)
        return
    out.print(f"wrote the {fmt.value} package {bundle.package} to:", highlight=False)
    out.print(str(path.resolve()), highlight=False, soft_wrap=True)
    if op:
        out.print(f"op: torch.ops.{op.replace('::', '.')}", highlight=False, soft_wrap=True)
    out.print(f"use it with the folder on sys.path: import {bundle.package}", highlight=False,
              soft_wrap=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``kevolve export`` to the main app."""
    app.command("export")(export)
