"""Shared test setup: hermetic data dirs and the markers' skip rules."""

from __future__ import annotations

import os
import tempfile

import pytest

# Tests never read a user's ~/.kevolve or a settings file; each test process (each xdist
# worker too) gets its own default data dir, so parallel workers never share a run store,
# checkpoint database or knowledge base by accident.
os.environ.pop("KEVOLVE_CONFIG", None)
os.environ["KEVOLVE_DATA_DIR"] = tempfile.mkdtemp(prefix="kevolve-tests-")
# The Inductor-export seed costs a torch.compile per problem; only its own tests turn it on.
os.environ["KEVOLVE_INDUCTOR_SEED"] = "0"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh kevolve data dir for one test (settings pick it up from the environment)."""
    d = tmp_path / "kevolve-data"
    monkeypatch.setenv("KEVOLVE_DATA_DIR", str(d))
    monkeypatch.setenv("KEVOLVE_CONFIG", str(tmp_path / "no-config.toml"))
    return d


MAX_WORKERS = 4
"""Parallel test processes for the whole suite (each imports torch and compiles: ~2 GB)."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """Workers for ``pytest -n auto`` (opt-in; CI runs in one process).

    The whole suite (no paths given) is spread over the machine's cores, up to
    :data:`MAX_WORKERS`; a run of chosen files or tests stays in one process (``-n 2`` on the
    command line still asks for workers).
    """
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, MAX_WORKERS) if (cores or 1) > 1 else 0


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture
def make_run_context():
    """Build a run's context (settings sections and ports) over a data dir, as a run does.

    ``make_run_context(path, models=LLMConfig(...), **settings)``; the knowledge base is off
    unless ``use_knowledge=True`` is passed.
    """
    from kevolve.api import run_context
    from kevolve.settings import get_settings

    def make(data_dir, *, models=None, on_event=None, **overrides):
        overrides.setdefault("use_knowledge", False)
        settings = get_settings(data_dir=data_dir, **overrides)
        return run_context(settings, on_event, models=models)

    return make
