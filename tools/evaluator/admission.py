"""Memory admission: evaluations run side by side only as far as their footprints fit.

Every evaluation reserves its problem's footprint in a machine-wide ledger (a JSON file
guarded by ``flock``, shared by every process of this user: graph runs, bench shards,
tests, Ray tasks) before its worker starts, and releases it when the worker ends.
Reservations are kept per device slot (``device_slot``): the CPU's memory, and each
physical GPU's own, so evaluations on two GPUs of one machine do not wait for each other. The footprint is
the largest ``EvalResult.peak_memory_bytes`` seen for the problem on that device (the
reference passthrough is evaluated first), plus a margin and the per-process overhead
(CUDA context, allocator slack) the allocator does not count. The rule
(``admits``) is a pure function:

- an evaluation runs at once when nothing else holds memory (alone, it either fits or it
  does not: a later out-of-memory is then reported as "does not fit");
- a problem with no measured footprint yet is admitted on an estimate from its shapes
  (``estimate_peak_bytes``: inputs, outputs and parameters traced on the meta device, no
  memory allocated) until its first evaluation measures it; only a problem whose estimate
  exceeds the free memory, whose shapes cannot be traced, or that ran out of memory side
  by side runs alone (``exclusive``);
- otherwise it joins the running ones while the reservations together stay within the
  device's free memory, measured (``torch.cuda.mem_get_info`` in a short subprocess, or
  ``MemAvailable`` for the CPU) when the first of them was admitted.

Entries of dead processes are dropped, so a crashed orchestrator frees its memory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MARGIN = 0.15
"""Measured peaks are grown by this fraction: fragmentation and run-to-run variation."""
PROCESS_OVERHEAD_BYTES = {"cuda": 1 << 30, "cpu": 1 << 30}
"""Memory a worker holds outside its tensors: the CUDA context and allocator rounding on a
GPU; the interpreter, torch and Triton on the CPU."""
CAPACITY_TTL_S = 300.0
"""A free-memory measurement taken while nothing was admitted is reused this long."""
POLL_S = 0.2
"""How often a waiting evaluation looks at the ledger again."""


def admits(
    need: int, held: list[int], capacity: int, *, exclusive: bool = False,
    held_exclusive: bool = False, exclusive_waiting: bool = False,
) -> bool:  # fmt: skip
    """Whether an evaluation needing ``need`` bytes may start now.

    Args:
        need: Its reservation in bytes (ignored when ``exclusive``).
        held: The reservations of the evaluations running now.
        capacity: The device's free memory when the running ones were admitted.
        exclusive: It must run alone (footprint unknown, or it ran out of memory).
        held_exclusive: One of the running ones runs alone.
        exclusive_waiting: Another evaluation waits to run alone: nothing new joins
            before it (it would never find the device empty otherwise).

    Returns:
        True when nothing runs, or when neither side is exclusive and all reservations,
        this one included, fit in ``capacity``; never for a shared one while an exclusive
        one waits.
    """
    if exclusive_waiting and not exclusive:
        return False
    if not held:
        return True
    if exclusive or held_exclusive:
        return False
    return sum(held) + need <= capacity


ESTIMATE_INPUT_COPIES = 2
"""An evaluation holds two copies of the inputs (the call's and the pristine one)..."""
ESTIMATE_OUTPUT_COPIES = 3
"""...and three output-sized tensors (the candidate's, the reference's, one intermediate of
the reference): the measured peak of the worker (``docs/evaluation.md``, Memory policy)."""


def estimate_peak_bytes(problem_source: str) -> int | None:
    """The footprint an evaluation of a problem is expected to peak at, before any run.

    The problem's ``get_inputs``, ``Model`` and one forward call run on the meta device
    (shapes only, nothing allocated): ``ESTIMATE_INPUT_COPIES`` x the input bytes +
    ``ESTIMATE_OUTPUT_COPIES`` x the output bytes + the parameters and buffers. When the
    forward call cannot be traced on meta the output is taken as large as the inputs.

    Returns:
        Bytes, or ``None`` when the problem cannot be built on the meta device.
    """
    import torch

    try:
        namespace: dict[str, Any] = {"__name__": "_kevolve_estimate"}
        exec(compile(problem_source, "<problem>", "exec"), namespace)  # noqa: S102 - the reference
        with torch.device("meta"):
            torch.manual_seed(0)
            inputs = list(namespace["get_inputs"]())
            model = namespace["Model"](*namespace["get_init_inputs"]())
    except Exception as e:  # noqa: BLE001 - any failure: no estimate, run alone
        logger.debug("no meta-device estimate: %s", e)
        return None

    def nbytes(obj: Any) -> int:
        if isinstance(obj, torch.Tensor):
            return obj.numel() * obj.element_size()
        if isinstance(obj, (list, tuple)):
            return sum(nbytes(o) for o in obj)
        if isinstance(obj, dict):
            return sum(nbytes(o) for o in obj.values())
        return 0

    in_bytes = nbytes(inputs)
    params = sum(nbytes(t) for t in [*model.parameters(), *model.buffers()])
    try:
        with torch.no_grad():
            out_bytes = nbytes(model(*inputs))
    except Exception:  # noqa: BLE001 - data-dependent ops do not trace on meta
        out_bytes = in_bytes
    return ESTIMATE_INPUT_COPIES * in_bytes + ESTIMATE_OUTPUT_COPIES * out_bytes + params


def plan(
    peak: int | None, estimate: int | None, device: str, free_bytes: int
) -> tuple[int, bool]:
    """``(reservation bytes, exclusive)`` for an evaluation of a problem.

    Args:
        peak: Its measured footprint (``Ledger.footprint``): ``None`` never measured, ``-1``
            must run alone.
        estimate: ``estimate_peak_bytes`` of the problem (used while ``peak`` is ``None``).
        device: ``cuda`` or ``cpu``.
        free_bytes: The device's free memory now.
    """
    if peak is not None and peak < 0:
        return 0, True
    if peak is not None:
        return reservation_bytes(peak, device), False
    if estimate is None:
        return 0, True
    need = reservation_bytes(estimate, device)
    return (0, True) if need > free_bytes else (need, False)


def reservation_bytes(peak_bytes: int, device: str) -> int:
    """What to reserve for a problem whose evaluations peaked at ``peak_bytes``."""
    return int(peak_bytes * (1 + MARGIN)) + PROCESS_OVERHEAD_BYTES.get(device, 1 << 30)


def footprint_key(problem_source: str, target_name: str, device: str) -> str:
    """Ledger key of a problem's footprint: its source, the target and the device kind."""
    digest = hashlib.sha1(problem_source.encode()).hexdigest()[:16]
    return f"{device}/{target_name}/{digest}"


def cpu_free_bytes() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` (the whole of RAM where it is unreadable)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


VISIBLE_DEVICE_VARS = ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
"""How a process is given its GPUs, outermost first (ROCm applies ``ROCR_`` and then ``HIP_``
or ``CUDA_`` to what is left; CUDA reads only ``CUDA_``). Ray and schedulers set them."""


def visible_gpu(environ: Mapping[str, str] | None = None) -> str:
    """The physical GPU this process calls device 0: the first visible device's index or
    UUID after ``VISIBLE_DEVICE_VARS``, or ``0`` when none of them narrows the view.

    Two processes that name one GPU differently (an index here, its UUID there) get two
    keys; deployments give every process the same form (Ray uses indices).
    """
    env = os.environ if environ is None else environ
    visible: list[str] | None = None
    for var in VISIBLE_DEVICE_VARS:
        entries = [e.strip() for e in env.get(var, "").split(",") if e.strip()]
        if not entries:
            continue
        if visible is not None:  # an inner list indexes into the outer one
            entries = [visible[int(e)] if e.isdigit() and int(e) < len(visible) else e
                       for e in entries]  # fmt: skip
        visible = entries
    return visible[0] if visible else "0"


def device_slot(device: str, environ: Mapping[str, str] | None = None) -> str:
    """The ledger and device-lock key of what an evaluation uses: ``cpu`` (the machine's
    memory and cores), or ``cuda:<gpu>`` for the physical GPU it runs on (``visible_gpu``),
    so evaluations on two GPUs of one machine neither share a memory budget nor wait for
    each other's timing."""
    return f"cuda:{visible_gpu(environ)}" if device == "cuda" else "cpu"


def slot_lock_path(lock_path: str, slot: str) -> str:
    """The device-lock file of ``slot``: ``lock_path`` itself for the CPU, a sibling named
    after the GPU for a GPU (``timing.lock`` -> ``timing.cuda-1.lock``)."""
    if not lock_path or slot == "cpu":
        return lock_path
    path = Path(lock_path)
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", slot.replace(":", "-"))
    return str(path.with_name(f"{path.stem}.{tag}{path.suffix}"))


def default_ledger() -> Path:
    """``kevolve-memory-<uid>.json`` in the system temp dir: one ledger per machine and user;
    inside it, reservations and free memory are kept per ``device_slot`` (each GPU, the CPU)."""
    return Path(tempfile.gettempdir()) / f"kevolve-memory-{os.getuid()}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(kw_only=True)
class Grant:
    """One admitted evaluation: what it reserved and how long it waited."""

    id: str
    device: str
    bytes: int
    exclusive: bool
    waited_s: float


class Ledger:
    """The machine-wide admission ledger at ``path`` (see the module docstring).

    Args:
        path: The JSON file (its ``.lock`` sibling is the ``flock``).
        free_bytes: ``device -> free bytes now`` (``cpu``, ``cuda``); tests pass a fake.
    """

    def __init__(self, path: Path, free_bytes: Callable[[str], int]) -> None:
        self.path = path
        self.free_bytes = free_bytes
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    data = json.loads(self.path.read_text())
                    if not isinstance(data, dict):
                        data = {}
                except (OSError, ValueError):
                    data = {}
                data.setdefault("held", [])
                data.setdefault("capacity", {})
                data.setdefault("footprints", {})
                data.setdefault("waiting", [])
                data["held"] = [h for h in data["held"] if _alive(int(h.get("pid", 0)))]
                data["waiting"] = [w for w in data["waiting"] if _alive(int(w.get("pid", 0)))]
                yield data
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def footprint(self, key: str) -> int | None:
        """The largest peak recorded for ``key`` (bytes), ``-1`` when it must run alone, or
        ``None`` when never measured."""
        with self._locked() as data:
            value = data["footprints"].get(key)
        return None if value is None else int(value)

    def record(self, key: str, peak_bytes: int | None, *, alone: bool = False) -> None:
        """Keep the largest peak seen for ``key``; ``alone`` marks it to run alone from now on."""
        with self._locked() as data:
            old = data["footprints"].get(key)
            if alone or old == -1:
                data["footprints"][key] = -1
            elif peak_bytes is not None:
                data["footprints"][key] = max(int(old or 0), int(peak_bytes))

    def _try(self, device: str, need: int, exclusive: bool, ticket: str) -> Grant | None:
        with self._locked() as data:
            held = [h for h in data["held"] if h["device"] == device]
            waiting = [
                w for w in data["waiting"] if w["device"] == device and w["id"] != ticket
            ]
            cap = data["capacity"].get(device)
            now = time.time()
            if not held and (cap is None or now - cap["at"] > CAPACITY_TTL_S):
                cap = {"bytes": int(self.free_bytes(device)), "at": now}
                data["capacity"][device] = cap
            ok = admits(
                need,
                [int(h["bytes"]) for h in held],
                int(cap["bytes"]),
                exclusive=exclusive,
                held_exclusive=any(h["exclusive"] for h in held),
                exclusive_waiting=bool(waiting),
            )
            if not ok:
                if exclusive and not any(w["id"] == ticket for w in data["waiting"]):
                    data["waiting"].append({"id": ticket, "pid": os.getpid(), "device": device})
                return None
            data["waiting"] = [w for w in data["waiting"] if w["id"] != ticket]
            grant = Grant(id=uuid.uuid4().hex, device=device, bytes=need, exclusive=exclusive,
                          waited_s=0.0)  # fmt: skip
            data["held"].append(
                {"id": grant.id, "pid": os.getpid(), "device": device, "bytes": need,
                 "exclusive": exclusive}  # fmt: skip
            )
            return grant

    def _release(self, grant: Grant) -> None:
        with self._locked() as data:
            data["held"] = [h for h in data["held"] if h["id"] != grant.id]

    @contextmanager
    def hold(self, device: str, need: int, *, exclusive: bool) -> Iterator[Grant]:
        """Wait until ``admits`` lets ``need`` bytes in on ``device``, hold them inside."""
        start = time.monotonic()
        ticket = uuid.uuid4().hex
        try:
            grant = self._try(device, need, exclusive, ticket)
            while grant is None:
                time.sleep(POLL_S)
                grant = self._try(device, need, exclusive, ticket)
        except BaseException:
            with self._locked() as data:  # stopped while waiting: leave no ticket behind
                data["waiting"] = [w for w in data["waiting"] if w["id"] != ticket]
            raise
        grant.waited_s = time.monotonic() - start
        try:
            yield grant
        finally:
            self._release(grant)
