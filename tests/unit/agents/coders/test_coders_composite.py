"""LanguageCoder: several generators of one language behind one coder."""

from __future__ import annotations

import pytest

from agents.coders import LanguageCoder, TritonOfflineCoder, coder_for
from agents.coders.base import CoderContext, Draft
from tests.unit.agents.coders import fixtures as fx
from tools.errors import KevolveError, ProblemError
from tools.records import Candidate, Problem, Target


class _Fake:
    """A generator that supports problems whose name starts with its prefix."""

    language = "triton"

    def __init__(self, name: str, prefix: str, n_seeds: int = 2) -> None:
        self.name, self.prefix, self.n_seeds = name, prefix, n_seeds
        self.templates = (f"triton.{name}",)
        self.proposed = 0

    def supports(self, problem: Problem, target: Target) -> bool:
        return problem.name.startswith(self.prefix)

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        return [
            Draft(language="triton", source=f"# {self.name} {i}", transformation=f"seed {i}",
                  template=self.templates[0], params={"i": i})
            for i in range(self.n_seeds)
        ]  # fmt: skip

    def propose(self, ctx: CoderContext) -> Draft:
        self.proposed += 1
        if self.name == "exhausted":
            raise KevolveError("every configuration has been tried")
        return Draft(language="triton", source=f"# {self.name} child", transformation="child",
                     template=self.templates[0], params={})  # fmt: skip


def _ctx(problem: Problem, parent: Candidate | None = None, seed: int = 0) -> CoderContext:
    return CoderContext(problem=problem, target=fx.H100, memory_mode="inherit", parent=parent,
                        rng_seed=seed)  # fmt: skip


def test_seeds_of_supporting_generators_are_interleaved() -> None:
    a, b, c = _Fake("a", "soft", 3), _Fake("b", "soft", 1), _Fake("c", "zzz")
    coder = LanguageCoder("triton", [a, b, c])
    problem = fx.named_problem("softmax")
    assert coder.supports(problem, fx.H100)
    assert [d.source for d in coder.seed(problem, fx.H100)] == ["# a 0", "# b 0", "# a 1", "# a 2"]


def test_the_owner_of_the_parent_template_refines_it() -> None:
    a, b = _Fake("a", "soft"), _Fake("b", "soft")
    coder = LanguageCoder("triton", [a, b])
    parent = Candidate(id="p", language="triton", source="#", template="triton.b", params={})
    draft = coder.propose(_ctx(fx.named_problem("softmax"), parent))
    assert draft.template == "triton.b" and (a.proposed, b.proposed) == (0, 1)


def test_an_exhausted_generator_hands_over_and_all_exhausted_raises() -> None:
    done, live = _Fake("exhausted", "soft"), _Fake("live", "soft")
    draft = LanguageCoder("triton", [done, live]).propose(_ctx(fx.named_problem("softmax")))
    assert draft.template == "triton.live"
    with pytest.raises(KevolveError, match="every configuration"):
        LanguageCoder("triton", [done]).propose(_ctx(fx.named_problem("softmax")))
    with pytest.raises(ProblemError, match="No triton generator"):
        LanguageCoder("triton", [_Fake("c", "zzz")]).propose(_ctx(fx.named_problem("softmax")))


class _Broken(_Fake):
    """A generator with a defect in one of its methods (not a refusal)."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(name, "soft")
        self.where = where

    def _maybe_fail(self, where: str) -> None:
        if where == self.where:
            raise AttributeError("'GraphModule' object has no attribute 'v.0'")

    def supports(self, problem: Problem, target: Target) -> bool:
        self._maybe_fail("supports")
        return super().supports(problem, target)

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        self._maybe_fail("seed")
        return super().seed(problem, target)

    def propose(self, ctx: CoderContext) -> Draft:
        self._maybe_fail("propose")
        return super().propose(ctx)


@pytest.mark.parametrize("where", ["supports", "seed", "propose"])
def test_a_generator_defect_leaves_the_others_working(where: str) -> None:
    broken, live = _Broken("broken", where), _Fake("live", "soft", 1)
    coder = LanguageCoder("triton", [broken, live])
    problem = fx.named_problem("softmax")
    assert "# live 0" in [d.source for d in coder.seed(problem, fx.H100)]
    usable = {"triton.live"} | ({"triton.broken"} if where == "seed" else set())
    for seed in range(2):  # whichever generator takes the first turn
        assert coder.propose(_ctx(problem, seed=seed)).template in usable


def test_a_defect_of_the_only_generator_is_a_coder_error_naming_it() -> None:
    alone = LanguageCoder("triton", [_Broken("broken", "propose")])
    with pytest.raises(KevolveError, match="broken failed: AttributeError"):
        alone.propose(_ctx(fx.named_problem("softmax")))


def test_coder_for_wraps_the_real_generators() -> None:
    coder = coder_for("triton")
    assert isinstance(coder, LanguageCoder)
    assert any(isinstance(c, TritonOfflineCoder) for c in coder.coders)
    problem = fx.named_problem("softmax")
    assert coder.templates(problem, fx.H100).keys() >= {"triton.softmax"}
    assert coder.seed(problem, fx.H100)[0].template == "triton.softmax"
    with pytest.raises(KevolveError):
        LanguageCoder("cpp", [TritonOfflineCoder()])
