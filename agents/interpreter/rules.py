"""Offline interpretation rules: diagnostics -> bottleneck and next moves."""

from __future__ import annotations

from agents.interpreter.schemas import Insight
from agents.llm.parse import UNUSABLE_PREFIX
from tools.records import Candidate, EvalResult, Target


def interpret(cand: Candidate, result: EvalResult, target: Target) -> Insight:
    """Explain one result in terms an engineer (or a coder) can act on."""
    d = result.diagnostics
    if cand.transformation.startswith(UNUSABLE_PREFIX):
        return Insight(
            candidate_id=cand.id,
            bottleneck="static",
            explanation=cand.transformation,
            next_moves=["answer with one complete python block that defines class ModelNew"],
        )
    if result.stage_failed is not None:
        stage = result.stage_failed.value
        first_line = (result.error.strip().splitlines() or ["no error text"])[-1][:300]
        repairs = {
            "compile": ["reduce block size", "fall back to the looped template variant"],
            "correctness": [
                "check masks for the tail of each row",
                "accumulate in fp32",
                "fall back to a simpler template",
            ],
            "sandbox": ["shrink the problem per program", "remove unbounded loops"],
        }.get(stage, ["rewrite from the template"])
        return Insight(
            candidate_id=cand.id,
            bottleneck=stage,
            explanation=f"failed at {stage}: {first_line}",
            next_moves=repairs,
        )
    if result.flags:
        return Insight(
            candidate_id=cand.id,
            bottleneck="flagged",
            explanation=f"correct but flagged: {', '.join(result.flags)}",
            next_moves=["remove the flagged behaviour"],
        )
    frac = d.roofline_fraction
    where = "modeled" if result.measured_on == "modeled" else result.measured_on
    parts = [f"{d.bound}-bound"]
    if frac is not None:
        parts.append(f"at {frac:.0%} of the roofline ({where})")
    if d.achieved_gbps is not None:
        parts.append(f"{d.achieved_gbps:.0f} GB/s of {target.memory_bandwidth_gbps:.0f}")
    moves: list[str] = []
    if d.spill_bytes:
        moves.append(f"{d.spill_bytes} bytes spilled per thread: lower BLOCK or num_warps")
    if d.occupancy is not None and d.occupancy < 0.25:
        moves.append("low occupancy: fewer registers or shared memory per block")
    if d.bound == "memory":
        moves += ["fuse more work into one pass", "wider vector loads", "more rows per program"]
    elif d.bound == "compute":
        moves += ["larger tiles for more reuse", "more pipeline stages", "tune num_warps"]
    elif d.bound == "latency":
        moves += ["persistent grid", "fewer launches", "more work per program"]
    else:
        moves += ["mutate block sizes and warps"]
    return Insight(
        candidate_id=cand.id,
        bottleneck=d.bound,
        explanation=", ".join(parts),
        next_moves=moves[:4],
    )
