"""The offline request parser: chat or ticket text -> :class:`PlanRequest`, by rules.

It recognises op names and aliases (``tools.problems``), file paths, pasted KernelBench
code, shapes (``4096x8192``, ``(4096, 8192)``, "over 8192 columns", ``M=... N=...``),
dtypes, chip names and aliases (``tools.hardware``), languages, "budget N", and the
constraints "lower precision is ok" / "may use cuBLAS" / "no library calls". What it cannot
decide it leaves empty, with the candidates in ``op_choices`` / ``target_choices``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from agents.planner.schemas import Constraints, PlanRequest
from agents.planner.snippet import find_snippet, forward_of
from tools.errors import KevolveError
from tools.hardware import list_targets, normalize_chip_name
from tools.problems.ops import ROW_DEFAULT, canonical_op, normalize_dtype

WEAK_OPS = frozenset({"mean", "max", "min", "sum", "linear", "mm", "amax", "amin", "scan", "mse"})
"""Op aliases that are also ordinary words: used only when no other op is named."""
WEAK_CHIPS = frozenset({"local", "host"})
"""Chip aliases that are also ordinary words: used only when no other chip is named."""
DESCRIPTIONS = {
    "normalization": ["layer_norm", "rms_norm"],
    "normalisation": ["layer_norm", "rms_norm"],
    "activation": ["gelu", "silu", "relu", "sigmoid", "tanh"],
    "reduction": ["sum", "mean", "max", "min"],
    "matrix multiply": ["matmul"],
    "matrix multiplication": ["matmul"],
    "matrix product": ["matmul"],
    "layer normalization": ["layer_norm"],
    "rms normalization": ["rms_norm"],
    "prefix sum": ["cumsum"],
    "cumulative sum": ["cumsum"],
}
"""Descriptive phrases -> the ops they may mean (one op: not ambiguous)."""
VENDOR_WORDS = {"nvidia": "nvidia", "amd": "amd", "radeon": "amd", "instinct": "amd"}
LANGUAGE_WORDS = {"triton": "triton", "cuda": "cuda", "hip": "hip", "rocm": "hip", "cpp": "cpp",
                  "c++": "cpp", "openmp": "cpp"}  # fmt: skip

_TOKEN = re.compile(r"[A-Za-z0-9_.+\-]+")
_SHAPE_X = re.compile(r"(?<![\w.])(\d+(?:\s*[x×]\s*\d+)+)(?![\w.])")
_SHAPE_TUPLE = re.compile(r"[\(\[]\s*(\d+(?:\s*,\s*\d+)+)\s*,?\s*[\)\]]")
_COLS = re.compile(
    r"(?:over|of|with|across)?\s*(\d+)\s*(?:columns|cols|features|classes|elements per row)\b"
)
_ROWS = re.compile(r"(\d+)\s*rows\b(?:\s+of\s+(\d+)\b)?")
_MNK = re.compile(r"\b([MNK])\s*=\s*(\d+)")
_DTYPE = re.compile(r"\b(float32|float16|bfloat16|fp32|fp16|bf16|f32|f16|half)\b", re.IGNORECASE)
_BUDGET = re.compile(
    r"\bbudget\s*(?:of|=|:)?\s*(\d+)\b|\b(\d+)\s*(?:candidates|evaluations|attempts|tries|kernels)\b",
    re.IGNORECASE,
)
_FILE = re.compile(r"(?<![\w/.~-])((?:~|\.{1,2})?[\w./\-]*[\w\-]+\.py)\b")
_LOWER_PRECISION = re.compile(
    r"(allow\w*|permit\w*|accept\w*|with)\s+(lower|reduced|mixed)[\s-]precision"
    r"|(lower|reduced|mixed)[\s-]precision\s+(is\s+)?(ok|okay|fine|allowed|acceptable)"
    r"|\b(allow\w*|use)\s+tf32\b|\btf32\s+(is\s+)?(ok|okay|fine|allowed)",
    re.IGNORECASE,
)
_LIBS = r"(torch\.[\w.]+|cublas\w*|cudnn|cutlass|rocblas|hipblas\w*|miopen|composable[_ ]kernel|mkl|onednn)"
_ALLOW_LIBS = re.compile(
    rf"(?:allow\w*|may use|can use|permit\w*|ok to use)\s+((?:{_LIBS}(?:\s*(?:,|and|or)\s*)?)+)",
    re.IGNORECASE,
)
_NO_LIBS = re.compile(
    r"\bno\s+(library|torch|pytorch|vendor)\s+(calls|ops|operators|libraries)\b|\bkernels only\b",
    re.IGNORECASE,
)
_ALLOW_ALL_LIBS = re.compile(
    r"\b(library|torch)\s+calls\s+(are\s+)?(ok|okay|allowed|fine)\b", re.IGNORECASE
)


def _code_of(text: str) -> str | None:
    """Pasted KernelBench source (fenced or bare), or ``None``."""
    if "class Model" not in text or "def forward" not in text:
        return None
    fenced = re.search(r"```[\w]*\n(.*?)```", text, re.DOTALL)
    if fenced and "class Model" in fenced.group(1):
        return fenced.group(1).strip() + "\n"
    start = re.search(r"^(import |from |class Model)", text, re.MULTILINE)
    return text[start.start() :].strip() + "\n" if start else None


def _ngrams(words: list[str], n_max: int = 3) -> list[tuple[int, int, str]]:
    """(start, length, text) of every 1..n_max-word window, longest first."""
    grams = []
    for n in range(n_max, 0, -1):
        for i in range(len(words) - n + 1):
            grams.append((i, n, " ".join(words[i : i + n])))
    return grams


def _longest_matches(
    words: list[str], lookup: Callable[[str], tuple[str, bool] | None]
) -> list[str]:
    """Names found in word windows, longest first, no overlaps; the strong ones if any.

    ``lookup(window)`` gives ``(name, weak)`` for a window that names something, else ``None``.
    """
    taken: set[int] = set()
    strong: list[str] = []
    weak: list[str] = []
    for start, n, gram in _ngrams(words):
        span = set(range(start, start + n))
        if span & taken:
            continue
        found = lookup(gram)
        if found is None:
            continue
        taken |= span
        name, is_weak = found
        bucket = weak if is_weak else strong
        if name not in bucket:
            bucket.append(name)
    return strong or weak


def _op_named(gram: str) -> tuple[str, bool] | None:
    op = canonical_op(gram.replace(" ", "_"))
    if op is None or len(gram) < 2:
        return None
    return op, gram.replace(" ", "_").replace("-", "_") in WEAK_OPS


def _ops(words: list[str], lowered: str) -> tuple[list[str], list[str]]:
    """(ops named, op choices from descriptions), longest match first, no overlaps."""
    choices: list[str] = []
    for phrase, ops in sorted(DESCRIPTIONS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(phrase)}\b", lowered):
            choices = ops
            break
    return _longest_matches(words, _op_named), choices


def _chips(words: list[str], extra_dirs: Sequence[Path]) -> tuple[list[str], list[str]]:
    """(chips named, chip choices from a vendor word)."""
    targets = list_targets(extra_dirs)
    alias_map: dict[str, str] = {}
    for t in targets:
        alias_map[normalize_chip_name(t.name)] = t.name
        for alias in t.aliases:
            alias_map.setdefault(normalize_chip_name(alias), t.name)

    def chip_named(gram: str) -> tuple[str, bool] | None:
        key = normalize_chip_name(gram)
        name = alias_map.get(key)
        return None if name is None else (name, key in WEAK_CHIPS)

    vendors = {VENDOR_WORDS[w] for w in words if w in VENDOR_WORDS}
    choices = [t.name for t in targets if t.kind == "gpu" and t.vendor in vendors]
    return _longest_matches(words, chip_named), choices


def shape_in(text: str, op: str | None) -> tuple[str | None, list[str]]:
    """The shape written in ``text`` (``4096x8192``, ``(64, 128)``) and notes on defaults."""
    notes: list[str] = []
    m = _SHAPE_X.search(text)
    if m:
        return re.sub(r"\s*[x×]\s*", "x", m.group(1)), notes
    m = _SHAPE_TUPLE.search(text)
    if m:
        return "x".join(p.strip() for p in m.group(1).split(",")), notes
    mnk = {k: int(v) for k, v in _MNK.findall(text)}
    if mnk and op in ("matmul", "linear", "linear_relu") and set(mnk) == {"M", "N", "K"}:
        return f"{mnk['M']}x{mnk['N']}x{mnk['K']}", notes
    cols = _COLS.search(text)
    rows = _ROWS.search(text)
    n = int(cols.group(1)) if cols else mnk.get("N")
    if n is None and rows and rows.group(2):
        n = int(rows.group(2))
    rows_n = int(rows.group(1)) if rows else mnk.get("M")
    if n is None and rows_n is None:
        return None, notes
    if rows_n is None:
        rows_n = ROW_DEFAULT[0]
        notes.append(f"the number of rows was not given; using {rows_n}")
    if n is None:
        n = ROW_DEFAULT[1]
        notes.append(f"the row length was not given; using {n}")
    return f"{rows_n}x{n}", notes


def _languages(lowered: str, words: list[str]) -> list[str]:
    found: list[str] = []
    for i, w in enumerate(words):
        lang = LANGUAGE_WORDS.get(w)
        if lang == "cpp" and i > 0 and words[i - 1] in ("cuda", "hip"):
            continue  # "CUDA C++" is cuda
        if lang and lang not in found:
            found.append(lang)
    return found


def _constraints(text: str) -> Constraints:
    allowed: list[str] = []
    for m in _ALLOW_LIBS.finditer(text):
        allowed += [lib.lower() for lib in re.findall(_LIBS, m.group(1), re.IGNORECASE)]
    allow_libs: bool | None = None
    if _NO_LIBS.search(text):
        allow_libs = False
    elif allowed or _ALLOW_ALL_LIBS.search(text):
        allow_libs = True
    return Constraints(
        allow_lower_precision=bool(_LOWER_PRECISION.search(text)),
        allow_library_calls=allow_libs,
        allowed_calls=sorted(set(allowed)),
    )


def parse_text(text: str, *, extra_chip_dirs: Sequence[Path] = ()) -> PlanRequest:
    """Parse a request written in plain words, without a model.

    Args:
        text: ``optimize softmax over 4096x8192 fp32 for MI300``, a ticket body, pasted code.
        extra_chip_dirs: Further hardware folders (a curator's chips).

    Returns:
        The parsed request; what is missing or ambiguous is left empty.
    """
    code = _code_of(text)
    snippet = None if code else find_snippet(text)
    fragment = code or snippet
    prose = text.replace(fragment.strip(), " ") if fragment else text
    lowered = prose.lower()
    words = [w.strip(".,;:!?()[]'\"").lower() for w in _TOKEN.findall(prose)]
    words = [w for w in words if w]
    req = PlanRequest(text=text, constraints=_constraints(prose))
    if code:
        req.problem_code = code
    elif snippet:  # pasted code is the problem as written; never an op named inside it
        try:
            forward_of(snippet)
            req.snippet = snippet
        except KevolveError as e:
            req.snippet_error = str(e)
    else:
        file = next((f for f in _FILE.findall(prose) if not f.startswith("torch.")), None)
        if file:
            req.problem_file = file
    ops, op_choices = _ops(words, lowered)
    if not req.has_problem and not req.snippet_error:
        if len(ops) == 1:
            req.op = ops[0]
        elif len(ops) > 1:
            req.op_choices = ops
        elif len(op_choices) == 1:
            req.op = op_choices[0]
        else:
            req.op_choices = op_choices
    chips, chip_choices = _chips(words, extra_chip_dirs)
    if len(chips) == 1:
        req.target = chips[0]
    else:
        req.target_choices = chips or chip_choices
    if req.snippet is not None:
        req.shape, notes = shape_in(prose, None)
        req.notes += [n for n in notes if "not given" not in n] if req.shape else []
        dtype = _DTYPE.search(prose)
        if dtype:
            req.dtype = normalize_dtype(dtype.group(1))
    if req.op is not None:
        req.shape, notes = shape_in(prose, req.op)
        req.notes += notes
        dtype = _DTYPE.search(prose)
        if dtype:
            try:
                req.dtype = normalize_dtype(dtype.group(1))
            except KevolveError:  # pragma: no cover - the regex only matches known spellings
                pass
    req.languages = _languages(lowered, words)
    budget = _BUDGET.search(prose)
    if budget:
        req.budget = int(budget.group(1) or budget.group(2))
    return req
