"""Prompt files rendered with Jinja2 ``StrictUndefined``: a missing variable fails loudly."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2


@functools.cache
def environment(folder: str) -> jinja2.Environment:
    """A Jinja2 environment over one prompts folder (cached per folder)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(folder: Path, name: str, **variables: Any) -> str:
    """Render the template ``name`` from ``folder`` with ``variables``.

    Raises:
        jinja2.UndefinedError: The template uses a variable that was not given.
    """
    return environment(str(folder)).get_template(name).render(**variables).strip() + "\n"
