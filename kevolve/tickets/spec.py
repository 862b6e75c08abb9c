"""Ticket files: YAML with the keys ``problem``, ``chip``, ``budget``, ``priority``,
``requester`` (and optionally ``text``, ``shape``, ``dtype``, ``languages``).

``problem`` is an op name, a KernelBench file path (relative paths are relative to the YAML
file), or pasted PyTorch code (a multi-line string).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from kevolve.tickets.models import TicketSpec
from tools.errors import KevolveError


class TicketFileError(KevolveError):
    """A ticket file cannot be read as a ticket."""


def _looks_like_path(problem: str) -> bool:
    return "\n" not in problem and (problem.endswith(".py") or "/" in problem)


def load_ticket_file(path: Path) -> TicketSpec:
    """Read a ticket YAML file; a relative ``problem`` path is resolved against its folder."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TicketFileError(f"cannot read ticket file {path}: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise TicketFileError(
            f"ticket file {path} is not a mapping; write keys such as `problem: softmax` and "
            "`chip: h100`."
        )
    try:
        spec = TicketSpec.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TicketFileError(
            f"ticket file {path}: `{where}` {first['msg'].lower()}; the keys are problem, text, "
            "chip, budget, priority, requester, shape, dtype, languages."
        ) from e
    return resolve_problem_path(spec, path.parent)


def resolve_problem_path(spec: TicketSpec, base: Path) -> TicketSpec:
    """``spec`` with a relative problem file made absolute against ``base``."""
    if not spec.problem and not spec.text:
        raise TicketFileError(
            "the ticket names no problem; give `problem:` (an op, a KernelBench file or pasted "
            "code) or `text:` (the request in words)."
        )
    if spec.problem and _looks_like_path(spec.problem):
        candidate = Path(spec.problem).expanduser()
        if not candidate.is_absolute():
            candidate = (Path(base) / candidate).resolve()
        if not candidate.is_file():
            raise TicketFileError(f"the ticket's problem file {candidate} does not exist.")
        spec = spec.model_copy(update={"problem": str(candidate)})
    return spec
