"""A Triton kernel exported with ``--format torch-op`` (registered with ``triton_op``) drops
into a model on the GPU: outputs match the reference eager and under
``torch.compile(fullgraph=True)``, other shapes fall back, and the backward is the reference's."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from tests.export_fixtures import make_run

pytestmark = pytest.mark.gpu



TRITON_KERNEL = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl

CALLS = [0]


@triton.jit
def _scaled_softmax(x_ptr, s_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    # Bytes moved: rows * n_cols * 4 read + the same written (+ the scale once per row).
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=-float("inf"))
    s = tl.load(s_ptr + cols, mask=mask, other=0.0)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(out_ptr + row * n_cols + cols, e / tl.sum(e, axis=0) * s, mask=mask)


class ModelNew(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        CALLS[0] += 1
        out = torch.empty_like(x)
        n_rows, n_cols = x.shape
        _scaled_softmax[(n_rows,)](x, self.scale, out, n_cols, BLOCK=triton.next_power_of_2(n_cols))
        return out
'''


def test_triton_op_in_a_model_eager_and_compiled(tmp_path):
    import torch
    from typer.testing import CliRunner

    from kevolve.cli import app

    run_id = make_run(tmp_path / "d" / "runs", run_id="tri-20261207-000000-abcd",
                      language="triton", source=TRITON_KERNEL)
    res = CliRunner().invoke(app, ["export", run_id, "--format", "torch-op", "--out",
                                   str(tmp_path / "out"), "--data-dir", str(tmp_path / "d"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    view = json.loads(res.stdout)
    sys.path.insert(0, str(tmp_path / "out"))
    pkg = importlib.import_module(view["package"])
    kernel = importlib.import_module(f"{view['package']}.kernel")
    reference = importlib.import_module(f"{view['package']}.reference")
    assert pkg.META["device_type"] == "cuda"
    # The package registered a triton_op (torch.compile traces into the Triton launch).
    assert "triton_op" in (tmp_path / "out" / view["package"] / "__init__.py").read_text()

    dev = "cuda"
    ref_layer = reference.Model(16).to(dev)
    layer = pkg.Module(16).to(dev)
    layer.load_state_dict(ref_layer.state_dict())
    lin = torch.nn.Linear(16, 16).to(dev)
    model, ref_model = torch.nn.Sequential(lin, layer), torch.nn.Sequential(lin, ref_layer)
    x = torch.randn(6, 16, device=dev)
    calls = kernel.CALLS[0]
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref_model(x))
        assert kernel.CALLS[0] == calls + 1
        compiled = torch.compile(model, fullgraph=True)
        torch.testing.assert_close(compiled(x), ref_model(x))
        y = torch.randn(7, 16, device=dev)  # not verified: the reference runs
        calls = kernel.CALLS[0]
        torch.testing.assert_close(model(y), ref_model(y))
        assert kernel.CALLS[0] == calls
    xg = x.clone().requires_grad_()
    xr = x.clone().requires_grad_()
    g = torch.randn_like(x)
    model(xg).backward(g)
    ref_model(xr).backward(g)
    torch.testing.assert_close(xg.grad, xr.grad)
