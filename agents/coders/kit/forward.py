"""The ``forward`` methods the coders put into ``ModelNew`` (kernel call or plain PyTorch)."""

from __future__ import annotations

from typing import Any, Literal

from agents.coders.kit.chain import chain_lines
from agents.coders.kit.opspec import OpSpec


def _params_unpack(spec: OpSpec) -> str:
    """Parameters in registration order (nn.LayerNorm / nn.Linear: weight, then bias)."""
    linear = spec.op in ("linear", "linear_relu")
    if spec.op == "layer_norm" or (linear and spec.bias):
        return "    weight, bias = tuple(self.parameters())\n"
    if linear:
        return "    (weight,) = tuple(self.parameters())\n    bias = None\n"
    if spec.op == "rms_norm":
        return "    (weight,) = tuple(self.parameters())\n"
    return ""


def forward_source(spec: OpSpec, wrapper: str) -> str:
    """``forward`` handing the inputs (and the model's parameters) to the kernel wrapper."""
    head = f"def forward(self, {', '.join(spec.forward_args)}):\n"
    x = spec.forward_args[0] if spec.forward_args else "x"
    if spec.family == "pointwise" and spec.chain is not None:
        call = ", ".join(o.expr for o in spec.chain.operands)
        return head + f"    return {wrapper}({call})\n"
    if spec.op in ("layer_norm", "linear", "linear_relu"):
        return head + _params_unpack(spec) + f"    return {wrapper}({x}, weight, bias)\n"
    if spec.op == "rms_norm":
        return head + _params_unpack(spec) + f"    return {wrapper}({x}, weight)\n"
    return head + f"    return {wrapper}({', '.join(spec.forward_args)})\n"


def kernel_call(spec: OpSpec, language: Literal["triton", "cpp"]) -> tuple[str, dict[str, Any]]:
    """The kernel wrapper ``forward`` calls and the family template's variables for a named op.

    Args:
        spec: The recognised op (family pointwise, matmul, or a row family).
        language: The chain's statement language (``triton`` or ``cpp``).
    """
    if spec.family == "pointwise":
        assert spec.chain is not None
        chain = spec.chain
        return "_kv_fused", {
            "operands": chain.operands,
            "lines": chain_lines(chain, language),
            "result": chain.result,
            "summary": chain.summary,
            "n_full": sum(o.kind == "full" for o in chain.operands),
        }
    if spec.family == "matmul":
        linear = spec.op in ("linear", "linear_relu")
        wrapper = "_kv_linear" if linear else "_kv_matmul"
        return wrapper, {"linear": linear, "relu": spec.op == "linear_relu"}
    return f"_kv_{spec.op}", {
        "log": spec.op == "log_softmax",
        "keepdim": spec.keepdim,
        "eps": repr(spec.eps),
    }


def torch_forward_source(spec: OpSpec, dim: int = -1) -> str:
    """``forward`` computing a named op with one direct PyTorch call (the baseline)."""
    args = spec.forward_args
    x = args[0] if args else "x"
    keep = ", keepdim=True" if spec.keepdim else ""
    bodies = {
        "softmax": f"torch.softmax({x}, dim={dim})",
        "log_softmax": f"torch.log_softmax({x}, dim={dim})",
        "sum": f"torch.sum({x}, dim={dim}{keep})",
        "mean": f"torch.mean({x}, dim={dim}{keep})",
        "max": f"torch.max({x}, dim={dim}{keep}).values",
        "cumsum": f"torch.cumsum({x}, dim={dim})",
        "layer_norm": f"F.layer_norm({x}, ({x}.shape[-1],), weight, bias, {spec.eps!r})",
        "rms_norm": f"{x} * torch.rsqrt({x}.pow(2).mean(-1, keepdim=True) + {spec.eps!r}) * weight",
        "gelu": f"F.gelu({x}, approximate={spec.options.get('approximate', 'none')!r})",
        "silu": f"F.silu({x})",
        "relu": f"torch.relu({x})",
        "matmul": f"torch.matmul({args[0]}, {args[1]})" if len(args) > 1 else "",
        "linear_relu": f"torch.relu(F.linear({x}, weight, bias))",
        "linear": f"F.linear({x}, weight, bias)",
        "min": f"torch.min({x}, dim={dim}{keep}).values",
        "sigmoid": f"torch.sigmoid({x})",
        "tanh": f"torch.tanh({x})",
    }
    body = bodies.get(spec.op, "")
    if not body:
        raise ValueError(f"no direct PyTorch call is known for op {spec.op!r}")
    return (
        f"def forward(self, {', '.join(args)}):\n" + _params_unpack(spec) + f"    return {body}\n"
    )
