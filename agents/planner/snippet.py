"""Pasted PyTorch code that is not a KernelBench file: made into one, verbatim.

A chat message may carry a fragment instead of a whole ``class Model`` file: an expression
(``torch.tanh(x) * y + 1.0``), a ``return`` line, a few statements, or a function. The problem
file then has that code, unchanged, as the body of ``Model.forward``; its free names become
``forward``'s arguments (in order of first use) and the inputs are random tensors of the shape
(and dtype) the request gives, asked for when it gives none. Code that cannot be made into a
faithful problem (not Python, or calling a function it does not define) is refused with a
sentence saying why; it is never replaced by a named operator that merely appears in it.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap

from tools.errors import ProblemError

MODULE_NAMES = {"torch", "F", "nn", "math"}
"""Names the problem file imports, so code may use them without defining them."""
_FENCED = re.compile(r"```[\w]*\n(.*?)```", re.DOTALL)
_CODE_START = re.compile(r"(?:^|(?<=[\s:;]))(return\s|lambda\b|def\s+\w+\s*\(|torch\.|F\.)")
_MAX_TRIM = 12


def _parses(code: str) -> bool:
    try:
        ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return False
    return True


def _parse_fragment(code: str) -> ast.Module | None:
    code = textwrap.dedent(code).strip()
    for source in (code, "def _f():\n" + textwrap.indent(code, "    ")):
        try:
            return ast.parse(source)
        except SyntaxError:
            continue
    return None


def find_snippet(text: str) -> str | None:
    """The code fragment in a message, or ``None`` when it carries none.

    A fenced block is taken whole. Otherwise the fragment starts at the first ``return``,
    ``lambda``, ``def``, ``torch.`` or ``F.`` and runs to the end of the message, less any
    trailing words that stop it parsing (``return x * 2 for the h100``); when no ending
    parses, the whole rest is returned (and refused later with the parse error).
    """
    fenced = _FENCED.search(text)
    if fenced:
        return fenced.group(1).strip("\n") + "\n"
    m = _CODE_START.search(text)
    if not m:
        return None
    keyword = not m.group(1).endswith(".")  # return/def/lambda: code; torch./F.: maybe a name
    rest = text[m.start() :].strip()
    lines = rest.splitlines()
    for n_lines in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:n_lines])
        words = candidate.split(" ")
        for trim in range(0, min(_MAX_TRIM, len(words) - 1) + 1):
            piece = " ".join(words[: len(words) - trim]).rstrip(" .,;")
            if _parse_fragment(piece) is not None and (keyword or _computes(piece)):
                return piece + "\n"
    return rest + "\n" if keyword else None


def _computes(piece: str) -> bool:
    """Whether a ``torch.``-led phrase is code computing on inputs, not a name in prose."""
    try:
        forward_of(piece)
    except ProblemError:
        return False
    return True


def _ordered_names(tree: ast.AST) -> list[ast.Name]:
    names = [n for n in ast.walk(tree) if isinstance(n, ast.Name)]
    return sorted(names, key=lambda n: (n.lineno, n.col_offset))


def forward_of(snippet: str) -> tuple[list[str], str]:
    """(argument names, body of ``forward`` indented by 8 spaces) for a code fragment.

    Raises:
        ProblemError: The fragment is not Python, or calls a name it does not define.
    """
    code = textwrap.dedent(snippet).strip()
    tree = _parse_fragment(code)
    if tree is None:
        try:
            ast.parse(code)
        except SyntaxError as e:
            raise ProblemError(
                f"The pasted code is not valid Python ({e.msg}, line {e.lineno}); paste a complete "
                "expression, function or KernelBench file."
            ) from e
        raise ProblemError("The pasted code is not valid Python; paste a complete expression, function or KernelBench file.")
    wrapped = int(not _parses(code))  # a bare ``return``: parsed inside a function
    body_tree = tree.body[0].body if wrapped else tree.body  # type: ignore[attr-defined]
    functions = [s for s in body_tree if isinstance(s, ast.FunctionDef)]
    if len(body_tree) == 1 and functions:
        fn = functions[0]
        args = [a.arg for a in fn.args.args if a.arg != "self"]
        lines = code.splitlines()
        body = textwrap.dedent("\n".join(lines[fn.body[0].lineno - 1 : fn.end_lineno]))
        scope: ast.AST = fn
        defined = set(args)
    else:
        last = body_tree[-1] if body_tree else None
        body = code
        if isinstance(last, ast.Expr):  # a bare expression: its value is the output
            lines = code.splitlines()
            first, col = last.lineno - 1 - wrapped, last.col_offset - 4 * wrapped
            lines[first] = lines[first][:col] + "return " + lines[first][col:]
            body = "\n".join(lines)
        elif not isinstance(last, ast.Return):
            raise ProblemError(
                "The pasted code does not end in an expression or a return, so it has no output; "
                "end it with the value to compute (for example `return torch.tanh(x) * y`)."
            )
        scope, defined, args = tree, set(), []
    stored = {n.id for n in ast.walk(scope) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    stored |= {a.arg for a in ast.walk(scope) if isinstance(a, ast.arg)}
    calls = {c.func.id for c in ast.walk(scope) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    unknown = sorted(calls - stored - MODULE_NAMES - set(dir(builtins)) - defined)
    if unknown:
        raise ProblemError(
            f"The pasted code calls {', '.join(unknown)}, which it does not define; paste "
            "its definition too, or a whole KernelBench file."
        )
    if not args:
        for name in _ordered_names(scope):
            free = name.id not in stored and name.id not in MODULE_NAMES and not hasattr(builtins, name.id)
            if isinstance(name.ctx, ast.Load) and free and name.id not in args:
                args.append(name.id)
    if not args:
        raise ProblemError("The pasted code reads no input; write it in terms of its input tensors (x, y, ...).")
    return args, textwrap.indent(body.strip("\n"), " " * 8)


def snippet_problem(snippet: str, shape: list[int], dtype: str = "float32") -> str:
    """A KernelBench problem file whose ``forward`` is ``snippet``, verbatim.

    Args:
        snippet: The pasted fragment.
        shape: Shape of every input tensor.
        dtype: torch dtype name of the inputs.

    Raises:
        ProblemError: See :func:`forward_of`.
    """
    args, body = forward_of(snippet)
    first_line = " ".join(snippet.strip().splitlines()[0].split())[:100].replace('"""', "'''")
    dims = ", ".join(str(int(d)) for d in shape)
    inputs = ", ".join(f"torch.randn({dims}, dtype=torch.{dtype})" for _ in args)
    return (
        "import math\n\n"
        "import torch\n"
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n\n\n"
        "class Model(nn.Module):\n"
        f'    """Pasted in a request: {first_line}"""\n\n'
        "    def __init__(self):\n"
        "        super().__init__()\n\n"
        f"    def forward(self, {', '.join(args)}):\n"
        f"{body}\n\n\n"
        "def get_inputs():\n"
        f"    return [{inputs}]\n\n\n"
        "def get_init_inputs():\n"
        "    return []\n"
    )
