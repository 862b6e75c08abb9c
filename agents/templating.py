"""The agents' one Jinja2 environment factory: the coders' kernel templates and the LLM
prompts are rendered with the same options."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment(*folders: str) -> jinja2.Environment:
    """An environment whose template names resolve in ``folders``, in order (cached).

    Every environment has the same options: ``StrictUndefined`` (a missing variable fails
    loudly), trimmed blocks, kept trailing newline, no autoescape (the output is code or
    prompt text, not HTML).
    """
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(folders)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
