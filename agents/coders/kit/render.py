"""Rendering the generators' Jinja2 templates (the agents' one environment factory) and literals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from agents.coders.kit.chip import is_hip
from agents.templating import environment
from tools.records import Target

KIT_TEMPLATES = Path(__file__).parent / "templates"
"""The shared base templates every generator's templates may extend (``triton/_base.py.j2``)."""


def template_environment(folder: str) -> jinja2.Environment:
    """The Jinja2 environment of a generator's template folder: names resolve in ``folder``
    first, then in the kit's base templates (``agents.templating.environment``, cached)."""
    return environment(folder, str(KIT_TEMPLATES))


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


LAUNCH_EVERYWHERE = ("num_warps", "num_stages")
"""Launch options every backend takes; the others (``waves_per_eu``...) are AMD's alone."""
LAUNCH_KEYS = (*LAUNCH_EVERYWHERE, "waves_per_eu", "matrix_instr_nonkdim")
"""The Triton templates' launch options, in the order they are passed."""


def launch_options(params: Mapping[str, Any], launch_keys: Sequence[str], hip: bool) -> dict:
    """The ``launch_keys`` of ``params`` passed to a launch (the AMD-only ones only on AMD)."""
    return {k: params[k] for k in launch_keys if k in params and (hip or k in LAUNCH_EVERYWHERE)}


def base_variables(
    title: str,
    template: str,
    params: Mapping[str, Any],
    target: Target,
    launch_keys: Sequence[str],
    hip: bool | None = None,
) -> dict[str, Any]:
    """The variables of the kit's base template ``triton/_base.py.j2``.

    Args:
        title: The module docstring's first line.
        template: The template name recorded in the module (``triton.attention``).
        params: The configuration; its ``launch_keys`` become the launch options, the
            AMD-only ones only on an AMD target.
        target: The chip written for.
        launch_keys: The parameters passed to the launch, in order.
        hip: Whether the target is AMD (default: read from ``target``).
    """
    hip = is_hip(target) if hip is None else hip
    launch = launch_options(params, launch_keys, hip)
    return {
        "title": title,
        "template": template,
        "params_text": ", ".join(f"{k}={v}" for k, v in params.items()),
        "hip": hip,
        "num_cus": target.compute_units,
        "target_name": target.name,
        "launch": repr(launch),
    }


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
