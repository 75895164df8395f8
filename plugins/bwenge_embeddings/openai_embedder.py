"""Embeddings from any OpenAI-compatible ``POST /v1/embeddings`` endpoint
(OpenAI, Azure-style gateways, vLLM, llama.cpp server, Ollama, LiteLLM, ...)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from bwenge.errors import PluginError


class EmbeddingServiceError(PluginError):
    """The embeddings endpoint failed or answered with something unusable."""

    code = "embedding_service_error"


class OpenAIEmbedder:
    """Calls ``client.embeddings.create`` with the official ``openai`` SDK.

    ``name`` is ``openai:<model>@<dimensions>`` (``@native`` when the model's
    own size is used), so a collection built with one model or size refuses
    queries made with another. ``dimensions`` is the configured size, or
    learnt from the first response when left unset.
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str = "",
        dimensions: int | None = None,
        batch_size: int = 128,
        timeout: float = 60.0,
        max_retries: int = 2,
    ):
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._requested_dimensions = dimensions
        self._dimensions = dimensions
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.name = f"openai:{model}@{dimensions or 'native'}"
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIEmbedder:
        return cls(
            model=settings.model,
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value(),
            dimensions=settings.dimensions,
            batch_size=settings.batch_size,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self.embed(["dimension probe"])
        return self._dimensions  # type: ignore[return-value]

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import openai

                    # The SDK refuses an empty key; servers without auth ignore it.
                    self._client = openai.OpenAI(
                        base_url=self.base_url,
                        api_key=self._api_key or "unused",
                        timeout=self.timeout,
                        max_retries=self.max_retries,
                    )
        return self._client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        import openai

        client = self._get_client()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            # Some servers reject "" (OpenAI does); a space embeds as near-nothing.
            batch = [t if t.strip() else " " for t in batch]
            kwargs: dict[str, Any] = {
                "model": self.model,
                "input": batch,
                "encoding_format": "float",
            }
            if self._requested_dimensions is not None:
                kwargs["dimensions"] = self._requested_dimensions
            try:
                response = client.embeddings.create(**kwargs)
            except openai.OpenAIError as exc:
                raise EmbeddingServiceError(
                    f"Embedding {len(batch)} text(s) with {self.model!r} at "
                    f"{self.base_url or 'the OpenAI API'} "
                    f"failed: {exc}"
                ) from exc
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise EmbeddingServiceError(
                    f"The embeddings endpoint returned {len(data)} vectors for {len(batch)} texts."
                )
            for item in data:
                vector = list(item.embedding)
                if self._dimensions is None:
                    self._dimensions = len(vector)
                if len(vector) != self._dimensions:
                    raise EmbeddingServiceError(
                        f"The embeddings endpoint returned a {len(vector)}-dimensional vector; "
                        f"expected {self._dimensions} (embeddings.openai.dimensions)."
                    )
                out.append(vector)
        return out

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(name={self.name!r}, base_url={self.base_url!r})"
