"""The hardware registry: chip facts from ``hardware_docs/<chip>/spec.yaml`` as ``Target`` records.

A chip is named by its folder or any alias, ignoring case, spaces, dashes and underscores
(``"MI300"`` -> ``mi300x``, ``"H100 SXM"`` -> ``h100``, ``"gfx942"`` -> ``mi300x``,
``"host"`` -> ``cpu``); a leading vendor word (``NVIDIA``, ``AMD``) is dropped when nothing
else matches. Further folders laid out like ``hardware_docs/`` may be passed as
``extra_dirs``: a chip there loads the same way and overrides a shipped chip of the same
folder name. The ``cpu`` chip is the host: its model, cores, ISA features and an estimated
peak are detected at run time (:mod:`tools.hardware_host`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hardware_docs import DOCS_DIR
from tools.errors import TargetError
from tools.hardware_host import host_cpu_info, host_target_facts
from tools.records.target import Target

logger = logging.getLogger(__name__)

HOST_CHIP = "cpu"
"""Registry name of the host CPU, whose facts are detected at run time."""
SPEC_FILE = "spec.yaml"
GUIDE_FILE = "guide.md"
KNOWN_LANGUAGES = frozenset({"triton", "cuda", "hip", "cpp"})
_SPEC_FIELDS = frozenset(Target.model_fields) - {"name"}
_VENDOR_PREFIXES = ("amdinstinct", "nvidia", "amd", "intel")

__all__ = [
    "HOST_CHIP",
    "chip_dirs",
    "detect_local_gpu",
    "device_present",
    "host_cpu_info",
    "list_targets",
    "load_target",
    "normalize_chip_name",
]


def normalize_chip_name(name: str) -> str:
    """Fold a chip name for lookup: lower case, without spaces, dashes or underscores."""
    return re.sub(r"[\s_\-]+", "", name).lower()


def chip_dirs(extra_dirs: Sequence[Path] = ()) -> dict[str, Path]:
    """Map every chip name to its folder; a later folder overrides an earlier one of that name.

    Args:
        extra_dirs: Folders laid out like ``hardware_docs/``, searched after it.

    Raises:
        TargetError: An extra folder does not exist.
    """
    found: dict[str, Path] = {}
    for root in (DOCS_DIR, *(Path(d) for d in extra_dirs)):
        if not root.is_dir():
            raise TargetError(
                f"Hardware folder {root} does not exist; "
                "pass a folder laid out like hardware_docs/."
            )
        for spec in sorted(root.glob(f"*/{SPEC_FILE}")):
            found[spec.parent.name] = spec.parent
    return found


def _read_spec(path: Path) -> dict[str, Any]:
    """Parse one spec file into a mapping of known ``Target`` fields (``name`` excluded)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise TargetError(f"Chip spec {path} cannot be read as YAML ({e}); fix the file.") from e
    if not isinstance(data, dict):
        raise TargetError(f"Chip spec {path} must be a mapping of field names to values.")
    unknown = sorted(set(data) - _SPEC_FIELDS - {"name"})
    if unknown:
        raise TargetError(
            f"Chip spec {path} has unknown field '{unknown[0]}'; "
            "the fields are those of tools.records.target.Target."
        )
    if "name" in data and data["name"] != path.parent.name:
        raise TargetError(
            f"Chip spec {path} has a bad field 'name': the chip's name is its folder name "
            f"'{path.parent.name}', not {data['name']!r}; remove the field."
        )
    data.pop("name", None)
    return data


def _check(target: Target, path: Path) -> None:
    """Checks beyond types: raise ``TargetError`` naming the field that does not make sense."""

    def bad(field: str, problem: str) -> TargetError:
        return TargetError(f"Chip spec {path} has a bad field '{field}': {problem}.")

    if set(target.languages) - KNOWN_LANGUAGES:
        raise bad("languages", f"only {', '.join(sorted(KNOWN_LANGUAGES))} are known")
    if target.compute_units <= 0:
        raise bad("compute_units", "it must be positive")
    if target.memory_bandwidth_gbps <= 0:
        raise bad("memory_bandwidth_gbps", "it must be positive")
    if any(rate <= 0 for rate in target.peak_tflops.values()):
        raise bad("peak_tflops", "every rate must be positive")
    if target.kind == "gpu" and "triton" in target.languages and target.triton_target is None:
        raise bad("triton_target", "a GPU that accepts triton needs one")
    if target.triton_target is not None and target.triton_target.warp_size != target.warp_size:
        raise bad("triton_target", "its warp_size must equal the chip's warp_size")


def _build(name: str, folder: Path) -> Target:
    path = folder / SPEC_FILE
    data = _read_spec(path)
    if name == HOST_CHIP:
        data = {**host_target_facts(), **data}  # a value written in the file pins the detected one
    try:
        target = Target.model_validate({"name": name, **data})
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise TargetError(f"Chip spec {path} has a bad field '{field}': {err['msg']}.") from e
    _check(target, path)
    return target


def _registry(extra_dirs: Sequence[Path]) -> tuple[dict[str, Target], dict[str, str]]:
    """Load every chip; return targets by name and a map from folded alias to name."""
    targets = {name: _build(name, folder) for name, folder in chip_dirs(extra_dirs).items()}
    by_alias: dict[str, str] = {}
    for name in sorted(targets):  # names win over aliases: enter them first
        by_alias[normalize_chip_name(name)] = name
    for name, target in sorted(targets.items()):
        for alias in target.aliases:
            key = normalize_chip_name(alias)
            owner = by_alias.setdefault(key, name)
            if owner != name:
                raise TargetError(
                    f"Alias {alias!r} of chip '{name}' already names chip '{owner}'; "
                    "remove it from one of their spec.yaml files."
                )
    return targets, by_alias


def list_targets(extra_dirs: Sequence[Path] = ()) -> list[Target]:
    """Every chip in the registry, sorted by name.

    Args:
        extra_dirs: Further folders laid out like ``hardware_docs/``.

    Raises:
        TargetError: A spec file is malformed, or two chips claim the same alias.
    """
    targets, _ = _registry(extra_dirs)
    return [targets[name] for name in sorted(targets)]


def load_target(name: str, extra_dirs: Sequence[Path] = ()) -> Target:
    """Resolve a chip name or alias to its ``Target``.

    Args:
        name: Folder name or alias, in any case, with or without spaces, dashes, underscores.
        extra_dirs: Further folders laid out like ``hardware_docs/``.

    Raises:
        TargetError: The chip is unknown (the message lists the known ones), or a spec is
            malformed (the message names the file and field).
    """
    targets, by_alias = _registry(extra_dirs)
    key = normalize_chip_name(name)
    if key not in by_alias:
        for prefix in _VENDOR_PREFIXES:
            if key.startswith(prefix) and key[len(prefix):] in by_alias:
                key = key[len(prefix):]
                break
    if key not in by_alias:
        known = ", ".join(sorted(targets))
        raise TargetError(f"Unknown chip {name!r}; the known chips are {known}.")
    return targets[by_alias[key]]


def _match_length(target: Target, device_name: str) -> int:
    """Length of the longest ``torch_device_names`` entry found as a whole word in the name."""
    best = 0
    for needle in target.torch_device_names:
        pattern = rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])"
        if needle and re.search(pattern, device_name, re.IGNORECASE):
            best = max(best, len(needle))
    return best


def _visible_gpu_name() -> str:
    """Name of the current CUDA/ROCm device as torch reports it, or ``""`` when there is none."""
    try:
        import torch  # lazy: the registry itself must not need torch
    except ImportError:
        return ""
    try:
        if not torch.cuda.is_available():
            return ""
        return str(torch.cuda.get_device_name(torch.cuda.current_device()))
    except (RuntimeError, AssertionError) as e:  # broken driver, no device behind the runtime
        logger.warning("A GPU runtime is installed but no device can be queried: %s", e)
        return ""


def device_present(target: Target) -> tuple[bool, str]:
    """Whether this machine can measure on ``target``, and the device name to report.

    The GPU check initialises CUDA in this process (call it in the worker, not before a fork).
    A GPU is present when the current device's name contains one of the target's
    ``torch_device_names`` as a whole word, ignoring case ("H100" matches "NVIDIA H100 80GB
    HBM3" but neither "NVIDIA H200" nor "GH100"-style names).

    Args:
        target: A registry target.

    Returns:
        ``(True, measured_on)`` when it can measure: ``"<cpu model> (<n> cores)"`` for the
        host CPU, the torch device name for a GPU. Otherwise ``(False, visible)``, where
        ``visible`` is the GPU that is there instead, or ``""``; it is never a ``measured_on``.
    """
    if target.kind == "cpu":
        info = host_cpu_info()
        here = f"{info['model_name']} ({info['cores']} cores)"
        ok = target.name == HOST_CHIP or _match_length(target, info["model_name"]) > 0
        return ok, here if ok else ""
    gpu = _visible_gpu_name()
    if not gpu:
        return False, ""
    return _match_length(target, gpu) > 0, gpu


def detect_local_gpu(extra_dirs: Sequence[Path] = ()) -> Target | None:
    """The registry target matching the visible CUDA/ROCm device, or ``None``.

    When several chips match, the one with the longest matching ``torch_device_names`` entry
    wins (a curator's ``A100-SXM4-40GB`` beats the shipped ``A100``).

    Args:
        extra_dirs: Further folders laid out like ``hardware_docs/``.
    """
    gpu = _visible_gpu_name()
    if not gpu:
        return None
    gpus = [t for t in list_targets(extra_dirs) if t.kind == "gpu"]
    best = max(gpus, key=lambda t: _match_length(t, gpu), default=None)
    if best is None or _match_length(best, gpu) == 0:
        logger.info("The visible GPU %r matches no chip in the registry.", gpu)
        return None
    return best
