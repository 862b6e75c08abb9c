"""Facts about the host CPU, read at run time (the ``cpu`` chip of the hardware registry).

Linux facts come from ``/proc/cpuinfo``, ``/sys`` and the process's CPU affinity; macOS and
Windows fall back to ``sysctl`` and :mod:`platform`. Nothing here imports torch. The peak rate
is an *estimate* (cores x vector lanes x FMA pipes x 2 flops x clock), an upper bound that a
roofline may use, never a measured figure.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NOMINAL_CLOCK_GHZ = 3.0
"""Clock assumed for the peak estimate when the machine does not tell us one, in GHz."""
FMA_PIPES = 2
"""Vector FMA pipes per core assumed by the estimate (most x86 server cores and Neoverse)."""

_X86_FEATURES = (
    "sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f", "avx512cd", "avx512dq",
    "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
    "amx_int8", "amx_fp16",
)  # fmt: skip
_ARM_FEATURES = ("asimd", "asimdhp", "asimddp", "fphp", "bf16", "i8mm", "sve", "sve2", "sme")
ISA_FEATURES = _X86_FEATURES + _ARM_FEATURES
"""ISA features that matter to kernel code, in the order they are reported."""

_VENDORS = {"genuineintel": "intel", "authenticamd": "amd", "hygongenuine": "hygon"}
_ARM_IMPLEMENTERS = {"0x41": "arm", "0x61": "apple", "0x48": "hisilicon", "0xc0": "ampere"}


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Read the facts kevolve needs out of ``/proc/cpuinfo`` text (x86 or aarch64 layout).

    Args:
        text: The file's contents.

    Returns:
        ``model_name``, ``vendor`` (lower case, ``""`` if absent), ``flags`` (sorted list),
        and ``max_mhz`` (the largest ``cpu MHz`` line, 0.0 if none).
    """
    first: dict[str, str] = {}
    mhz: list[float] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "cpu mhz":
            try:
                mhz.append(float(value))
            except ValueError:
                pass
        first.setdefault(key, value)
    flags = sorted(set((first.get("flags") or first.get("features") or "").split()))
    vendor_id = first.get("vendor_id", "").lower()
    vendor = _VENDORS.get(vendor_id, vendor_id)
    if not vendor and "cpu implementer" in first:
        vendor = _ARM_IMPLEMENTERS.get(first["cpu implementer"].lower(), "arm")
    model = first.get("model name") or first.get("hardware") or ""
    return {"model_name": model, "vendor": vendor, "flags": flags, "max_mhz": max(mhz, default=0.0)}


def cpu_arch(machine: str, flags: list[str] | set[str]) -> str:
    """Name the host's vector ISA level: ``x86_64-avx512``, ``x86_64-avx2``, ``aarch64-neon``...

    Args:
        machine: ``platform.machine()`` (``x86_64``, ``AMD64``, ``aarch64``, ``arm64``).
        flags: CPU flags as ``/proc/cpuinfo`` spells them.
    """
    m = machine.lower()
    if m in ("x86_64", "amd64", "x64"):
        if "avx512f" in flags:
            return "x86_64-avx512"
        if "avx2" in flags:
            return "x86_64-avx2"
        return "x86_64"
    if m in ("aarch64", "arm64"):
        if "sve" in flags:
            return "aarch64-sve"
        if "asimd" in flags:
            return "aarch64-neon"
        return "aarch64"
    return m or "unknown"


def vector_bits(flags: list[str] | set[str]) -> int:
    """Width of the widest FP32 vector the flags promise, in bits (SVE counted as 128)."""
    if "avx512f" in flags:
        return 512
    if "avx" in flags or "avx2" in flags:
        return 256
    return 128  # SSE2 is baseline on x86_64, NEON/ASIMD on aarch64; SVE length varies


def estimate_peak_tflops(
    cores: int, flags: list[str] | set[str], clock_ghz: float
) -> dict[str, float]:
    """Estimate dense FP32/FP64 peak of ``cores`` physical cores, in TFLOP/s.

    An estimate and an upper bound: cores x FP32 lanes x ``FMA_PIPES`` x 2 flops per FMA x
    clock. Chips that split 512-bit work into two 256-bit halves (AMD Zen 4) or run AVX-512 at
    a lower clock reach less than this.

    Args:
        cores: Physical cores the process may use.
        flags: CPU flags as ``/proc/cpuinfo`` spells them.
        clock_ghz: Nominal (maximum or base) clock in GHz.
    """
    lanes = vector_bits(flags) // 32
    flops_per_op = 2 if ("fma" in flags or "asimd" in flags or "avx512f" in flags) else 1
    fp32 = cores * lanes * FMA_PIPES * flops_per_op * clock_ghz / 1000.0
    return {"fp32": fp32, "fp64": fp32 / 2}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _sysctl(name: str) -> str:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _usable_cpus() -> list[int]:
    """Logical CPU ids this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cgroup_cpu_limit() -> int:
    """CPUs allowed by a cgroup v2 quota (``cpu.max``), or 0 when there is none."""
    parts = _read("/sys/fs/cgroup/cpu.max").split()
    if len(parts) == 2 and parts[0] != "max":
        try:
            return max(1, math.ceil(int(parts[0]) / int(parts[1])))
        except (ValueError, ZeroDivisionError):
            return 0
    return 0


def _physical_cores(cpus: list[int]) -> int:
    """Distinct (package, core) pairs among ``cpus``; the logical count when /sys is silent."""
    cores = set()
    for cpu in cpus:
        topo = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        core, package = _read(topo + "core_id").strip(), _read(topo + "physical_package_id").strip()
        if not core:
            return len(cpus)
        cores.add((package, core))
    return len(cores) or len(cpus)


def _clock_ghz(model_name: str, max_mhz: float) -> tuple[float, str]:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit() and int(khz) > 0:
        return int(khz) / 1e6, "cpufreq max"
    found = re.search(r"@\s*([0-9.]+)\s*GHz", model_name)
    if found:
        return float(found.group(1)), "model name"
    if max_mhz > 0:
        return max_mhz / 1000.0, "cpuinfo MHz"
    return NOMINAL_CLOCK_GHZ, "default"


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return 0.0


def _platform_facts() -> dict[str, Any]:
    """Model, vendor and flags on this OS, in ``parse_cpuinfo``'s shape."""
    system, machine = platform.system(), platform.machine()
    if system == "Linux":
        facts = parse_cpuinfo(_read("/proc/cpuinfo"))
    elif system == "Darwin":
        raw = f"{_sysctl('machdep.cpu.features')} {_sysctl('machdep.cpu.leaf7_features')}"
        flags = {f.lower().replace(".", "_") for f in raw.split()}
        if machine == "arm64":
            flags |= {"asimd", "asimdhp", "fphp"}
        brand = _sysctl("machdep.cpu.brand_string")
        x86_vendor = _VENDORS.get(_sysctl("machdep.cpu.vendor").lower(), "")
        vendor = "apple" if machine == "arm64" else x86_vendor
        facts = {"model_name": brand, "vendor": vendor, "flags": sorted(flags), "max_mhz": 0.0}
    else:
        facts = {"model_name": platform.processor(), "vendor": "", "flags": [], "max_mhz": 0.0}
    if not facts["model_name"]:
        facts["model_name"] = platform.processor() or f"{machine or 'unknown'} CPU"
    if not facts["vendor"]:
        facts["vendor"] = "unknown"
    return facts


@functools.lru_cache(maxsize=1)
def _host_info_cached() -> dict[str, Any]:
    facts = _platform_facts()
    cpus = _usable_cpus()
    quota = _cgroup_cpu_limit()
    usable = min(len(cpus), quota) if quota else len(cpus)
    physical = min(_physical_cores(cpus), usable)
    clock, clock_source = _clock_ghz(facts["model_name"], facts["max_mhz"])
    flags = facts["flags"]
    machine = platform.machine()
    return {
        "model_name": facts["model_name"],
        "vendor": facts["vendor"],
        "machine": machine,
        "arch": cpu_arch(machine, flags),
        "cores": usable,
        "physical_cores": physical,
        "clock_ghz": clock,
        "clock_source": clock_source,
        "memory_gib": _memory_gib(),
        "isa_features": [f for f in ISA_FEATURES if f in flags],
        "flags": list(flags),
    }


def host_cpu_info() -> dict[str, Any]:
    """Describe the host CPU (JSON-serialisable; read once per process, then cached).

    Returns:
        ``model_name``, ``vendor``, ``machine``, ``arch``, ``cores`` (logical CPUs this process
        may use: affinity, capped by a cgroup quota), ``physical_cores``, ``clock_ghz`` with
        ``clock_source`` (``cpufreq max``, ``model name``, ``cpuinfo MHz`` or ``default``),
        ``memory_gib``, ``isa_features`` (the kernel-relevant subset) and ``flags`` (all).
    """
    info = dict(_host_info_cached())
    info["isa_features"] = list(info["isa_features"])
    info["flags"] = list(info["flags"])
    return info


def host_target_facts() -> dict[str, Any]:
    """The ``Target`` fields of the ``cpu`` chip that are detected rather than written down."""
    info = host_cpu_info()
    return {
        "display_name": info["model_name"],
        "vendor": info["vendor"],
        "arch": info["arch"],
        "compute_units": info["cores"],
        "isa_features": info["isa_features"],
        "memory_gib": info["memory_gib"],
        # Estimate, not a datasheet figure: see estimate_peak_tflops.
        "peak_tflops": estimate_peak_tflops(
            info["physical_cores"], info["flags"], info["clock_ghz"]
        ),
    }
