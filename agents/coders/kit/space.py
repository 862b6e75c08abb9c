"""Parameter spaces of the offline templates: legal values, mutation, mixing, stepping.

A space belongs to one template (``triton.softmax``). It has variants (``single``,
``looped``); each variant lists its parameters and their legal values in a meaningful order
(small to large), so "one step" means the neighbouring value. A ``check`` callable adds
constraints that span parameters (shared memory, registers). Params always carry their
variant under the key ``variant``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Params = dict[str, Any]


def _always(_: Params) -> bool:
    return True


@dataclass(frozen=True)
class Space:
    """The legal configurations of one template."""

    template: str
    variants: Mapping[str, Mapping[str, Sequence[Any]]]
    check: Callable[[Params], bool] = field(default=_always)

    def choices(self, variant: str) -> Mapping[str, Sequence[Any]]:
        """Parameter -> legal values for one variant."""
        return self.variants[variant]

    def is_legal(self, params: Mapping[str, Any]) -> bool:
        """True when ``params`` names a variant, has exactly its keys and legal values."""
        variant = params.get("variant")
        if variant not in self.variants:
            return False
        choices = self.variants[variant]
        if set(params) != set(choices) | {"variant"}:
            return False
        if any(params[k] not in values for k, values in choices.items()):
            return False
        return self.check(dict(params))

    def random_config(self, rng: random.Random, variant: str | None = None) -> Params | None:
        """A uniformly drawn legal configuration (``None`` if 200 draws found none)."""
        for _ in range(200):
            v = variant or rng.choice(sorted(self.variants))
            params: Params = {"variant": v}
            params |= {k: rng.choice(list(vals)) for k, vals in self.variants[v].items()}
            if self.is_legal(params):
                return params
        return None

    def enumerate(self) -> Iterator[Params]:
        """Every legal configuration, in a fixed order."""
        for v in sorted(self.variants):
            keys = list(self.variants[v])
            for combo in itertools.product(*(self.variants[v][k] for k in keys)):
                params: Params = {"variant": v, **dict(zip(keys, combo, strict=True))}
                if self.check(params):
                    yield params

    def mutate(self, params: Params, rng: random.Random, n_changes: int = 1) -> Params | None:
        """Change ``n_changes`` parameters to a neighbouring (or, rarely, random) legal value."""
        choices = self.variants[params["variant"]]
        tunable = [k for k, vals in choices.items() if len(vals) > 1]
        for _ in range(50):
            child = dict(params)
            for key in rng.sample(tunable, min(n_changes, len(tunable))):
                values = list(choices[key])
                i = values.index(child[key])
                if rng.random() < 0.8:
                    j = i + rng.choice((-1, 1))
                    j = min(max(j, 0), len(values) - 1)
                else:
                    j = rng.randrange(len(values))
                child[key] = values[j]
            if child != params and self.is_legal(child):
                return child
        return None

    def switch_variant(self, params: Params, variant: str, defaults: Params) -> Params:
        """Move to another variant, keeping the values the two variants share."""
        child: Params = {"variant": variant}
        for key, values in self.variants[variant].items():
            if key in params and params[key] in values:
                child[key] = params[key]
            else:
                child[key] = (
                    defaults[key] if defaults.get(key) in values else values[len(values) // 2]
                )
        return child

    def mix(self, a: Params, b: Params, rng: random.Random) -> Params:
        """Each parameter from ``a`` or ``b`` at random (variant too)."""
        variant = rng.choice((a["variant"], b["variant"]))
        source = [p for p in (a, b) if p["variant"] == variant]
        child: Params = {"variant": variant}
        for key, values in self.variants[variant].items():
            options = [p[key] for p in (a, b) if p.get(key) in values]
            child[key] = rng.choice(options) if options else source[0][key]
        return child

    def step_toward(self, a: Params, b: Params) -> Params:
        """``a`` with every parameter moved one legal value toward ``b``'s."""
        if a["variant"] != b["variant"]:
            return self.switch_variant(a, b["variant"], b)
        child = dict(a)
        for key, values in self.variants[a["variant"]].items():
            values = list(values)
            i, j = values.index(a[key]), values.index(b[key])
            if i != j:
                child[key] = values[i + (1 if j > i else -1)]
        return child


def describe(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """What changed between two configurations, e.g. ``num_warps 4 -> 8, BLOCK_N 1024 -> 2048``."""
    if old is None:
        return ", ".join(f"{k}={v}" for k, v in new.items())
    parts = []
    for key in list(new) + [k for k in old if k not in new]:
        before, after = old.get(key, "-"), new.get(key, "-")
        if before != after:
            parts.append(f"{key} {before} -> {after}")
    return ", ".join(parts) if parts else "no parameter change"


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (1 for n <= 1)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def matmul_tile_fallbacks(params: Params, extra: Params) -> tuple[Params, Params]:
    """The tiled-matmul fallbacks after a failure: every tile halved (down to 16) with a
    one-stage pipeline and 4 warps, then a small plain 32x32x32 tile; ``extra`` (chip
    options such as AMD's) is added to both."""
    halved = {
        **params,
        "BLOCK_M": max(16, params["BLOCK_M"] // 2),
        "BLOCK_N": max(16, params["BLOCK_N"] // 2),
        "BLOCK_K": max(16, params["BLOCK_K"] // 2),
        "num_stages": 1,
        "num_warps": 4,
        **extra,
    }
    plain = {
        "variant": "tiled",
        "BLOCK_M": 32,
        "BLOCK_N": 32,
        "BLOCK_K": 32,
        "GROUP_M": 8,
        "num_warps": 4,
        "num_stages": 1,
        **extra,
    }
    return halved, plain
