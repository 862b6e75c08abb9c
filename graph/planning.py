"""Planning in one place: a ``RunRequest`` resolved into a ``Plan`` for this run's context.

The ``plan`` node, ``kevolve.api`` (before a run is created, to fail fast on bad input) and
the chat (after the intake graph built the request) all plan through :func:`plan_request`.
"""

from __future__ import annotations

from agents.planner.plan import resolve_request
from agents.planner.schemas import Plan, RunRequest
from graph.context import RunContext


def plan_request(request: RunRequest, ctx: RunContext) -> Plan:
    """Resolve problem, target and languages; raise a KevolveError on bad input.

    Chips a curator added live in ``<data_dir>/hardware_docs``; pasted code is written to
    ``<data_dir>/requests``; with a model for the ``coder`` agent every language the chip runs
    is kept, even those without an offline coder for the problem.
    """
    return resolve_request(
        request,
        extra_chip_dirs=[ctx.data_dir / "hardware_docs"],
        llm_coder=ctx.models.enabled("coder"),
        requests_dir=ctx.data_dir / "requests",
    )
