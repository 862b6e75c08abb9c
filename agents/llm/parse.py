"""Robust reading of a coder model's answer: find the one module that defines ``ModelNew``.

Models wrap code in fences (```python, ~~~, unlabelled), put prose around it, answer with
several blocks (a CUDA source and the Python module; a first try and a corrected one), or
send bare code. The rule: of every block that parses as Python and defines a top-level
``class ModelNew``, take the last one (the model's final word); without fences, take the
longest stretch of the text that parses and defines it. Anything else is an
:class:`~agents.llm.errors.LLMAnswerError` whose message is fed back to the model once.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from agents.llm.errors import LLMAnswerError

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.\-]*)[^\n]*$", re.MULTILINE)
_TRANSFORMATION = re.compile(
    r"^[ \t>*_#-]*transformation[*_]*[ \t]*[:\-][*_ \t]*(.+?)[ \t*_]*$",
    re.IGNORECASE | re.MULTILINE,
)
_CODE_START = re.compile(r"^(import |from |class |def |@|#|\"\"\"|[A-Z_][A-Z0-9_]* = )")
MAX_TRANSFORMATION = 160
UNUSABLE_PREFIX = "unusable model answer: "
"""Start of the ``transformation`` of a child whose model answer could not be used."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string (``python``, ``cpp``, ``""``) and text."""

    lang: str
    code: str
    closed: bool


@dataclass(frozen=True)
class ParsedAnswer:
    """The usable part of an answer."""

    source: str
    """The module defining ``ModelNew``."""
    transformation: str
    """What the model says it changed (one line), or a default."""


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block in ``text`` (an unclosed last fence runs to the end)."""
    blocks: list[Block] = []
    pos = 0
    while True:
        opener = _FENCE.search(text, pos)
        if opener is None:
            return blocks
        fence, lang = opener.group(1), opener.group(2).lower()
        body_start = opener.end() + 1
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = closer.search(text, body_start)
        if end is None:
            blocks.append(Block(lang, text[body_start:], closed=False))
            return blocks
        blocks.append(Block(lang, text[body_start : end.start()], closed=True))
        pos = end.end()


def defines_model_new(tree: ast.Module) -> bool:
    """True when the module defines ``ModelNew`` at top level (class or assignment)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "ModelNew":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ModelNew" for t in node.targets
        ):
            return True
    return False


def _try(code: str) -> tuple[bool, str]:
    """(defines ModelNew, syntax error text or "")."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return False, f"{e.msg} (line {e.lineno})"
    return defines_model_new(tree), ""


def _bare_code(text: str) -> str | None:
    """The longest stretch of unfenced text that parses and defines ModelNew."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    for start in starts[:5]:
        for end in range(len(lines), start, -1):
            chunk = "\n".join(lines[start:end]).strip()
            if "ModelNew" in chunk and _try(chunk)[0]:
                return chunk + "\n"
            if len(lines) - end > 40:  # do not trim more than 40 lines of trailing prose
                break
    return None


def transformation_of(text: str, default: str) -> str:
    """The model's one-line ``Transformation:`` (outside code), or ``default``."""
    prose = text
    for block in fenced_blocks(text):
        prose = prose.replace(block.code, "")
    match = _TRANSFORMATION.search(prose)
    if match:
        return match.group(1).strip()[:MAX_TRANSFORMATION]
    return default


def extract_model_new(text: str, default_transformation: str = "LLM rewrite") -> ParsedAnswer:
    """The module defining ``ModelNew`` in a model's answer.

    Args:
        text: The answer's text.
        default_transformation: Used when the answer names no ``Transformation:``.

    Raises:
        LLMAnswerError: One sentence saying why no usable module was found.
    """
    if not text or not text.strip():
        raise LLMAnswerError(
            "the answer is empty; reply with one ```python block defining ModelNew."
        )
    blocks = fenced_blocks(text)
    if not blocks:
        bare = _bare_code(text)
        if bare is None:
            raise LLMAnswerError(
                "the answer has no code block defining class ModelNew; reply with one ```python "
                "block holding the complete module."
            )
        return ParsedAnswer(bare, transformation_of(text, default_transformation))
    syntax_errors: list[str] = []
    chosen: str | None = None
    for block in blocks:
        ok, error = _try(block.code)
        if ok:
            chosen = block.code
        elif error and "ModelNew" in block.code:
            syntax_errors.append(error if block.closed else f"{error}; the block is not closed "
                                 "(was the answer cut off?)")  # fmt: skip
    if chosen is not None:
        return ParsedAnswer(
            chosen.strip("\n") + "\n", transformation_of(text, default_transformation)
        )
    if syntax_errors:
        raise LLMAnswerError(
            f"the code block defining ModelNew is not valid Python: {syntax_errors[-1]}."
        )
    raise LLMAnswerError(
        f"none of the answer's {len(blocks)} code block(s) defines a top-level class ModelNew; "
        "put the whole module, with ModelNew, in one ```python block."
    )
