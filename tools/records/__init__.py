"""Core records: plain, JSON-serialisable pydantic models shared by every layer."""

from tools.records.candidate import Candidate, Language, MemoryMode
from tools.records.eval_result import Diagnostics, EvalResult, Stage
from tools.records.problem import Problem
from tools.records.skill import Skill
from tools.records.target import Target, TritonTarget

__all__ = [
    "Candidate",
    "Diagnostics",
    "EvalResult",
    "Language",
    "MemoryMode",
    "Problem",
    "Skill",
    "Stage",
    "Target",
    "TritonTarget",
]
