"""Prompt files rendered with Jinja2 ``StrictUndefined``: a missing variable fails loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.templating import environment


def render(folder: Path, name: str, **variables: Any) -> str:
    """Render the template ``name`` from ``folder`` with ``variables``.

    Raises:
        jinja2.UndefinedError: The template uses a variable that was not given.
    """
    return environment(str(folder)).get_template(name).render(**variables).strip() + "\n"
