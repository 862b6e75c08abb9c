"""Rendering the generators' Jinja2 templates (one environment factory) and literals."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

KIT_TEMPLATES = Path(__file__).parent / "templates"
"""The shared base templates every generator's templates may extend (``triton/_base.py.j2``)."""


@cache
def template_environment(folder: str) -> jinja2.Environment:
    """The one Jinja2 environment of a generator's template folder (cached per folder).

    Names resolve in ``folder`` first, then in the kit's base templates; every environment
    has the same options: ``StrictUndefined`` (a missing variable fails), trimmed blocks,
    kept trailing newline, no autoescape (the output is Python, not HTML).
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([folder, str(KIT_TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_template(folder: Path, name: str, **variables: Any) -> str:
    """Render one template of a generator.

    Args:
        folder: The generator's ``templates/`` folder.
        name: Path relative to it (or to the kit's templates), e.g. ``triton/softmax.py.j2``.
        **variables: Template variables; a missing one raises ``jinja2.UndefinedError``.

    Returns:
        The rendered text, with trailing blank lines collapsed to one newline.
    """
    text = template_environment(str(folder)).get_template(name).render(**variables)
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
