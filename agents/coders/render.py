"""Rendering the offline coders' Jinja2 templates (one environment, ``StrictUndefined``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
"""Root of the template tree: ``triton/*.py.j2`` and ``cpp/*.py.j2``."""


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **variables: Any) -> str:
    """Render one template file.

    Args:
        name: Path relative to ``templates/``, e.g. ``triton/softmax.py.j2``.
        **variables: Template variables; a missing one raises ``jinja2.UndefinedError``.

    Returns:
        The rendered text, with trailing blank lines collapsed to one newline.
    """
    text = _environment().get_template(name).render(**variables)
    return text.rstrip() + "\n"


def py_literal(value: float) -> str:
    """A float as a Python/Triton literal (``2.0``, ``1e-05``), parenthesised when negative."""
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def cpp_literal(value: float) -> str:
    """A float as a C++ ``float`` literal (``2.0f``), parenthesised when negative."""
    text = repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    text += "f"
    return f"({text})" if text.startswith("-") else text
