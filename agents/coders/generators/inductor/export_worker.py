"""Compile a KernelBench reference with Inductor and print its generated code (a child process).

Run as a script (``python export_worker.py``) by :mod:`.export`, never imported by the
orchestrator: generating code runs the reference. Imports only the standard library and
torch. Reads one JSON request on stdin::

    {"source": "<reference module>", "device": "cpu" | "cuda", "dynamic": true,
     "options": {...inductor config}}

and writes one JSON answer on stdout: ``{"ok": true, "code": ..., "args": [...],
"n_outputs": k, "output": "tensor" | "tuple"}`` or ``{"ok": false, "reason": "..."}``.

``args`` holds, for each argument of Inductor's ``call(args)`` in order, a Python expression
valid inside ``ModelNew.forward(self, *inputs)`` that yields it: a parameter
(``self._modules['lin']._parameters['weight']``), an input (``inputs[0]``), a symbolic size
(``inputs[0].size(0)``) or a module attribute Inductor kept symbolic (``self._modules['ln'].eps``).
With ``dynamic`` the reference is compiled with dynamic shapes (inputs *and* parameters), so
the kernels take their sizes as arguments; without it, exactly as torch.compile compiles it
by default (static shapes).
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("kevolve_reference")
    module.__dict__["__file__"] = "<reference>"
    sys.modules[module.__name__] = module  # dynamo looks the reference's globals up there
    exec(compile(source, "<reference>", "exec"), module.__dict__)  # noqa: S102 - child process
    return module


def _fail(reason: str) -> None:
    json.dump({"ok": False, "reason": reason}, sys.stdout)
    sys.exit(0)


_PASS_THROUGH = (
    "UnspecializedNNModuleSource",
    "UnspecializedBuiltinNNModuleSource",
    "NNModuleSource",
    "NotNNModuleSource",
)
"""Dynamo sources that mark a module without changing the value."""


def attr_path(name: str) -> str:
    """``layers.0.weight`` -> ``self.layers[0].weight``-style access that works on modules."""
    expr = "self"
    for part in name.split("."):
        expr = f"{expr}.{part}" if part.isidentifier() else f"getattr({expr}, {part!r})"
    return expr


def source_expr(source: Any, arg_names: list[str]) -> str:
    """A Python expression inside ``ModelNew.forward(self, *inputs)`` for a dynamo source.

    ``L['self']._modules['lin']._parameters['weight']`` becomes
    ``self._modules['lin']._parameters['weight']``; ``L['x'].size()[0]`` becomes
    ``inputs[0].size(0)``. Raises ``ValueError`` for a source of any other kind (a global,
    a closure value).
    """
    from torch._dynamo import source as S

    if isinstance(source, S.LocalSource):
        if source.local_name == "self":
            return "self"
        if source.local_name in arg_names:
            return f"inputs[{arg_names.index(source.local_name)}]"
    elif isinstance(source, S.AttrSource) and source.member.isidentifier():
        return f"{source_expr(source.base, arg_names)}.{source.member}"
    elif isinstance(source, (S.GetItemSource, S.DictGetItemSource)):
        if isinstance(source.index, (int, str)):
            return f"{source_expr(source.base, arg_names)}[{source.index!r}]"
    elif isinstance(source, S.TensorPropertySource):
        method = {"SIZE": "size", "STRIDE": "stride", "STORAGE_OFFSET": "storage_offset"}
        call_arg = "" if source.idx is None else str(source.idx)
        return f"{source_expr(source.base, arg_names)}.{method[source.prop.name]}({call_arg})"
    elif isinstance(source, S.ChainedSource) and type(source).__name__ in _PASS_THROUGH:
        return source_expr(source.base, arg_names)
    raise ValueError(f"graph input {source!r} is not a parameter, buffer, input or attribute")


def main() -> None:
    request = json.load(sys.stdin)
    import inspect

    import torch
    import torch._dynamo
    import torch._inductor.config as inductor_config
    from torch._inductor.compile_fx import compile_fx
    from torch._inductor.utils import run_and_get_code

    device = request["device"]
    ref = _load(request["source"])
    torch.manual_seed(0)
    model = ref.Model(*ref.get_init_inputs()).to(device)
    torch.manual_seed(1)
    inputs = [x.to(device) if isinstance(x, torch.Tensor) else x for x in ref.get_inputs()]
    arg_names = list(inspect.signature(model.forward).parameters)
    dynamic = bool(request.get("dynamic", True))
    if dynamic:  # every dimension symbolic (parameters too): kernels take sizes as arguments
        for t in [*model.parameters(), *model.buffers(), *inputs]:
            if isinstance(t, torch.Tensor):
                for dim in range(t.dim()):
                    torch._dynamo.maybe_mark_dynamic(t, dim)
        torch._dynamo.config.force_parameter_static_shapes = False
        torch._dynamo.config.force_nn_module_property_static_shapes = False
        # sizes kept as module attributes (LayerNorm's normalized_shape, a hidden size)
        torch._dynamo.config.allow_unspec_int_on_nn_module = True
        # a size that is 1 here (a batch of one) stays symbolic: no 0/1 specialisation
        import torch.fx.experimental._config as fx_config

        fx_config.backed_size_oblivious = True
    for key, value in request.get("options", {}).items():
        setattr(inductor_config, key, value)
    inductor_config.freezing = False

    seen: dict[str, Any] = {}

    def backend(gm: Any, example_inputs: list[Any]) -> Any:
        args = []
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                source = getattr(node.meta.get("grapharg"), "source", None)
                args.append(source_expr(source, arg_names))
        output = next(n for n in gm.graph.nodes if n.op == "output")
        compiled_fn = compile_fx(gm, example_inputs)
        # counted only once compiled: dynamo may retry a graph (specialising a float)
        seen["graphs"] = seen.get("graphs", 0) + 1
        seen["args"] = args
        seen["n_outputs"] = len(output.args[0])
        return compiled_fn

    compiled = torch.compile(model, backend=backend, dynamic=dynamic, fullgraph=True)
    try:
        with torch.no_grad():
            out, codes = run_and_get_code(compiled, *inputs)
    except Exception as e:  # noqa: BLE001 - any failure means "Inductor cannot compile it"
        _fail(f"torch.compile failed: {type(e).__name__}: {str(e)[:600]}")
    if seen.get("graphs") != 1 or len(codes) != 1:
        _fail(
            f"torch.compile made {seen.get('graphs', 0)} graphs and {len(codes)} modules; "
            "only a single graph is exported"
        )
    if isinstance(out, torch.Tensor):
        kind = "tensor"
    elif isinstance(out, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in out):
        kind = "tuple"
    else:
        _fail(f"the forward returns {type(out).__name__}; only tensors or tuples are exported")
    json.dump(
        {
            "ok": True,
            "code": codes[0],
            "args": seen["args"],
            "n_outputs": seen["n_outputs"],
            "output": kind,
            "torch": torch.__version__,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
