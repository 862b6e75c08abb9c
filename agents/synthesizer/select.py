"""Which coder writes a run's kernels: the LLM coder when a model is configured, else offline."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.coders.base import Coder
from agents.llm.config import LLMConfig
from agents.llm.session import LLMSession
from tools.errors import KevolveError
from tools.records import Skill

log = logging.getLogger(__name__)


def offline_coder(language: str) -> Coder | None:
    """The offline coder of ``language``, or ``None`` when there is none."""
    from agents.coders import coder_for

    try:
        return coder_for(language)
    except (KevolveError, KeyError, ValueError) as e:
        log.debug("no offline %s coder: %s", language, e)
        return None


def coder_for_run(
    language: str,
    *,
    config: LLMConfig,
    runs_dir: Path,
    run_id: str,
    documents: Sequence[str] = (),
    skills: Sequence[Mapping[str, Any] | Skill] = (),
) -> Coder:
    """The coder for ``language`` in this run.

    Args:
        language: triton, cuda, hip or cpp.
        config: The run's model access (a model for the ``coder`` agent decides).
        runs_dir: Where the run's token ledger lives.
        run_id: The run, for token accounting and the token budget.
        documents: Cited chip excerpts for the LLM coder's first drafts.
        skills: Retrieved skills (records or their JSON) for the LLM coder's first drafts.

    Returns:
        An ``LLMCoder`` (with the offline coder behind it) when the coder agent has a model,
        else the offline coder.

    Raises:
        KevolveError: Offline, and no offline coder exists for ``language``.
    """
    offline = offline_coder(language)
    if not config.enabled("coder"):
        if offline is None:
            raise KevolveError(
                f"no offline {language} coder exists; configure a model (llm_model) to write "
                f"{language} kernels."
            )
        return offline
    from agents.llm_coder.coder import LLMCoder

    session = LLMSession(config=config, agent="coder", run_id=run_id, runs_dir=runs_dir)
    return LLMCoder(
        language,  # type: ignore[arg-type]
        session,
        offline=offline,
        documents=documents,
        skills=[s if isinstance(s, Skill) else Skill.model_validate(s) for s in skills],
    )


@dataclass(frozen=True, kw_only=True)
class RunCoders:
    """The run's :class:`graph.ports.CoderSource`: :func:`coder_for_run` with its config."""

    config: LLMConfig
    runs_dir: Path

    def coder(
        self,
        language: str,
        *,
        run_id: str,
        documents: Sequence[str] = (),
        skills: Sequence[Mapping[str, Any] | Skill] = (),
    ) -> Coder:
        """See :func:`coder_for_run`."""
        return coder_for_run(
            language, config=self.config, runs_dir=self.runs_dir, run_id=run_id,
            documents=documents, skills=skills,
        )  # fmt: skip
