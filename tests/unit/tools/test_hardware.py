"""The hardware registry: shipped specs, alias resolution, extra folders, host detection."""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import pytest
import yaml

from hardware_docs import DOCS_DIR
from tools import hardware
from tools.errors import TargetError
from tools.hardware import (
    detect_local_gpu,
    device_present,
    host_cpu_info,
    list_targets,
    load_target,
)
from tools.hardware_host import cpu_arch, estimate_peak_tflops, parse_cpuinfo

SHIPPED = ["a100", "cpu", "h100", "h200", "mi250x", "mi300x"]

NEW_CHIP = """\
display_name: Example Accelerator X1
vendor: example
kind: gpu
arch: sm_89
aliases: ["X1", "Example X1"]
warp_size: 32
compute_units: 76
shared_mem_per_block_kib: 99
memory_bandwidth_gbps: 1000
peak_tflops: {fp32: 80.0, fp16: 160.0}
languages: [triton, cuda]
triton_target: {backend: cuda, arch: 89, warp_size: 32}
torch_device_names: ["X1"]
"""


def write_chip(root: Path, name: str, text: str) -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    path = root / name / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_spec_loads_and_validates():
    targets = list_targets()
    assert [t.name for t in targets] == SHIPPED
    for t in targets:
        assert t.memory_bandwidth_gbps > 0 and t.compute_units > 0, t.name
        assert (DOCS_DIR / t.name / "__init__.py").is_file(), f"{t.name} would not be installed"
        if t.kind == "gpu":
            assert t.triton_target is not None and t.triton_target.warp_size == t.warp_size
            assert t.torch_device_names and t.peak_tflops["fp16"] > t.peak_tflops["fp32"]


@pytest.mark.parametrize(
    ("chip", "facts"),
    [
        ("h100", {"compute_units": 132, "shared_mem_per_block_kib": 227, "warp_size": 32,
                  "memory_bandwidth_gbps": 3350, "arch": "sm_90", "languages": ["triton", "cuda"]}),
        ("h200", {"compute_units": 132, "memory_bandwidth_gbps": 4800, "arch": "sm_90"}),
        ("a100", {"compute_units": 108, "shared_mem_per_block_kib": 163,
                  "memory_bandwidth_gbps": 2039, "arch": "sm_80"}),
        ("mi300x", {"compute_units": 304, "shared_mem_per_block_kib": 64, "warp_size": 64,
                    "memory_bandwidth_gbps": 5300, "languages": ["triton", "hip"]}),
        ("mi250x", {"shared_mem_per_block_kib": 64, "warp_size": 64, "arch": "gfx90a"}),
        ("cpu", {"kind": "cpu", "warp_size": 1, "languages": ["cpp"], "triton_target": None}),
    ],
)  # fmt: skip
def test_datasheet_facts(chip, facts):
    target = load_target(chip)
    assert {k: getattr(target, k) for k in facts} == facts


def test_triton_targets_and_precision_keys():
    h100 = {"backend": "cuda", "arch": 90, "warp_size": 32}
    assert load_target("h100").triton_target.model_dump() == h100
    assert load_target("a100").triton_target.arch == 80
    mi300x = {"backend": "hip", "arch": "gfx942", "warp_size": 64}
    assert load_target("mi300x").triton_target.model_dump() == mi300x
    assert load_target("mi250x").triton_target.arch == "gfx90a"
    for amd in ("mi300x", "mi250x"):
        assert "tf32" not in load_target(amd).peak_tflops
    assert load_target("h100").peak_tflops["tf32"] < load_target("h100").peak_tflops["fp16"]
    assert "triton" not in load_target("cpu").languages


@pytest.mark.parametrize(
    ("alias", "chip"),
    [
        ("MI300", "mi300x"), ("mi300x", "mi300x"), ("gfx942", "mi300x"),
        ("Instinct MI300X", "mi300x"), ("AMD Instinct MI300X", "mi300x"),
        ("MI250", "mi250x"), ("gfx90a", "mi250x"),
        ("H100", "h100"), ("H100 SXM", "h100"), ("h100_sxm5", "h100"), ("H100-80GB", "h100"),
        ("sm_90", "h100"), ("SM90", "h100"), ("Hopper", "h100"), ("NVIDIA H100", "h100"),
        ("H200", "h200"), ("h200 sxm", "h200"), ("A100", "a100"), ("sm_80", "a100"),
        ("ampere", "a100"), ("host", "cpu"), ("x86", "cpu"), ("x86_64", "cpu"), ("CPU", "cpu"),
    ],
)  # fmt: skip
def test_aliases_resolve(alias, chip):
    assert load_target(alias).name == chip


def test_unknown_chip_lists_known_chips_in_one_sentence():
    with pytest.raises(TargetError) as info:
        load_target("tpu-v5")
    message = str(info.value)
    assert "tpu-v5" in message and "\n" not in message and message.endswith(".")
    assert all(name in message for name in SHIPPED)


def test_new_chip_in_extra_dir_loads_like_a_shipped_one(tmp_path):
    write_chip(tmp_path, "x1", NEW_CHIP)
    target = load_target("example-x1", extra_dirs=[tmp_path])
    assert (target.name, target.compute_units, target.peak_tflops["fp16"]) == ("x1", 76, 160.0)
    assert "x1" in [t.name for t in list_targets(extra_dirs=[tmp_path])]
    with pytest.raises(TargetError):
        load_target("x1")  # not visible without the extra folder


def test_extra_dir_overrides_a_shipped_chip(tmp_path):
    text = (DOCS_DIR / "a100" / "spec.yaml").read_text().replace("memory_gib: 80", "memory_gib: 40")
    write_chip(tmp_path, "a100", text)
    assert load_target("A100", extra_dirs=[tmp_path]).memory_gib == 40


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s.replace("compute_units: 76\n", ""), "compute_units"),
        (lambda s: s.replace("compute_units: 76", "compute_units: many"), "compute_units"),
        (lambda s: s + "l2_cache_mb: 4\n", "l2_cache_mb"),
        (lambda s: s + "name: other\n", "name"),
        (lambda s: s.replace("[triton, cuda]", "[triton, fortran]"), "languages"),
        (lambda s: s.replace("89, warp_size: 32", "89, warp_size: 64"), "triton_target"),
        (lambda s: s.replace("kind: gpu", "kind: fpga"), "kind"),
    ],
)  # fmt: skip
def test_malformed_spec_names_file_and_field(tmp_path, edit, field):
    path = write_chip(tmp_path, "x1", edit(NEW_CHIP))
    with pytest.raises(TargetError) as info:
        load_target("x1", extra_dirs=[tmp_path])
    assert str(path) in str(info.value) and f"'{field}" in str(info.value)


def test_invalid_yaml_and_alias_collision_are_target_errors(tmp_path):
    write_chip(tmp_path, "x1", "display_name: [unclosed\n")
    with pytest.raises(TargetError, match="cannot be read as YAML"):
        list_targets(extra_dirs=[tmp_path])
    write_chip(tmp_path, "x1", NEW_CHIP.replace('"Example X1"', '"gfx942"'))
    with pytest.raises(TargetError, match="gfx942"):
        load_target("h100", extra_dirs=[tmp_path])
    with pytest.raises(TargetError, match="does not exist"):
        list_targets(extra_dirs=[tmp_path / "missing"])


def test_cpu_detection_is_sane_here():
    cpu = load_target("cpu")
    assert 1 <= cpu.compute_units <= (os.cpu_count() or 1)
    assert cpu.display_name and cpu.vendor and cpu.memory_gib > 0
    peak = cpu.peak_tflops
    assert peak["fp32"] > 0 and peak["fp64"] == pytest.approx(peak["fp32"] / 2)
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        assert cpu.arch.startswith("x86_64")
    info = host_cpu_info()
    assert set(cpu.isa_features) <= set(info["flags"])
    assert info["cores"] == cpu.compute_units and info["model_name"] == cpu.display_name
    json.dumps(info)  # the doctor command prints it


X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz
cpu MHz\t\t: 2000.000
flags\t\t: fpu sse sse2 sse4_2 avx fma avx2 avx512f avx512bw avx512vl avx512_bf16 amx_tile amx_bf16

processor\t: 1
cpu MHz\t\t: 3800.000
"""
ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16 i8mm
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


def test_cpuinfo_parsing_and_arch_naming():
    x86 = parse_cpuinfo(X86_CPUINFO)
    assert x86["vendor"] == "intel" and x86["max_mhz"] == 3800.0 and "2.00GHz" in x86["model_name"]
    assert cpu_arch("x86_64", x86["flags"]) == "x86_64-avx512"
    assert cpu_arch("x86_64", ["sse4_2", "avx", "avx2", "fma"]) == "x86_64-avx2"
    assert cpu_arch("AMD64", ["sse4_2"]) == "x86_64"
    arm = parse_cpuinfo(ARM_CPUINFO)
    assert arm["vendor"] == "arm" and "asimd" in arm["flags"]
    assert cpu_arch("aarch64", arm["flags"]) == "aarch64-neon"
    assert cpu_arch("aarch64", arm["flags"] + ["sve"]) == "aarch64-sve"


def test_peak_estimate_arithmetic():
    # 16 cores x 8 fp32 lanes (AVX2) x 2 FMA pipes x 2 flops x 3 GHz = 1.536 TFLOP/s
    assert estimate_peak_tflops(16, ["avx", "avx2", "fma"], 3.0)["fp32"] == pytest.approx(1.536)
    assert estimate_peak_tflops(16, ["avx2", "fma", "avx512f"], 3.0)["fp32"] == pytest.approx(3.072)


def test_device_present_on_this_machine():
    ok, name = device_present(load_target("cpu"))
    info = host_cpu_info()
    assert ok and name == f"{info['model_name']} ({info['cores']} cores)"
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the no-GPU answer cannot be checked here")
    assert device_present(load_target("h100")) == (False, "")
    assert detect_local_gpu() is None


@pytest.mark.parametrize(
    ("device_name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100"), ("NVIDIA H200", "h200"),
        ("NVIDIA GH200 480GB", None), ("NVIDIA A100-SXM4-80GB", "a100"),
        ("AMD Instinct MI300X", "mi300x"), ("AMD Instinct MI300A", None),
        ("AMD Instinct MI250X / MI250", "mi250x"), ("NVIDIA GeForce RTX 4090", None),
    ],
)  # fmt: skip
def test_gpu_name_matching(monkeypatch, device_name, expected):
    monkeypatch.setattr(hardware, "_visible_gpu_name", lambda: device_name)
    found = detect_local_gpu()
    assert (found.name if found else None) == expected
    for chip in ("h100", "h200", "mi300x"):
        assert device_present(load_target(chip)) == (chip == expected, device_name)


def test_more_specific_extra_chip_wins_detection(tmp_path, monkeypatch):
    text = (DOCS_DIR / "a100" / "spec.yaml").read_text()
    text = text.replace('["A100"]', '["A100-SXM4-40GB"]')
    text = re.sub(r"aliases: \[.*\]", 'aliases: ["A100-40GB"]', text)
    write_chip(tmp_path, "a100_40gb", text)
    monkeypatch.setattr(hardware, "_visible_gpu_name", lambda: "NVIDIA A100-SXM4-40GB")
    assert detect_local_gpu(extra_dirs=[tmp_path]).name == "a100_40gb"


def _front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.DOTALL)
    assert match, "guide.md must start with YAML front-matter between --- lines"
    return yaml.safe_load(match.group(1)), match.group(2)


@pytest.mark.parametrize("chip", SHIPPED)
def test_guide_has_front_matter_and_sections(chip):
    text = (DOCS_DIR / chip / "guide.md").read_text(encoding="utf-8")
    meta, body = _front_matter(text)
    assert meta["chip"] == chip and meta["source"] == "kevolve"
    assert meta["title"] and meta["version"] and meta["vendor"]
    if chip != "cpu":
        assert meta["vendor"] == load_target(chip).vendor
    headings = re.findall(r"^#{1,4} \S", body, re.MULTILINE)
    assert len(headings) >= 5
    assert 150 <= len(text.splitlines()) <= 400
    sections = ("Occupancy", "Tuning", "pitfalls", "Correctness", "peak bandwidth", "peak compute")
    for section in sections:
        assert re.search(rf"^## .*{section}", body, re.MULTILINE | re.IGNORECASE), (chip, section)
