"""The one Jinja2 environment factory of the agents' templates (prompts and kernel templates)."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def template_environment(*folders: str) -> jinja2.Environment:
    """The Jinja2 environment over template folders, searched in order (cached per folders).

    Every environment has the same options: ``StrictUndefined`` (a missing variable fails
    loudly), trimmed blocks, kept trailing newline, no autoescape (the output is prompt text
    or Python, not HTML).
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(folders)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
