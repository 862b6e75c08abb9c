"""The LLM coder: one "universal operator" per language (triton, cuda, hip, cpp).

For each child it renders the prompt from the context (problem, chip facts, cited chunks,
skills, the memory mode's view of the tree), asks the model, and reads the module that
defines ``ModelNew`` out of the answer. The same call fixes a failed parent (with its
error), improves a correct one (with its diagnostics and the interpreter's next moves), or
writes afresh. A malformed answer gets one retry with the parse error fed back; after that
the child is recorded as failed: its source is a stub that the evaluator rejects at the
static stage, and its ``transformation`` says why (``unusable model answer: ...``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agents.coders.base import Coder, CoderContext, Draft
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.parse import UNUSABLE_PREFIX, extract_model_new
from agents.llm.session import LLMSession
from agents.llm_coder.context import LANGUAGES, render_messages, retry_message, task_of
from tools.records import Language, Problem, Skill, Target

log = logging.getLogger(__name__)

MAX_PARSE_RETRIES = 1


def failed_stub(reason: str, answer: str, author: str) -> str:
    """A module that records an unusable answer and fails the static stage (no ModelNew)."""
    return (
        f'"""kevolve: the answer of {author} could not be used.\n\n'
        f"Reason: {reason.replace(chr(34) * 3, chr(39) * 3)}\n"
        'This module defines no ModelNew on purpose: the evaluator rejects it at the static stage.\n"""\n\n'
        f"MODEL_ANSWER = {answer[-4000:]!r}\n"
    )


class LLMCoder:
    """A ``Coder`` backed by a chat model (see the module docstring)."""

    def __init__(
        self,
        language: Language,
        session: LLMSession,
        *,
        offline: Coder | None = None,
        documents: Sequence[str] = (),
        skills: Sequence[Skill] = (),
    ) -> None:
        """Create the coder.

        Args:
            language: One of triton, cuda, hip, cpp.
            session: Model access for the ``coder`` agent of this run.
            offline: The offline coder of the same language, used for template seeds, when
                the token budget is spent, and when the model is unreachable and the
                settings allow falling back.
            documents: Cited chip excerpts for the first drafts (``seed``).
            skills: Retrieved skills for the first drafts (``seed``).
        """
        if language not in LANGUAGES:
            raise ValueError(f"the LLM coder writes {', '.join(LANGUAGES)}, not {language!r}")
        self.language = language
        self.session = session
        self.offline = offline
        self.documents = list(documents)
        self.skills = list(skills)
        self.name = f"llm:{session.spec}"

    @property
    def author(self) -> str:
        """The model name recorded on every draft."""
        return self.session.spec

    def supports(self, problem: Problem, target: Target) -> bool:
        """Any problem, on a chip that runs this language."""
        return self.language in target.languages

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """One model-written first draft, then the offline coder's template seeds."""
        ctx = CoderContext(
            problem=problem, target=target, memory_mode="restart",
            documents=self.documents, skills=self.skills,
        )  # fmt: skip
        drafts = [self.propose(ctx)]
        if self.offline is not None and self.offline.supports(problem, target):
            drafts += self.offline.seed(problem, target)
        return drafts

    def propose(self, ctx: CoderContext) -> Draft:
        """One child; falls back to the offline coder only where the docstring says."""
        try:
            return self._ask(ctx)
        except LLMBudgetError as e:
            if self.offline is None:
                raise
            log.warning("%s; the offline %s coder writes this child", e, self.language)
            return self.offline.propose(ctx)
        except LLMUnavailableError as e:
            if self.offline is None or not self.session.config.fallback_offline:
                raise
            log.warning("%s Falling back to the offline %s coder.", e, self.language)
            return self.offline.propose(ctx)

    def _ask(self, ctx: CoderContext) -> Draft:
        messages: list[tuple[str, str]] = render_messages(ctx, self.language)
        task = task_of(ctx)
        default = {"fix": "fix of the parent", "improve": "LLM improvement",
                   "write": "initial LLM draft"}[task]  # fmt: skip
        answer, reason = "", ""
        for attempt in range(MAX_PARSE_RETRIES + 1):
            try:
                answer = self.session.text(messages)
            except LLMRequestError as e:
                return self._failed(str(e), answer)
            try:
                parsed = extract_model_new(answer, default_transformation=default)
            except LLMAnswerError as e:
                log.info("coder answer unusable (attempt %d): %s", attempt + 1, e)
                reason = str(e)
                messages = [*messages, ("ai", answer), retry_message(reason)]
                continue
            return Draft(
                language=self.language,
                source=parsed.source,
                transformation=parsed.transformation,
                author=self.author,
            )
        return self._failed(reason, answer)

    def _failed(self, reason: str, answer: str) -> Draft:
        return Draft(
            language=self.language,
            source=failed_stub(reason, answer, self.author),
            transformation=f"{UNUSABLE_PREFIX}{reason}"[:300],
            author=self.author,
        )
