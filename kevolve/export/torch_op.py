"""``--format torch-op``: a package registering the kernel with ``torch.library``
(``triton_op`` for Triton kernels, ``custom_op`` otherwise) with a fake implementation, a
shape/dtype/device guard that falls back to the reference, and the reference's backward."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from kevolve.export.bundle import Bundle
from kevolve.export.kernelbench import write_common

TEMPLATES = Path(__file__).with_name("templates")


def render_init(b: Bundle) -> str:
    """The package's ``__init__.py``."""
    names = [f"x{i}" for i in range(len(b.inputs))]
    pnames = [f"p{i}" for i in range(len(b.params))]
    tup = lambda xs: ", ".join(xs) + ("," if len(xs) == 1 else "")  # noqa: E731
    returns = "Tensor" if b.n_outputs == 0 else f"tuple[{', '.join(['Tensor'] * b.n_outputs)}]"
    # A custom op must not return an input (or a view of one): copy where it would.
    fresh = ("out.clone() if any(out is t for t in ({all},)) else out" if b.n_outputs == 0
             else "tuple(o.clone() if any(o is t for t in ({all},)) else o for o in out)")  # fmt: skip
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      keep_trailing_newline=True)  # fmt: skip
    return env.get_template("torch_op_init.py.j2").render(
        run_id=b.run_id, language=b.candidate.language, candidate_id=b.candidate.id,
        problem=b.problem, namespace="kevolve", name=b.op_name, package=b.package,
        target=b.target, device_type=b.device_type,
        measured_on=b.best.get("measured_on") or "not measured",
        inputs_doc=", ".join(f"{tuple(i['shape'])} {i['dtype']}" for i in b.inputs),
        signature=", ".join(f"{n}: Tensor" for n in names + pnames),
        returns=returns, input_args=tup(names), param_args=tup(pnames),
        fresh_out=fresh.format(all=tup(names + pnames)),
    )


def write_torch_op(b: Bundle, out_dir: Path) -> Path:
    """Write the package under ``out_dir``; returns its folder."""
    pkg = write_common(b, out_dir)
    (pkg / "__init__.py").write_text(render_init(b), encoding="utf-8")
    return pkg
