"""Rendering a generator's own Jinja2 templates on top of the shared Triton base template.

A generator package keeps its templates in its own ``templates/`` folder; they may
``{% extends "triton/_base.py.j2" %}`` from ``agents/coders/templates`` (imports, launch
options, the ``ModelNew`` block). Same settings as ``agents.coders.render``:
``StrictUndefined``, trimmed blocks, no autoescape.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from agents.coders.render import TEMPLATE_DIR


@lru_cache(maxsize=8)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([folder, str(TEMPLATE_DIR)]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_local(folder: Path, name: str, **variables: Any) -> str:
    """Render ``name`` from ``folder`` (falling back to the shared template tree).

    Args:
        folder: The generator's template folder.
        name: Template file name inside it, e.g. ``attention.py.j2``.
        **variables: Template variables; a missing one raises ``jinja2.UndefinedError``.

    Returns:
        The rendered text, ending in exactly one newline.
    """
    text = _environment(str(folder)).get_template(name).render(**variables)
    return text.rstrip() + "\n"
