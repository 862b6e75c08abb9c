"""Skills in Chroma: how a ``Skill`` record maps to a document plus flat metadata.

The summary is the embedded document; every other field is metadata (``params`` as JSON,
since Chroma metadata values must be scalars). Two skills are duplicates when they share op
family, chip, language, template and params: a template's skills are one configuration each,
whatever their summaries say (a winning step and a best kernel can name the same one), and two
different configurations are never merged, however alike their summaries read (they differ
only in the numbers). Skills without params (free-form code) are near-duplicates when their
summaries' cosine similarity exceeds :data:`DUPLICATE_SIMILARITY`. Of a group of duplicates the
one with the higher gain is kept.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from tools.records.skill import Skill

logger = logging.getLogger(__name__)

DUPLICATE_SIMILARITY = 0.9
"""Cosine similarity of summaries above which two same-key skills without params are one skill."""


def skill_metadata(skill: Skill) -> dict[str, str | int | float]:
    """Flat Chroma metadata for a skill (the summary is stored as the document)."""
    return {
        "skill_id": skill.id,
        "op_family": skill.op_family,
        "chip": skill.chip,
        "language": skill.language,
        "template": skill.template,
        "code_excerpt": skill.code_excerpt,
        "params_json": json.dumps(skill.params, sort_keys=True, default=str),
        "gain": float(skill.gain),
        "measured_on": skill.measured_on,
        "run_id": skill.run_id,
        "candidate_id": skill.candidate_id,
    }


def skill_from_record(document: str, metadata: dict[str, Any]) -> Skill:
    """Rebuild a ``Skill`` from what :func:`skill_metadata` stored."""
    return Skill(
        id=str(metadata["skill_id"]),
        op_family=str(metadata["op_family"]),
        chip=str(metadata["chip"]),
        language=str(metadata["language"]),
        summary=document,
        code_excerpt=str(metadata.get("code_excerpt", "")),
        template=str(metadata.get("template", "")),
        params=json.loads(str(metadata.get("params_json") or "{}")),
        gain=float(metadata["gain"]),
        measured_on=str(metadata.get("measured_on", "")),
        run_id=str(metadata.get("run_id", "")),
        candidate_id=str(metadata.get("candidate_id", "")),
    )


def skill_key_filter(op_family: str, chip: str, language: str | None = None, template: str | None = None) -> dict[str, Any]:
    """A Chroma ``where`` filter on the fields that must match for skills to compare."""
    conditions: list[dict[str, Any]] = [{"op_family": op_family}, {"chip": chip}]
    if language is not None:
        conditions.append({"language": language})
    if template is not None:
        conditions.append({"template": template})
    return {"$and": conditions}


class SkillsMixin:
    """Skill methods of :class:`vectorstore.store.KnowledgeStore` (kept here to keep modules small)."""

    skills: Any
    embedding_function: Any
    _write_lock: threading.RLock

    def add_skill(self, skill: Skill) -> Skill:
        """Store a skill, merging duplicates (see the module docstring): of those, the one with
        the higher gain is kept.

        Returns:
            The skill stored after the merge: ``skill`` itself, or the better duplicate.
        """
        vector = list(self.embedding_function([skill.summary]))
        meta = skill_metadata(skill)
        meta["chip"] = skill.chip.lower()
        where = skill_key_filter(skill.op_family, skill.chip.lower(), skill.language, skill.template)
        where["$and"].append({"params_json": meta["params_json"]})
        with self._write_lock:
            if skill.params:  # the same configuration, whatever the summary says
                got = self.skills.get(where=where, include=["documents", "metadatas"])
                twins = [
                    (i, skill_from_record(d, m))
                    for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])
                    if i != skill.id
                ]
            else:
                found = self.skills.query(
                    query_embeddings=vector, n_results=5, where=where,
                    include=["documents", "metadatas", "distances"],
                )
                twins = [
                    (i, skill_from_record(d, m))
                    for i, d, m, dist in zip(found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0])
                    if 1.0 - float(dist) > DUPLICATE_SIMILARITY and i != skill.id
                ]
            best = max(twins, key=lambda t: t[1].gain, default=None)
            if best is not None and best[1].gain >= skill.gain:
                logger.info("skill %s merged into %s (gain %.3g >= %.3g)", skill.id, best[0], best[1].gain, skill.gain)
                return best[1]
            self.skills.upsert(ids=[skill.id], documents=[skill.summary], metadatas=[meta], embeddings=vector)
            if twins:
                self.skills.delete(ids=[i for i, _ in twins])
        return skill

    def search_skills(
        self, query: str, chip: str, op_family: str, language: str | None = None, k: int = 5
    ) -> list[Skill]:
        """Skills for ``op_family`` on ``chip`` (and ``language`` when given), closest to ``query`` first."""
        if k <= 0:
            return []
        found = self.skills.query(
            query_embeddings=list(self.embedding_function([query or op_family])), n_results=k,
            where=skill_key_filter(op_family, chip.lower(), language),
            include=["documents", "metadatas"],
        )
        return [skill_from_record(d, m) for d, m in zip(found["documents"][0], found["metadatas"][0])]

    def count_skills(self) -> int:
        """Number of skills stored."""
        return int(self.skills.count())
