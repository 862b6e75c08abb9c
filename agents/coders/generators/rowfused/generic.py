"""Shape-generic modules: every size-derived literal becomes an expression of the call's sizes.

The problem is traced twice more with its size constants moved (``tools.problems.resize``),
and the module is rendered for each trace with the same configuration. The three texts must
have the same tokens except numbers; a number that differs derives from a size and is matched
to an expression that gives its value in all three traces: in the wrapper, of the operands'
dims (``p0.shape[1]``, products of several dims, their powers of two); in the kernel, of its
arguments ``N``, ``INNER`` and ``n_rows`` (or of the wrapper's sizes, passed as extra ``KV_S*``
arguments). Floats may also be ``1/x``, ``x-1`` or ``1/(x-1)`` (mean divisors, variance
corrections); ints a size times or divided by a fixed integer (group counts). A number with
no match, or texts that differ in anything else, mean the pattern is not generic: the
generator then declines. Numbers in strings and comments (docstrings) keep the traced values.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
import tokenize
from collections.abc import Callable

from tools.errors import ProblemError
from tools.problems.fit import validate_source
from tools.problems.resize import declared_sizes, resize_source
from tools.records import Problem

logger = logging.getLogger(__name__)

KERNEL = "_kv_rowfused_kernel"
COMBINE = "_kv_rowfused_combine"
WRAPPER = "_kv_rowfused"
RULES: tuple[Callable[[int, int], int], ...] = (
    lambda d, i: d // 2 + 3,
    lambda d, i: d // 3 + 5 + 2 * i,
)
"""How the two extra traces move the ``i``-th size ``d`` (before snapping to its step): the
evaluator's irregular rule, then one that moves equal sizes apart (``H`` from ``W``)."""

Values = tuple[int, ...]
"""One quantity in each trace (the original first)."""


def resized_problems(problem: Problem) -> list[Problem] | None:
    """The problem at the other sizes of :data:`RULES`, or ``None`` when it has no sizes.

    Raises:
        ProblemError: A rule leaves every size as it was (nothing to compare).
    """
    try:
        sizes = declared_sizes(problem.source)
    except ProblemError:
        return None
    if not sizes:
        return None
    moved = [
        {s.name: s.granularity * max(1, rule(s.value, i) // s.granularity) for i, s in enumerate(sizes)}
        for rule in RULES
    ]  # fmt: skip
    tied = _tied_sizes(problem.source, moved)
    out = []
    for new in moved:
        new = {name: value for name, value in new.items() if name not in tied}
        if all(new.get(s.name, s.value) == s.value for s in sizes):
            raise ProblemError(
                "The problem's sizes are too small to re-trace at other sizes; the row-fused"
                " kernel cannot be made shape-generic."
            )
        source = resize_source(problem.source, new)
        out.append(problem.model_copy(update={"source": source, "name": problem.name + "_rs"}))
    return out


def _tied_sizes(source: str, moved: list[dict[str, int]]) -> set[str]:
    """Sizes that stay as they are: those tied to a constant that does not move.

    A KernelBench file names its sizes without saying how they depend on each other (its
    channels must stay divisible by a group count, a view needs a product). When the problem
    does not run with every size moved, each size is moved alone: one whose move alone
    breaks the reference is kept at its value in every extra trace (a kernel may then hold
    it as a literal, which is right: the problem never changes it either), as
    ``tools.problems.fit`` pins the sizes it cannot shrink. A problem that does not run even
    as written is left to the trace's own error.
    """
    if not any(validate_source(resize_source(source, new)) for new in moved):
        return set()
    if validate_source(source):
        return set()
    return {
        name for new in moved for name, value in new.items()
        if validate_source(resize_source(source, {name: value}))
    }  # fmt: skip


def _int_atoms(shapes: list[list[tuple[int, ...]]]) -> list[tuple[str, Values]]:
    """Wrapper size expressions: each operand's dims and products of several of its dims.

    Operands of higher rank come first (the inputs rather than a weight that matches them);
    single dims come before products, adjacent runs before other subsets.
    """
    atoms: list[tuple[str, Values]] = []
    order = sorted(range(len(shapes[0])), key=lambda k: -len(shapes[0][k]))
    for size in range(1, 7):
        for k in order:
            rank = len(shapes[0][k])
            subsets = [c for c in itertools.combinations(range(rank), size)]
            subsets.sort(key=lambda c: c[-1] - c[0] != len(c) - 1)
            for dims in subsets:
                expr = " * ".join(f"p{k}.shape[{j}]" for j in dims)
                vals = tuple(math.prod(s[k][j] for j in dims) for s in shapes)
                atoms.append((f"({expr})" if size > 1 else expr, vals))
    return atoms


def _kernel_atoms(geos: list[tuple[int, int, int]]) -> list[tuple[str, Values]]:
    """Kernel size expressions over its arguments ``N``, ``INNER`` and ``n_rows``."""
    return [
        ("N", tuple(g[1] for g in geos)),
        ("INNER", tuple(g[2] for g in geos)),
        ("n_rows", tuple(g[0] * g[2] for g in geos)),
        ("(n_rows // INNER)", tuple(g[0] for g in geos)),
        ("(N * INNER)", tuple(g[1] * g[2] for g in geos)),
        ("(n_rows * N)", tuple(g[0] * g[1] * g[2] for g in geos)),
    ]


_FORMS: tuple[tuple[str, Callable[[int], float], bool], ...] = (
    ("{}", float, False),
    ("triton.next_power_of_2({})", lambda v: float(1 << max(v - 1, 0).bit_length()), False),
    ("(1.0 / {})", lambda v: 1.0 / v if v else math.inf, True),
    ("({} - 1)", lambda v: v - 1.0, True),
    ("(1.0 / ({} - 1))", lambda v: 1.0 / (v - 1) if v != 1 else math.inf, True),
)
"""How a number derives from a size: ``(template, value of a size, float only)``."""


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def _match(
    values: tuple[float, ...], atoms: list[tuple[str, Values]], is_float: bool, pow2: bool
) -> tuple[str, str] | None:
    """``(template, atom expression)`` of the first form that gives ``values`` in every trace."""
    for template, form, float_only in _FORMS:
        if (float_only and not is_float) or (not pow2 and "power" in template):
            continue
        for expr, vals in atoms:
            if all(_close(a, form(v)) for a, v in zip(values, vals, strict=True)):
                return template, expr
    return None if is_float else _scaled(values, atoms)


def _scaled(values: tuple[float, ...], atoms: list[tuple[str, Values]]) -> tuple[str, str] | None:
    """A size times or divided by a fixed integer (a group count that does not resize)."""
    if any(v <= 0 or v != int(v) for v in values):
        return None
    for expr, vals in atoms:
        if any(v <= 0 for v in vals):
            continue
        if all(int(a) % v == 0 for a, v in zip(values, vals, strict=True)):
            ratios = {int(a) // v for a, v in zip(values, vals, strict=True)}
            if len(ratios) == 1:
                return f"({{}} * {ratios.pop()})", expr
        if all(v % int(a) == 0 for a, v in zip(values, vals, strict=True)):
            ratios = {v // int(a) for a, v in zip(values, vals, strict=True)}
            if len(ratios) == 1:
                return f"({{}} // {ratios.pop()})", expr
    return None


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def _owner(lines: list[str]) -> list[str]:
    """The top-level ``def`` each line (1-based index) belongs to, ``""`` outside any."""
    owner, current = [""], ""
    for line in lines:
        found = re.match(r"def (\w+)", line)
        if found:
            current = found.group(1)
        elif line and not line[0].isspace() and not line.startswith(("#", "@", ")")):
            current = ""
        owner.append(current)
    return owner


def generalise(
    texts: list[str],
    shapes: list[list[tuple[int, ...]]],
    geos: list[tuple[int, int, int]],
) -> str:
    """The first module text with every size-derived number replaced by an expression.

    Args:
        texts: The module rendered at the original sizes, then at each resized trace.
        shapes: Per trace, the operand shapes (``p0``, ``p1``... in order).
        geos: Per trace, ``(outer, n, inner)`` of the row space.

    Raises:
        ProblemError: The texts differ in more than numbers, or a number matches no size
            expression.
    """
    streams = [_tokens(t) for t in texts]
    if len({len(s) for s in streams}) != 1:
        raise ProblemError("The kernel's structure changes with the sizes; it is not generic.")
    wrapper_atoms = _int_atoms(shapes)
    kernel_atoms = _kernel_atoms(geos)
    owner = _owner(texts[0].splitlines())
    edits: list[tuple[int, int, int, str]] = []
    extra: dict[str, str] = {}
    """Wrapper expression -> name of the extra kernel argument that carries it."""
    for toks in zip(*streams, strict=True):
        first = toks[0]
        if first.type in (tokenize.STRING, tokenize.COMMENT):
            continue
        if any(t.type != first.type for t in toks):
            raise ProblemError("The kernel's structure changes with the sizes; it is not generic.")
        if first.type != tokenize.NUMBER:
            if any(t.string != first.string for t in toks):
                raise ProblemError(
                    f"The kernel's text changes with the sizes ({first.string!r}); it is not"
                    " generic."
                )
            continue
        if all(t.string == first.string for t in toks):
            continue
        is_float = any(c in first.string for c in ".eE")
        values = tuple(float(t.string) for t in toks)
        where = owner[first.start[0]]
        expr = None
        if where in (KERNEL, COMBINE):  # COMBINE: the split variant's second kernel
            found = _match(values, kernel_atoms, is_float, pow2=False)
            if found is None:  # a size the kernel does not have: pass it as an argument
                found = _match(values, wrapper_atoms, is_float, pow2=False)
                if found is not None:
                    name = extra.setdefault(found[1], f"KV_S{len(extra)}")
                    found = (found[0], name)
        elif where == WRAPPER:
            found = _match(values, wrapper_atoms, is_float, pow2=True)
        else:
            found = None
        if found is None:
            raise ProblemError(
                f"A size-derived constant ({first.string} in {where or 'the module'}) matches no"
                " expression of the input sizes; the kernel cannot be made shape-generic."
            )
        expr = found[0].format(found[1])
        edits.append((first.start[0], first.start[1], first.end[1], expr))
    lines = texts[0].splitlines(keepends=True)
    for row, start, end, expr in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + expr + line[end:]
    out = _add_arguments("".join(lines), extra)
    compile(out, "<rowfused>", "exec")
    logger.debug("row-fused module generalised: %d size-derived numbers", len(edits))
    return out


def _add_arguments(text: str, extra: dict[str, str]) -> str:
    """Declare the extra size arguments in the kernel and pass them at the launch."""
    if not extra:
        return text
    heads = (
        "    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,\n",
        "    BLOCK_M: tl.constexpr, SPLIT: tl.constexpr, BLOCK_N: tl.constexpr,\n",
    )
    launch = "        BLOCK_M="
    found = [h for h in heads if text.count(h) == 1]
    if not found or any(text.count(h) > 1 for h in heads) or text.count(launch) != len(found):
        raise ProblemError("The kernel's signature is not the expected one; cannot add sizes.")
    declared = "".join(f"    {name}: tl.constexpr,\n" for name in extra.values())
    passed = "".join(f"        {name}={expr},\n" for expr, name in extra.items())
    for head in found:  # every kernel of the module (the split variant has two) takes them
        text = text.replace(head, head + declared)
    return text.replace(launch, passed + launch)
