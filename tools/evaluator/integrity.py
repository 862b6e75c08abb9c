"""The evaluator's own functions, verified unchanged after candidate code ran (worker only).

A candidate runs in the process that times and judges it, so it can try to change the
harness at run time by paths no static rule sees: ``setattr`` on a module reached through
``torch.sys.modules``, ``gc.get_referrers`` on a timer to find the dicts that hold it,
``ctypes`` writes into a function object, a ``TorchFunctionMode`` left on the stack that
makes comparisons lie, a Python thread that finishes the output after the call returned.

``Seal.take()`` runs before the candidate module is imported. It keeps a strong reference
to every callable in the watched modules and classes (``time``, ``statistics``,
``builtins``, ``torch``, ``torch.cuda`` and its ``Event``, ``torch.Tensor``, the
evaluator's own modules ...) together with a fingerprint: the object's identity; for a
Python function its code object, a hash of the bytecode, defaults, closure cells and
globals dict; for a built-in function the C-level method table and call pointers read
through ``ctypes`` (a raw memory write that redirects ``time.perf_counter`` shows there).
``Seal.verify()`` compares the live objects with the snapshot and also checks the run-time
state a candidate call must leave as it found it: no torch function or dispatch mode on
the stack, no trace or profile function, no extra Python thread.

``Seal.sign``/``Seal.signed`` put an HMAC on timing statistics with a key drawn from the
OS when the seal is taken; a timing function swapped for one that fabricates numbers does
not hold the key.

Limits: this is a check inside the candidate's process. Code that rewrites the harness's
frame locals or raw memory and undoes it before the next check is not excluded; the
complete answer, timing from a separate trusted process, is not implemented.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import hmac
import secrets
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any

import torch

WATCHED_MODULES = (
    "builtins",
    "time",
    "statistics",
    "math",
    "hmac",
    "hashlib",
    "secrets",
    "random",
    "json",
    "torch",
    "torch.cuda",
    "torch.overrides",
    "tools.evaluator.timing",
    "tools.evaluator.diagnose",
    "tools.evaluator.correctness",
    "tools.evaluator.tolerances",
    "tools.evaluator.loader",
    "tools.evaluator.integrity",
    "tools.evaluator.protocol",
    "tools.evaluator.worker",
    "__main__",
)
"""Modules whose callables the timing and the checks depend on (imported ones only)."""

WATCHED_CLASSES: tuple[Any, ...] = (
    torch.cuda.Event,
    torch.Tensor,
    float,
    int,
    list,
    dict,
    tuple,
)
"""Classes whose attribute dicts (along the MRO, ``object`` excluded) are watched."""

_PTR = ctypes.sizeof(ctypes.c_void_p)
_CFUNC_FIELDS = 5
"""``PyCFunctionObject`` after the object head: m_ml, m_self, m_module, m_weakreflist,
vectorcall (CPython 3.9-3.13)."""


def _c_fingerprint(obj: Any) -> tuple[int, ...]:
    """The C call path of a built-in function: its fields and its method table entry."""
    if not (3, 9) <= sys.version_info[:2] <= (3, 13):
        return ()
    base = id(obj) + 2 * _PTR  # after ob_refcnt and ob_type
    fields = tuple(
        ctypes.c_void_p.from_address(base + i * _PTR).value or 0 for i in range(_CFUNC_FIELDS)
    )
    method_def = fields[0]
    meth = ctypes.c_void_p.from_address(method_def + _PTR).value or 0 if method_def else 0
    return (*fields[:3], fields[4], meth)


def _fingerprint(obj: Any) -> tuple[Any, ...]:
    """What must not change about a watched callable (its identity is checked apart)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return tuple(_fingerprint(f) for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        cells = tuple(id(c.cell_contents) for c in obj.__closure__ or () if _filled(c))
        return (
            id(code),
            hashlib.sha256(code.co_code).digest(),
            id(obj.__defaults__),
            id(obj.__kwdefaults__),
            cells,
            id(obj.__globals__),
        )
    if isinstance(obj, types.BuiltinFunctionType):
        return _c_fingerprint(obj)
    return ()


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _watched(value: Any) -> bool:
    return callable(value) or isinstance(value, (property, staticmethod, classmethod))


def _namespaces(extra: tuple[Any, ...] = ()) -> list[tuple[str, Any, bool]]:
    """(name, attribute dict, is a module) of every watched module and class."""
    spaces: list[tuple[str, Any, bool]] = []
    for name in WATCHED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            spaces.append((name, vars(module), True))
    for cls in WATCHED_CLASSES + extra:
        for klass in cls.__mro__:
            if klass is not object:
                spaces.append((f"{klass.__module__}.{klass.__qualname__}", klass.__dict__, False))
    return spaces


def _runs_code_from(frame: Any, code_file: str) -> bool:
    while frame is not None:
        if frame.f_code.co_filename == code_file:
            return True
        frame = frame.f_back
    return False


def _plain_python(target: Any, code_file: str) -> bool:
    """A thread target that is a Python function (or method, or partial of one) defined
    outside ``code_file``: how library pools (compile workers, tqdm) start their threads."""
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, types.MethodType):
        target = target.__func__
    return isinstance(target, types.FunctionType) and target.__code__.co_filename != code_file


def candidate_threads(code_file: str) -> list[str]:
    """Python threads other than this one that run candidate work: a frame from
    ``code_file`` on their stack, a target that is not a plain library Python function (a
    C function such as ``Tensor.copy_`` called directly), or started outside ``threading``.
    Idle library workers (thread pools, monitors) do not count."""
    me = threading.get_ident()
    known = {t.ident: t for t in threading.enumerate()}
    found = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        thread = known.get(ident)
        target = getattr(thread, "_target", None)
        if (
            thread is None
            or (code_file and _runs_code_from(frame, code_file))
            or (target is not None and not _plain_python(target, code_file))
        ):
            found.append(thread.name if thread is not None else f"thread {ident}")
    return found


def runtime_state(code_file: str = "") -> dict[str, Any]:
    """Process state a candidate call must leave unchanged (modes, tracers, threads).

    Args:
        code_file: The candidate's source file, whose frames mark a thread as its own.
    """
    state: dict[str, Any] = {
        "torch function modes": torch._C._len_torch_function_stack(),
        "torch dispatch modes": torch._C._len_torch_dispatch_stack(),
        "trace function": sys.gettrace() is not None,
        "profile function": sys.getprofile() is not None,
        "Python threads running candidate work": len(candidate_threads(code_file)),
    }
    if torch.cuda.is_initialized():  # events record on the current stream
        state["current CUDA stream"] = torch.cuda.current_stream().cuda_stream
    return state


@dataclass
class Seal:
    """A snapshot of the harness, taken before candidate code is imported."""

    entries: dict[tuple[str, str], tuple[Any, tuple[Any, ...]]] = field(default_factory=dict)
    """(namespace, name) -> (the object itself, its fingerprint)."""
    spaces: dict[str, int] = field(default_factory=dict)
    """module -> id of its dict (a module whose dict was swapped shows here)."""
    state: dict[str, Any] = field(default_factory=dict)
    key: bytes = b""
    extra: tuple[Any, ...] = ()
    """Further classes watched (the worker's own)."""
    code_file: str = ""
    """The candidate's source file (threads running its code are its own)."""

    @classmethod
    def take(cls, extra: tuple[Any, ...] = (), code_file: str = "") -> Seal:
        """Snapshot every watched callable and the run-time state, and draw a signing key.

        Args:
            extra: Classes to watch besides ``WATCHED_CLASSES`` (the worker's own).
            code_file: The candidate's source file (see ``candidate_threads``).
        """
        # torch._dynamo wraps torch.manual_seed and friends when first imported, which the
        # first forward call does anyway: import it before the snapshot
        import torch._dynamo  # noqa: F401

        seal = cls(
            key=secrets.token_bytes(32),
            state=runtime_state(code_file),
            extra=extra,
            code_file=code_file,
        )
        for space, ns, is_module in _namespaces(extra):
            if is_module:  # a class's __dict__ is a fresh mappingproxy at each access
                seal.spaces[space] = id(ns)
            for name, value in list(ns.items()):
                if _watched(value) and not isinstance(value, types.ModuleType):
                    seal.entries[(space, name)] = (value, _fingerprint(value))
        return seal

    def verify(self, *, state: bool = True) -> str | None:
        """``None`` when the harness is as snapshot, else one sentence naming what changed.

        Args:
            state: Also compare ``runtime_state()`` with the snapshot's (off while the
                harness itself holds a mode, e.g. the op counter around a first call).
        """
        changed: list[str] = []
        live = {space: ns for space, ns, _ in _namespaces(self.extra)}
        for space, ident in self.spaces.items():
            if space not in live or id(live[space]) != ident:
                changed.append(f"the namespace of {space} was replaced")
        for (space, name), (obj, print_) in self.entries.items():
            ns = live.get(space)
            if ns is None:
                continue
            current = ns.get(name, _MISSING)
            if current is not obj:
                changed.append(f"{space}.{name} was replaced")
            elif _fingerprint(obj) != print_:
                changed.append(f"{space}.{name} was altered in place (code or C call path)")
            if len(changed) >= 5:
                break
        now = runtime_state(self.code_file) if state else self.state
        for what, before in self.state.items():
            if now[what] != before:
                changed.append(f"{what}: {before} before candidate code ran, {now[what]} after")
        if not changed:
            return None
        return "the evaluator's own functions or state were changed at run time: " + "; ".join(
            changed
        )

    def sign(self, values: tuple[Any, ...]) -> bytes:
        """HMAC of ``values`` (their ``repr``) under this seal's key."""
        return hmac.new(self.key, repr(values).encode(), hashlib.sha256).digest()

    def signed(self, values: tuple[Any, ...], mac: bytes) -> bool:
        """True when ``mac`` is this seal's HMAC of ``values``."""
        return hmac.compare_digest(self.sign(values), mac)


_MISSING = object()
