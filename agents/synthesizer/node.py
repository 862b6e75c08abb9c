"""The ``code`` node: one child of the search, written by the coder for its language.

The coder is the LLM coder when a model is configured for the ``coder`` agent, the offline
synthesizer otherwise (:func:`agents.synthesizer.select.coder_for_run`). Transient model
failures propagate as ``LLMTransientError`` so the node's ``RetryPolicy`` retries it.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.coders.base import CoderContext, fingerprint
from agents.llm.errors import LLMError
from agents.synthesizer.select import coder_for_run
from graph.context import RunContext
from graph.nodes import draft_to_candidate
from graph.state import CodeTask
from tools.errors import KevolveError
from kevolve.runstore import RunStore

log = logging.getLogger(__name__)

MAX_DUPLICATE_RETRIES = 3


def code(task: CodeTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask the child's coder for a draft; skip drafts already in the tree."""
    ctx = CoderContext.model_validate(task.context)
    child = task.child
    coder = coder_for_run(child.language, runtime.context, run_id=task.run_id)
    for attempt in range(MAX_DUPLICATE_RETRIES):
        try:
            draft = coder.propose(ctx)
        except LLMError:
            raise
        except KevolveError as e:  # every generator's moves are in the tree: no child
            log.info("child %s: no new draft (%s)", child.index, e)
            runtime.context.emit("duplicate", child=child.index)
            return {}
        key = fingerprint(draft.template, draft.params) if draft.template else ""
        if not key or key not in ctx.tried:
            break
        log.info("child %s: draft %s already tried (attempt %d)", child.index, key, attempt + 1)
        ctx = ctx.model_copy(update={"tried": [*ctx.tried, key], "rng_seed": ctx.rng_seed + 1})
    else:
        runtime.context.emit("duplicate", child=child.index)
        return {}
    cand = draft_to_candidate(
        draft,
        generation=child.generation,
        index=child.index,
        parents=[child.parent_id] if child.parent_id else [],
        memory_mode=child.memory_mode,
    )
    RunStore(runtime.context.runs_dir).save_candidate(task.run_id, cand)
    runtime.context.emit("coded", candidate_id=cand.id, author=cand.author)
    return {"candidates": {cand.id: cand.model_dump(mode="json")}}
