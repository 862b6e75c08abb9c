"""Shared inputs of the scan/gather coder tests: KernelBench sources and the harness runner.

Reuses the targets and the runner of ``tests/unit/agents/coders/fixtures.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import model_source
from tests.unit.agents.coders import fixtures as base
from tools.records import Problem

H100, MI300X, CPU = base.H100, base.MI300X, base.CPU
assert_refused, assert_self_contained = base.assert_refused, base.assert_self_contained
HARNESS = Path(__file__).with_name("harness.py")

def source(body: str, inputs: str, args: str = "x", dim: int = 1, init: str = "") -> str:
    """A KernelBench source; ``body`` is forward's body, one statement a line (``;``)."""
    return model_source(
        _lines(body), inputs, args=args, init=_lines(f"self.dim = dim;{init}"), params="dim",
        init_inputs=str(dim),
    )  # fmt: skip


def _lines(statements: str) -> str:
    """``;``-separated statements, one a line."""
    return "\n".join(s.strip() for s in statements.split(";") if s.strip())


def problem(name: str, src: str, dtype: str = "float32") -> Problem:
    """A file problem (``op`` None)."""
    return Problem(name=name, source=src, op=None, dtype=dtype, origin="test")


EXCLUSIVE_KB = (
    "return torch.cumsum(torch.cat((torch.zeros_like(x.select(self.dim, 0).unsqueeze(self.dim)),"
    " x), dim=self.dim).narrow(self.dim, 0, x.size(self.dim)), dim=self.dim)"
)
"""KernelBench level 1 #92: an exclusive scan written as a zero column then narrow."""

SCANS: dict[str, tuple[str, str, str, int]] = {
    # name: (body, inputs, forward args, dim)
    "cumsum_last": ("return torch.cumsum(x, dim=self.dim)", "torch.randn(5, 37)", "x", 1),
    "cumsum_long": ("return torch.cumsum(x, dim=-1)", "torch.randn(3, 700)", "x", 1),
    "cumprod_last": ("return torch.cumprod(x, dim=self.dim)", "torch.rand(4, 23) + 0.5", "x", 1),
    "reverse_flip": (
        "return torch.flip(torch.cumsum(torch.flip(x, [self.dim]), self.dim), [self.dim])",
        "torch.randn(5, 37)",
        "x",
        1,
    ),
    "reverse_input_only": ("return torch.cumsum(x.flip(1), 1)", "torch.randn(5, 37)", "x", 1),
    "exclusive_kb92": (EXCLUSIVE_KB, "torch.randn(5, 37)", "x", 1),
    "exclusive_minus": ("return torch.cumsum(x, self.dim) - x", "torch.randn(5, 37)", "x", 1),
    "exclusive_pad": (
        "return F.pad(torch.cumsum(x, self.dim)[:, :-1], (1, 0))",
        "torch.randn(5, 37)",
        "x",
        1,
    ),
    "exclusive_cat_prod": (
        "c = torch.cumprod(x, 1)[:, :-1]; return torch.cat([torch.ones_like(x[:, :1]), c], dim=1)",
        "torch.rand(4, 29) + 0.5",
        "x",
        1,
    ),
    "reverse_exclusive": (
        "r = torch.cumsum(x.flip(-1), -1).flip(-1); return F.pad(r[:, 1:], (0, 1))",
        "torch.randn(5, 37)",
        "x",
        1,
    ),
    "masked_bool": (
        "return torch.cumsum(x * mask, dim=self.dim)",
        "torch.randn(5, 37), torch.rand(5, 37) > 0.5",
        "x, mask",
        1,
    ),
    "masked_float_where": (
        "return torch.cumsum(torch.where(mask > 0.5, x, 0.0), dim=self.dim) * 0.5",
        "torch.randn(5, 37), torch.rand(5, 37)",
        "x, mask",
        1,
    ),
    "prologue_epilogue": (
        "return torch.relu(torch.cumsum(torch.sigmoid(x) * 2 - 1, dim=self.dim)) + x",
        "torch.randn(5, 37)",
        "x",
        1,
    ),
    "running_mean": (
        "return torch.cumsum(x, dim=-1) / torch.arange(1, x.shape[-1] + 1, device=x.device)",
        "torch.randn(5, 37)",
        "x",
        1,
    ),
    "cols_cumsum": ("return torch.cumsum(x, dim=self.dim)", "torch.randn(3, 37, 6)", "x", 1),
    "cols_cumprod_minus": (
        "return torch.cumprod(x, dim=self.dim) - x",
        "torch.rand(3, 37, 6) + 0.5",
        "x",
        1,
    ),
    "cols_dim0_reverse": (
        "return torch.cumsum(x.flip(0), 0).flip(0)",
        "torch.randn(41, 9)",
        "x",
        0,
    ),
    "broadcast_weight": (
        "return torch.cumsum(x * w, dim=-1)",
        "torch.randn(5, 37), torch.randn(37)",
        "x, w",
        1,
    ),
}
"""Scan patterns the ScanCoder must recognise and get right (odd sizes throughout)."""

def gather_source(init: str, args: str, body: str, inputs: str) -> str:
    """A KernelBench source over a 50 x 19 table; ``;`` separates statements."""
    return model_source(
        _lines(body), inputs, args=args, init=_lines(init), params="n, d", init_inputs="50, 19"
    )


GATHERS: dict[str, tuple[str, str, str, str]] = {
    # name: (init, forward args, body, inputs)
    "bag_sum": (
        "self.bag = nn.EmbeddingBag(n, d, mode='sum')",
        "idx, off",
        "return self.bag(idx, off)",
        "torch.randint(0, 50, (40,)), torch.tensor([0, 3, 3, 10, 25, 39])",
    ),
    "bag_mean_pad_last": (
        "self.bag = nn.EmbeddingBag(n, d, mode='mean', padding_idx=1, include_last_offset=True)",
        "idx, off",
        "return self.bag(idx, off)",
        "torch.randint(0, 5, (40,)), torch.tensor([0, 3, 3, 10, 25, 40])",
    ),
    "bag_per_sample_weights": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx, off, w",
        "return F.embedding_bag(idx, self.weight, off, mode='sum', per_sample_weights=w)",
        "torch.randint(0, 50, (40,)), torch.tensor([0, 3, 3, 10, 25, 39]), torch.rand(40)",
    ),
    "bag_2d_mean": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx",
        "return F.embedding_bag(idx, self.weight, mode='mean')",
        "torch.randint(0, 50, (7, 5))",
    ),
    "index_sum": (
        "self.weight = nn.Parameter(torch.randn(n, d))",
        "idx",
        "return self.weight[idx].sum(1)",
        "torch.randint(0, 50, (7, 5))",
    ),
    "embedding_mean_keepdim": (
        "self.emb = nn.Embedding(n, d)",
        "idx",
        "return self.emb(idx).mean(dim=-2, keepdim=True)",
        "torch.randint(0, 50, (3, 4, 6))",
    ),
    "segment_sum_offsets": (
        "pass",
        "values, offsets",
        "return torch.segment_reduce(values, 'sum', offsets=offsets)",
        "torch.randn(30, 19), torch.tensor([0, 4, 4, 11, 30])",
    ),
    "segment_mean_lengths": (
        "pass",
        "values, lengths",
        "return torch.segment_reduce(values, 'mean', lengths=lengths)",
        "torch.randn(30, 19), torch.tensor([4, 1, 7, 18])",
    ),
    "index_add_lengths_mean": (
        "pass",
        "values, lengths",
        (
            "seg = torch.repeat_interleave(torch.arange(lengths.numel()), lengths);"
            " out = torch.zeros(lengths.numel(), values.shape[1], dtype=values.dtype);"
            " out.index_add_(0, seg, values);"
            " return out / lengths.clamp(min=1).unsqueeze(1)"
        ),
        "torch.randn(30, 19), torch.tensor([4, 0, 8, 18])",
    ),
    "scatter_add_offsets": (
        "pass",
        "values, offsets",
        (
            "lengths = offsets[1:] - offsets[:-1];"
            " seg = torch.repeat_interleave(torch.arange(lengths.numel()), lengths,"
            " output_size=values.shape[0]);"
            " out = torch.zeros(lengths.numel(), values.shape[1], dtype=values.dtype);"
            " return out.scatter_add_(0, seg[:, None].expand(-1, values.shape[1]), values)"
        ),
        "torch.randn(30, 19), torch.tensor([0, 4, 4, 11, 30])",
    ),
    "searchsorted_mean": (
        "pass",
        "values, offsets",
        (
            "seg = torch.searchsorted(offsets, torch.arange(values.shape[0]), right=True) - 1;"
            " out = torch.zeros(offsets.numel() - 1, values.shape[1], dtype=values.dtype);"
            " return out.index_add_(0, seg, values) / (offsets[1:] - offsets[:-1])[:, None]"
        ),
        "torch.randn(30, 19), torch.tensor([0, 4, 5, 11, 30])",
    ),
}
"""Embedding-bag, fixed-bag and jagged patterns the GatherCoder must get right."""


def case(case_id: str, problem: Problem, source: str, **fields: Any) -> dict[str, Any]:
    """A harness case of ``problem`` against ``source``, at the scan tests' tolerance (1e-4)."""
    return base.case(case_id, problem.source, source, **({"atol": 1e-4, "rtol": 1e-4} | fields))


def run(mode: str, cases: list[dict[str, Any]], tmp: Path, interpret: bool = False) -> dict:
    """Run this folder's ``harness.py`` over the cases in a fresh subprocess; results by case id."""
    return base.run_harness(mode, cases, tmp, interpret=interpret, harness=HARNESS)


def run_all_ok(mode: str, cases: list[dict[str, Any]], tmp: Path, interpret: bool = False) -> dict:
    """:func:`run`, asserting that every case passed (``fixtures.run_all_ok``)."""
    return base.run_all_ok(mode, cases, tmp, interpret=interpret, harness=HARNESS)
