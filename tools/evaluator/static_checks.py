"""Static checks on a candidate's source (AST only; nothing is executed).

Each rule below carries a ``# Rationale:`` comment: the reward hack it closes. Names are
resolved through the module's imports, so ``import torch as t; t.cuda.Stream()`` is seen as
``torch.cuda.Stream``. The checks are a first filter, not a proof: the dynamic stages
(fresh inputs, poisoned outputs, bitwise reruns, roofline flag) back them up.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tools.evaluator.factories import EMPTY_FACTORIES, FILL_FACTORIES

FORBIDDEN_IMPORTS = {
    # Rationale: work on other threads or processes escapes the timed region and the sync.
    "threading": "concurrency",
    "multiprocessing": "concurrency",
    "concurrent": "concurrency",
    "asyncio": "concurrency",
    "_thread": "concurrency",
    # Rationale: patching helpers can replace timers or comparisons wholesale.
    "unittest": "module_patching",
    "mock": "module_patching",
    # Rationale: introspection reaches the reference module, its outputs, or the worker's
    # frames (where the result token lives).
    "gc": "introspection",
    "inspect": "introspection",
    "importlib": "introspection",
    "builtins": "introspection",
    # Rationale: ctypes writes raw memory: a function's code pointer, a C function table,
    # the evaluator's snapshot of itself; no kernel needs it (C++ builds through torch).
    "ctypes": "introspection",
    # Rationale: child processes and signals escape the sandbox's process group and limits.
    "subprocess": "process_control",
    "signal": "process_control",
    "pty": "process_control",
    # Rationale: raising resource limits undoes the sandbox's memory cap.
    "resource": "process_control",
    # Rationale: a candidate is a self-contained KernelBench file; importing kevolve's own
    # evaluator would let it reach (and patch) the code that judges it.
    "tools": "evaluator_access",
    "kevolve": "evaluator_access",
    # Rationale: a kernel needs no network; a connection can fetch answers or leak data (the
    # worker also runs in an empty network namespace where the OS allows).
    "socket": "network",
    "ssl": "network",
    "http": "network",
    "urllib": "network",
    "requests": "network",
    "httpx": "network",
    "aiohttp": "network",
    "ftplib": "network",
    "smtplib": "network",
    "xmlrpc": "network",
    "websocket": "network",
    "websockets": "network",
    # Rationale: a kernel needs no files of its own; reading them finds the reference source,
    # other candidates' work dirs or cached outputs, and writing them escapes the temp dir.
    "pathlib": "filesystem_access",
    "glob": "filesystem_access",
    "shutil": "filesystem_access",
    "tempfile": "filesystem_access",
    "pickle": "filesystem_access",
    "shelve": "filesystem_access",
}

FORBIDDEN_NAMES = {
    # Rationale: CUDA/HIP streams let a kernel run outside the stream that timing syncs on.
    "torch.cuda.Stream": "streams",
    "torch.cuda.stream": "streams",
    "torch.cuda.set_stream": "streams",
    "torch.cuda.ExternalStream": "streams",
    "torch.Stream": "streams",
    "torch.cuda.graphs": "streams",
    "torch.cuda.CUDAGraph": "streams",
    "torch.cuda.graph": "streams",
    "cupy.cuda.Stream": "streams",
    # Rationale: introspection reaches the reference module, its outputs, or the worker.
    "sys.modules": "introspection",
    "sys._getframe": "introspection",
    "sys.settrace": "introspection",
    "sys.setprofile": "introspection",
    "globals": "introspection",
    "vars": "introspection",
    "__import__": "introspection",
    # Rationale: eval/exec/compile hide code from every other rule here.
    "eval": "dynamic_code",
    "exec": "dynamic_code",
    "compile": "dynamic_code",
    # Rationale: torch.compile (or dynamo/Inductor's compiler) at run time is torch.compile's
    # kernel measured as the candidate's, its compile hidden in the warm-up. Inductor's
    # generated code is allowed as source (its runtime helpers, torch._inductor.runtime and
    # async_compile, compile only the kernels written in the module).
    "torch.compile": "torch_compile",
    "torch._dynamo": "torch_compile",
    "torch._inductor.compile_fx": "torch_compile",
    # Rationale: exiting or forking hides a failure or escapes the sandbox.
    "os.system": "process_control",
    "os.fork": "process_control",
    "os.forkpty": "process_control",
    "os.kill": "process_control",
    "os.killpg": "process_control",
    "os._exit": "process_control",
    "os.popen": "process_control",
    "os.execv": "process_control",
    "os.execve": "process_control",
    "os.execvp": "process_control",
    "os.spawnv": "process_control",
    "os.posix_spawn": "process_control",
    "sys.exit": "process_control",
    "exit": "process_control",
    "quit": "process_control",
    # Rationale: file access (see FORBIDDEN_IMPORTS): builtins, os and tensor/array file I/O.
    "open": "filesystem_access",
    "io.open": "filesystem_access",
    "io.FileIO": "filesystem_access",
    "codecs.open": "filesystem_access",
    "os.open": "filesystem_access",
    "os.listdir": "filesystem_access",
    "os.scandir": "filesystem_access",
    "os.walk": "filesystem_access",
    "os.remove": "filesystem_access",
    "os.unlink": "filesystem_access",
    "os.rename": "filesystem_access",
    "os.replace": "filesystem_access",
    "os.mkdir": "filesystem_access",
    "os.makedirs": "filesystem_access",
    "os.rmdir": "filesystem_access",
    "os.chdir": "filesystem_access",
    "os.symlink": "filesystem_access",
    "os.link": "filesystem_access",
    "os.truncate": "filesystem_access",
    "torch.load": "filesystem_access",
    "torch.save": "filesystem_access",
    "torch.from_file": "filesystem_access",
    "numpy.load": "filesystem_access",
    "numpy.save": "filesystem_access",
    "numpy.savez": "filesystem_access",
    "numpy.fromfile": "filesystem_access",
    "numpy.loadtxt": "filesystem_access",
    "numpy.savetxt": "filesystem_access",
    "numpy.genfromtxt": "filesystem_access",
    "numpy.memmap": "filesystem_access",
}

INTROSPECTION_ATTRS = frozenset(
    {
        "__dict__",
        "__code__",
        "__globals__",
        "__builtins__",
        "__closure__",
        "__defaults__",
        "__kwdefaults__",
        "__subclasses__",
        "f_back",
        "f_locals",
        "f_globals",
        "f_builtins",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "tb_frame",
        "sys",
    }
)
"""Attributes that reach another module's namespace, a function's code or a frame.
Rationale: through them a candidate finds and rewrites the evaluator's timer, statistics
or comparisons at run time (``torch.sys.modules``, ``f.__code__ = ...``, a frame's locals)."""

REFERENCE_NAMES = ("Model", "get_inputs", "get_init_inputs")
"""Names the reference module defines. Rationale: calling the reference (or drawing its
inputs) inside ModelNew is a passthrough, not a kernel."""

SAFE_TORCH_CALLS = frozenset(
    {
        *EMPTY_FACTORIES,
        *FILL_FACTORIES,
        "tensor",
        "as_tensor",
        "device",
        "Size",
        "dtype",
        "is_tensor",
        "manual_seed",
        "no_grad",
        "inference_mode",
        "finfo",
        "iinfo",
    }
)
"""Allocation and metadata calls allowed when ``allow_reference_ops`` is off."""

TORCH_OP_PREFIXES = ("torch.", "torch.nn.functional.", "torch.special.", "torch.linalg.")


@dataclass(frozen=True)
class Violation:
    """One broken rule: its id, the source line, and what was seen."""

    rule: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"rule '{self.rule}' at line {self.line}: {self.message}"


class _Checker(ast.NodeVisitor):
    def __init__(self, allow_reference_ops: bool) -> None:
        self.aliases: dict[str, str] = {}
        self.defined: set[str] = set()
        self.violations: list[Violation] = []
        self.allow_reference_ops = allow_reference_ops

    def flag(self, rule: str, node: ast.AST, message: str) -> None:
        self.violations.append(Violation(rule, getattr(node, "lineno", 0), message))

    def dotted(self, node: ast.AST) -> str | None:
        """Full dotted name of a Name/Attribute chain, with the root resolved via imports."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id, node.id)
        return ".".join([root, *reversed(parts)])

    def root_is_module(self, node: ast.AST) -> bool:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.aliases

    def check_import(self, module: str, node: ast.AST) -> None:
        for name, rule in FORBIDDEN_IMPORTS.items():
            if module == name or module.startswith(name + "."):
                self.flag(rule, node, f"imports '{module}'")

    # Rationale (imports): see FORBIDDEN_IMPORTS; aliases are recorded for name resolution.
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_import(alias.name, node)
            bound = alias.asname or alias.name.split(".")[0]
            self.aliases[bound] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.check_import(full, node)
            self.aliases[alias.asname or alias.name] = full
            if full in FORBIDDEN_NAMES:
                self.flag(FORBIDDEN_NAMES[full], node, f"imports '{full}'")

    # Rationale (no_try): a try/except around a kernel call can fall back to the PyTorch
    # reference path when the kernel fails, so a broken kernel would look correct.
    def visit_Try(self, node: ast.AST) -> None:
        self.flag("no_try", node, "try/except is not allowed in a candidate (fallback risk)")
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.flag("introspection", node, "uses '__builtins__'")
        if isinstance(node.ctx, ast.Load):
            if node.id in REFERENCE_NAMES and node.id not in self.defined:
                self.flag("reference_model_used", node, f"refers to the reference's '{node.id}'")
            resolved = self.aliases.get(node.id, node.id)
            if resolved in FORBIDDEN_NAMES and resolved == node.id:
                self.flag(FORBIDDEN_NAMES[resolved], node, f"uses '{resolved}'")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.dotted(node)
        if name is not None:
            for forbidden, rule in FORBIDDEN_NAMES.items():
                if "." in forbidden and (name == forbidden or name.startswith(forbidden + ".")):
                    self.flag(rule, node, f"uses '{name}'")
                    break
            if name.endswith((".stream", ".Stream")):
                self.flag("streams", node, f"uses '{name}'")
        if node.attr in REFERENCE_NAMES and isinstance(node.ctx, ast.Load):
            self.flag("reference_model_used", node, f"refers to an attribute '{node.attr}'")
        # Rationale (introspection): see INTROSPECTION_ATTRS.
        if node.attr in INTROSPECTION_ATTRS:
            self.flag("introspection", node, f"uses the attribute '{node.attr}'")
        self.generic_visit(node)

    # Rationale (module_patching): assigning to a module attribute (time.perf_counter,
    # torch.cuda.Event.elapsed_time, torch.allclose, triton.testing.do_bench, os.environ[...])
    # changes how the evaluator measures or compares, not what the kernel does.
    def check_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_target(elt, node)
        elif isinstance(target, (ast.Attribute, ast.Subscript)) and self.root_is_module(target):
            self.flag("module_patching", node, f"assigns to '{ast.unparse(target)}' of a module")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.check_target(target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.check_target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.check_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self.check_target(target, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = self.dotted(node.func)
        if func in {"setattr", "delattr"} and node.args and self.root_is_module(node.args[0]):
            self.flag("module_patching", node, f"{func}() on an imported module")
        if func in {"getattr", "setattr", "hasattr", "delattr"}:
            for arg in node.args[1:2]:
                if isinstance(arg, ast.Constant) and arg.value in REFERENCE_NAMES:
                    self.flag("reference_model_used", node, f"looks up '{arg.value}' by name")
                if isinstance(arg, ast.Constant) and arg.value in INTROSPECTION_ATTRS:
                    self.flag("introspection", node, f"looks up '{arg.value}' by name")
                # Rationale (introspection): a module attribute whose name is built at run
                # time hides from every rule here (getattr(torch, "s" + "ys")).
                if not isinstance(arg, ast.Constant) and node.args and self.root_is_module(
                    node.args[0]
                ):
                    self.flag("introspection", node, f"{func}() on a module with a computed name")
        # Rationale (reference_ops): with the policy off, ModelNew must compute with its own
        # kernels; a torch op doing the work is the reference in disguise.
        if not self.allow_reference_ops and func and func.startswith(TORCH_OP_PREFIXES):
            leaf = func.rsplit(".", 1)[-1]
            if leaf not in SAFE_TORCH_CALLS and not func.startswith("torch.utils."):
                self.flag("reference_op_used", node, f"calls '{func}' (policy forbids torch ops)")
        self.generic_visit(node)


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def check_source(source: str, *, allow_reference_ops: bool = True) -> list[Violation]:
    """Check a candidate's source against every static rule.

    Args:
        source: The candidate module's Python source.
        allow_reference_ops: Policy: may ModelNew call PyTorch ops (never the reference)?

    Returns:
        The violations found, in source order; empty when the candidate passes.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [Violation("syntax", e.lineno or 0, f"does not parse: {e.msg}")]
    checker = _Checker(allow_reference_ops)
    checker.defined = _defined_names(tree) - {"Model"}
    checker.visit(tree)
    # Rationale (defines_model_new): the evaluator builds ModelNew(*get_init_inputs()).
    top_level = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} | {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    if "ModelNew" not in top_level:
        checker.violations.append(
            Violation("defines_model_new", 1, "the module defines no top-level 'ModelNew'")
        )
    return sorted(set(checker.violations), key=lambda v: (v.line, v.rule))
