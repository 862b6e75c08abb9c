"""Nsight Compute output parsed into typed records, and every way it can fail as a note."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools.evaluator import ncu
from tools.records.eval_result import Diagnostics, NcuKernel

# The shape of `ncu --csv --page raw --metrics ...` output: progress lines first (the
# profiled program's own output goes elsewhere), a header of identity columns and one
# column per metric (alphabetical), a units row with empty identity cells, then one row per
# kernel launch; values carry thousands separators, unsupported metrics read "n/a".
SAMPLE = """\
==PROF== Connected to process 41233 (/usr/bin/python3.12)
==PROF== Profiling "softmax_kernel" - 0: 0%....50%....100% - 9 passes
==PROF== Profiling "vectorized_elementwise_kernel" - 1: 0%....50%....100% - 9 passes
==PROF== Disconnected from process 41233
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","dram__bytes_read.sum","dram__bytes_write.sum","gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed","gpu__time_duration.sum","launch__block_size","launch__grid_size","launch__occupancy_limit_blocks","launch__occupancy_limit_registers","launch__occupancy_limit_shared_mem","launch__occupancy_limit_warps","launch__registers_per_thread","sm__throughput.avg.pct_of_peak_sustained_elapsed","sm__warps_active.avg.pct_of_peak_sustained_active"
"","","","","","","","","","","","Mbyte","Kbyte","%","usecond","","","block","block","block","block","register/thread","%","%"
"0","41233","python3.12","127.0.0.1","softmax_kernel","1","7","(256, 1, 1)","(4096, 1, 1)","0","9.0","134.22","134,217.73","91.37","44.86","256","4,096","32","8","16","8","32","23.65","87.12"
"1","41233","python3.12","127.0.0.1","void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, at::detail::Array<char*, 1> >(int, at::native::FillFunctor<float>, at::detail::Array<char*, 1>)","1","7","(128, 1, 1)","(1,056, 1, 1)","0","9.0","0.00","n/a","12.01","3.01","128","1,056","32","16","32","16","16","4.80","n/a"
"""


def test_raw_csv_becomes_one_typed_record_per_launch():
    kernels = ncu.parse_raw_csv(SAMPLE)
    assert len(kernels) == 2 and kernels[0].name == "softmax_kernel"
    soft = kernels[0]
    assert soft.duration_us == pytest.approx(44.86)
    assert soft.dram_read_bytes == 134_220_000  # Mbyte
    assert soft.dram_write_bytes == 134_217_730  # Kbyte, thousands separator
    assert soft.dram_gbps == pytest.approx((134_220_000 + 134_217_730) / 44.86e-6 / 1e9)
    assert soft.memory_throughput_pct == pytest.approx(91.37)
    assert soft.sm_throughput_pct == pytest.approx(23.65)
    assert soft.achieved_occupancy_pct == pytest.approx(87.12)
    assert (soft.registers_per_thread, soft.grid_size, soft.block_size) == (32, 4096, 256)
    assert soft.occupancy_limits == {"registers": 8, "shared_mem": 16, "warps": 8, "blocks": 32}
    assert soft.limiter == "registers"  # ties go to registers before warps
    fill = kernels[1]
    assert fill.name.startswith("void at::native::vectorized_elementwise_kernel")
    assert fill.dram_write_bytes is None and fill.dram_gbps is None  # "n/a"
    assert fill.achieved_occupancy_pct is None and fill.limiter == "registers"
    assert fill.grid_size == 1056


def test_units_are_scaled_to_microseconds_and_bytes():
    text = SAMPLE.replace('"usecond"', '"nsecond"').replace('"Mbyte"', '"Gbyte"')
    soft = ncu.parse_raw_csv(text)[0]
    assert soft.duration_us == pytest.approx(0.04486)
    assert soft.dram_read_bytes == 134_220_000_000


def test_records_round_trip_through_diagnostics_json():
    d = Diagnostics(ncu_kernels=ncu.parse_raw_csv(SAMPLE))
    back = Diagnostics.model_validate_json(d.model_dump_json())
    assert back.ncu_kernels == d.ncu_kernels and isinstance(back.ncu_kernels[0], NcuKernel)
    assert Diagnostics.model_validate({"bytes_moved": 1}).ncu_kernels == []  # old JSON loads


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        (
            (
                "==PROF== Connected to process 1\n==ERROR== ERR_NVGPUCTRPERM - The user does "
                "not have permission to access NVIDIA GPU Performance Counters on the target "
                "device 0.\n"
            ),
            0,
            "not permitted here (ERR_NVGPUCTRPERM)",
        ),
        (
            "==ERROR== The application returned an error code (1).\n",
            1,
            "ncu failed (exit status 1)",
        ),
        (SAMPLE.split('"0","41233"')[0], 0, "profiled no kernel"),
        ("Segmentation fault\n", -11, "no kernel table (exit status -11)"),
    ],
)
def test_failures_become_one_sentence(text, code, expected):
    assert ncu.parse_raw_csv(text) == []
    assert expected in ncu.failure_reason(text, code)


def test_command_profiles_one_bracketed_call_with_the_metric_set():
    argv = ncu.ncu_command("/usr/local/cuda/bin/ncu", "request.json", "candidate")
    assert argv[:5] == ["/usr/local/cuda/bin/ncu", "--csv", "--page", "raw", "--metrics"]
    assert argv[5].split(",") == list(ncu.NCU_METRICS)
    assert "launch__occupancy_limit_registers" in argv[5]
    assert argv[6:8] == ["--profile-from-start", "off"]
    assert argv[-3:] == ["tools.evaluator.profile_driver", "request.json", "candidate"]


def test_missing_ncu_is_a_note_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(ncu, "find_ncu", lambda: None)
    kernels, note = ncu.run_ncu("request.json", "candidate", workdir=tmp_path, timeout_s=5)
    assert kernels == [] and note.startswith("ncu profiling skipped: no `ncu`")


def test_loopback_comes_up_inside_an_empty_network_namespace(tmp_path):
    from tools.evaluator.sandbox import REPO_ROOT, network_wrapper

    wrapper = network_wrapper()
    if not wrapper:
        pytest.skip("no network namespace on this machine")
    code = (
        "import socket\n"
        "from tools.evaluator.ncu import loopback_up\n"
        "def reach():\n"
        "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
        "    c = socket.socket(); c.settimeout(2)\n"
        "    return c.connect_ex(s.getsockname()) == 0\n"
        "before = False\n"
        "try:\n"
        "    before = reach()\n"
        "except OSError:\n"
        "    pass\n"
        "loopback_up()\n"
        "print(before, reach())\n"
    )
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.stdout.split() == ["False", "True"], done.stderr


def _fake_ncu(tmp_path, output: str, code: int = 0) -> str:
    """An executable standing in for ncu: records its argv, prints ``output``."""
    (tmp_path / "out.txt").write_text(output)
    exe = tmp_path / "ncu"
    exe.write_text(
        f'#!/bin/sh\necho "$@" > "{tmp_path}/argv.txt"\ncat "{tmp_path}/out.txt"\nexit {code}\n'
    )
    exe.chmod(0o755)
    return str(exe)


def test_run_ncu_parses_what_the_profiler_prints(tmp_path, monkeypatch):
    monkeypatch.setattr(ncu, "find_ncu", lambda: _fake_ncu(tmp_path, SAMPLE))
    monkeypatch.setattr(ncu, "loopback_up", lambda: None)
    kernels, note = ncu.run_ncu("request.json", "reference", workdir=tmp_path, timeout_s=30)
    assert note == "" and [k.name for k in kernels][:1] == ["softmax_kernel"]
    argv = (tmp_path / "argv.txt").read_text().split()
    assert argv[-3:] == ["tools.evaluator.profile_driver", "request.json", "reference"]


def test_run_ncu_turns_a_permission_error_into_one_note(tmp_path, monkeypatch):
    text = "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to profile.\n"
    monkeypatch.setattr(ncu, "find_ncu", lambda: _fake_ncu(tmp_path, text, code=1))
    monkeypatch.setattr(ncu, "loopback_up", lambda: None)
    kernels, note = ncu.run_ncu("request.json", "candidate", workdir=tmp_path, timeout_s=30)
    assert kernels == [] and note == f"candidate: {ncu.PERMISSION_NOTE}"
