"""Benchmark suites: which problems a ``kevolve bench`` runs, and at what size.

A suite is a folder of KernelBench files, usually with a ``suite.yaml``::

    suite: kernelbench_h100
    problems:
      - {file: 001_relu.py, family: pointwise, kind: memory}

``family`` is the op family (also the first word of each file's docstring, before a colon);
``kind`` says which ceiling the problem is judged against: ``memory`` (copy bandwidth) or
``compute`` (the matmul rate of its dtype); the bench replaces that kind with the one its
counted bytes and FLOPs give (``tools.ceilings.bound_kind``). A folder without
``suite.yaml`` is read from its ``*.py`` files (KernelBench's ``level1/`` ...), or from those
of its subfolders when it has none (KernelBench's ``KernelBench/`` folder): the family from
the docstring (``unknown`` for KernelBench files; the bench then uses the traced op family).
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ValidationError

from tools.errors import ProblemError
from tools.problems.fit import fit_problem, validate_source
from tools.problems.resize import resize_source

SUITE_FILE = "suite.yaml"
FAMILIES = frozenset({
    "pointwise", "reduction", "softmax", "norm", "scan", "loss", "matmul", "matvec",
    "attention", "pooling", "gather", "fused",
})  # fmt: skip
"""Op families a suite entry may declare."""
_COMPUTE_FAMILIES = frozenset({"matmul", "attention"})

Kind = Literal["memory", "compute"]


class SuiteEntry(BaseModel):
    """One problem of a suite."""

    file: str
    family: str
    kind: Kind = "memory"

    @property
    def name(self) -> str:
        """The problem's name: its path without ``.py`` (``001_relu``, ``level1/23_Softmax``)."""
        return Path(self.file).with_suffix("").as_posix()


class Suite(BaseModel):
    """A resolved suite: its folder and entries, in file order."""

    name: str
    folder: Path
    entries: list[SuiteEntry]


def problems_root() -> Path:
    """The folder that holds the named suites (``evals/problems``)."""
    return Path(__file__).resolve().parents[1] / "evals" / "problems"


def docstring_family(path: Path) -> str:
    """The family named by a problem file's docstring (``"norm: ..."`` -> ``norm``)."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError, UnicodeDecodeError):
        return "unknown"
    head = doc.split(":", 1)[0].strip() if ":" in doc else ""
    return head if head in FAMILIES else "unknown"


def resolve_suite(suite: str | Path) -> Suite:
    """Find a suite by folder path or by name under ``evals/problems``.

    Args:
        suite: A folder, or the name of one under ``evals/problems`` (``kernelbench_h100``).

    Returns:
        The suite with its entries.

    Raises:
        ProblemError: No such folder, a malformed ``suite.yaml``, an entry naming a missing
            file or an unknown family, or a folder without problems.
    """
    folder = Path(suite).expanduser()
    if not folder.is_dir():
        folder = problems_root() / str(suite)
    if not folder.is_dir():
        known = (
            sorted(p.name for p in problems_root().iterdir() if p.is_dir())
            if problems_root().is_dir()
            else []
        )
        raise ProblemError(
            f"no benchmark suite {str(suite)!r}: give a folder of problems or one of "
            f"{', '.join(known) or '(none shipped)'}"
        )
    index = folder / SUITE_FILE
    if index.is_file():
        entries = _read_index(index)
        name = yaml.safe_load(index.read_text(encoding="utf-8")).get("suite") or folder.name
    else:
        entries = [
            SuiteEntry(file=p.relative_to(folder).as_posix(), family=(fam := docstring_family(p)),
                       kind="compute" if fam in _COMPUTE_FAMILIES else "memory")
            for p in _problem_files(folder)
        ]  # fmt: skip
        name = folder.name
    if not entries:
        raise ProblemError(f"benchmark suite {folder} holds no problem files")
    for entry in entries:
        if not (folder / entry.file).is_file():
            raise ProblemError(f"suite {folder} lists {entry.file}, which does not exist")
    return Suite(name=str(name), folder=folder.resolve(), entries=entries)


def _natural(path: Path) -> tuple[int, str]:
    """KernelBench order: ``2_x.py`` before ``10_x.py`` (leading number, then name)."""
    head = path.name.split("_", 1)[0]
    return (int(head) if head.isdigit() else 1 << 30, path.name)


def _problem_files(folder: Path) -> list[Path]:
    """The problem files of a folder without ``suite.yaml``.

    Its own ``*.py`` files; or, for a folder that has none (a KernelBench checkout's
    ``KernelBench/`` folder), those of its subfolders (``level1/``, ``level2/``...), each
    level in KernelBench's numeric order.
    """
    def own(d: Path) -> list[Path]:
        return sorted((p for p in d.glob("*.py") if not p.name.startswith("_")), key=_natural)

    files = own(folder)
    if files:
        return files
    return [p for sub in sorted(x for x in folder.iterdir() if x.is_dir()) for p in own(sub)]


def _read_index(index: Path) -> list[SuiteEntry]:
    try:
        data = yaml.safe_load(index.read_text(encoding="utf-8")) or {}
        entries = [SuiteEntry.model_validate(e) for e in data.get("problems", [])]
    except (OSError, yaml.YAMLError, ValidationError, AttributeError, TypeError) as e:
        raise ProblemError(f"suite index {index} is malformed: {str(e).splitlines()[0]}") from e
    for entry in entries:
        if entry.family not in FAMILIES:
            raise ProblemError(
                f"suite index {index}: {entry.file} has unknown family {entry.family!r}; "
                f"use one of {', '.join(sorted(FAMILIES))}"
            )
    return entries


def select(entries: list[SuiteEntry], only: str | None) -> list[SuiteEntry]:
    """Entries matching ``only``: comma-separated glob patterns on the name, or family names.

    ``"00*,softmax"`` keeps the problems whose name starts with ``00`` and every softmax
    problem. ``None`` or an empty string keeps all.
    """
    if not only:
        return list(entries)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    return [
        e for e in entries
        if any(e.family == p or fnmatch.fnmatchcase(e.name, p) or fnmatch.fnmatchcase(e.file, p)
               for p in patterns)
    ]  # fmt: skip


def prepare_file(
    suite: Suite,
    entry: SuiteEntry,
    out_dir: Path,
    *,
    scale: float = 1.0,
    max_mb: float | None = None,
) -> tuple[Path, float, str]:
    """The file a bench runs for ``entry``: the original, or a resized copy in ``out_dir``.

    Args:
        suite: The suite.
        entry: The problem.
        out_dir: Where resized copies go (``<out>/problems/``).
        scale: Factor applied to every size (``tools.problems.resize``: the declared
            ``KEVOLVE_SIZES``, or the module-level size constants of a KernelBench file).
        max_mb: After scaling, shrink further until inputs plus parameters take at most
            this many MiB; the resized file is validated by running its reference
            (``tools.problems.fit``).

    Returns:
        The path to run, the overall size factor applied (1.0: the original file), and a
        note (empty, or one sentence saying why the file is not within the budget).
    """
    path = suite.folder / entry.file
    if scale == 1.0 and max_mb is None:
        return path, 1.0, ""
    source = path.read_text(encoding="utf-8")
    factor, note = scale, ""
    if scale != 1.0:
        scaled = resize_source(source, scale)
        if scaled == source:
            note = f"not scaled by {scale:g}: no size constant found"
        elif error := validate_source(scaled):
            note = f"not scaled by {scale:g}: the scaled file fails to run ({error})"
            factor = 1.0
        else:
            source = scaled
    if max_mb is not None:
        fit = fit_problem(source, int(max_mb * 2**20))
        source, factor = fit.source, factor * fit.factor
        note = "; ".join(x for x in (note, fit.note) if x)
    target = out_dir / entry.file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    return target, factor, note
