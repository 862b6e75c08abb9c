"""Write one child of the search with its language's coder, never a draft already tried."""

from __future__ import annotations

import logging

from agents.coders.base import Coder, CoderContext, Draft, fingerprint
from agents.llm.errors import LLMError
from tools.errors import KevolveError

log = logging.getLogger(__name__)

MAX_DUPLICATE_RETRIES = 3


def write_child(coder: Coder, ctx: CoderContext) -> Draft | None:
    """The coder's draft for one child; ``None`` when every attempt repeated a tried draft or
    the coder has no new move (a ``KevolveError`` from ``propose``: all its moves are in the tree).

    A repeated draft (same template and parameters as one in ``ctx.tried``) is asked for
    again with the next seed, up to :data:`MAX_DUPLICATE_RETRIES` times. Transient model
    failures propagate as ``LLMTransientError`` so the graph's ``RetryPolicy`` retries them.
    """
    for attempt in range(MAX_DUPLICATE_RETRIES):
        try:
            draft = coder.propose(ctx)
        except LLMError:
            raise
        except KevolveError as e:
            log.info("no new draft: %s", e)
            return None
        key = fingerprint(draft.template, draft.params) if draft.template else ""
        if not key or key not in ctx.tried:
            return draft
        log.info("draft %s already tried (attempt %d)", key, attempt + 1)
        ctx = ctx.model_copy(update={"tried": [*ctx.tried, key], "rng_seed": ctx.rng_seed + 1})
    return None
