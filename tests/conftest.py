"""Shared test setup: hermetic data dirs and the markers' skip rules."""

from __future__ import annotations

import os

import pytest

# Tests never read a user's ~/.kevolve or a settings file.
os.environ.pop("KEVOLVE_CONFIG", None)
# The Inductor-export seed costs a torch.compile per problem; only its own tests turn it on.
os.environ["KEVOLVE_INDUCTOR_SEED"] = "0"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh kevolve data dir for one test (settings pick it up from the environment)."""
    d = tmp_path / "kevolve-data"
    monkeypatch.setenv("KEVOLVE_DATA_DIR", str(d))
    monkeypatch.setenv("KEVOLVE_CONFIG", str(tmp_path / "no-config.toml"))
    return d


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
