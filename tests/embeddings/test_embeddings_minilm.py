"""The offline MiniLM embedder: real ONNX runs on the packaged model."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from bwenge.errors import ConfigError
from bwenge.testing_contracts import EmbedderContract

PAIRS = [  # (text, paraphrase, unrelated)
    (
        "How do I reset my password?",
        "Steps to change your login password",
        "The rainforest hosts many species.",
    ),
    (
        "The cat is sleeping on the sofa.",
        "A kitten naps on the couch.",
        "Quarterly revenue grew by 12 percent.",
    ),
    (
        "Plants turn sunlight into chemical energy.",
        "Photosynthesis converts light to sugar in leaves.",
        "Submit the invoice before the end of the month.",
    ),
]

TEXTS = [
    "short",
    "A somewhat longer sentence about the persona's teaching material and its citations.",
    "",
    "Mitochondria are the powerhouse of the cell. " * 8,
    "¿Dónde está la biblioteca? 图书馆在哪里？",
    "Two words",
    "The expert uploads PDFs, slides and notes; recipients ask questions and get cited answers.",
]


class TestMiniLM(EmbedderContract):
    @pytest.fixture
    def embedder(self, minilm_embedder):
        return minilm_embedder


def test_kernel_registers_embedders(make_kernel):
    kernel = make_kernel()
    assert {"minilm", "openai"} <= set(kernel.embedders.names())
    first = kernel.embedders.get("minilm")(kernel)
    assert first is kernel.embedders.get("minilm")(kernel)  # memoized per kernel
    assert first.name == "minilm-l6-v2-int8@1"
    assert first.dimensions == 384


def test_bad_embeddings_setting_fails_at_startup(make_kernel):
    with pytest.raises(ConfigError, match="threds"):
        make_kernel(embeddings={"minilm": {"threds": 2}})


def test_semantic_sanity(minilm_embedder):
    for text, para, other in PAIRS:
        a, b, c = np.array(minilm_embedder.embed([text, para, other]))
        assert a @ b > 0.5, (text, para)
        assert a @ b > a @ c + 0.3, (text, para, other)


def test_unit_length_and_shape(minilm_embedder):
    vectors = np.array(minilm_embedder.embed(TEXTS))
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm_embedder.embed([]) == []


def test_batch_equals_single_and_keeps_order(minilm_embedder):
    batched = np.array(minilm_embedder.embed(TEXTS))
    singles = np.array([minilm_embedder.embed([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    reordered = list(reversed(TEXTS))
    np.testing.assert_allclose(np.array(minilm_embedder.embed(reordered)), batched[::-1], atol=1e-5)


def test_deterministic(minilm_embedder):
    assert minilm_embedder.embed(TEXTS) == minilm_embedder.embed(TEXTS)


def test_small_batches_match(minilm_embedder):
    from bwenge_embeddings.minilm import MiniLMEmbedder

    tiny = MiniLMEmbedder(batch_size=2, threads=1)
    np.testing.assert_allclose(
        np.array(tiny.embed(TEXTS)), np.array(minilm_embedder.embed(TEXTS)), atol=1e-5
    )


def test_truncates_at_max_length(minilm_embedder):
    base = "Mitochondria are the powerhouse of the cell. " * 40
    a, b = minilm_embedder.embed([base + "Completely different ending about tax law.", base])
    assert a == b  # everything after token 256 is cut


def _copy_model(tmp_path):
    from bwenge_embeddings.minilm import packaged_model_path

    copy = tmp_path / "model.onnx"
    shutil.copyfile(packaged_model_path(), copy)
    return copy


def test_tampered_model_fails_clearly(make_kernel, tmp_path):
    copy = _copy_model(tmp_path)
    with open(copy, "r+b") as f:  # flip one byte in the middle of the weights
        f.seek(copy.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    kernel = make_kernel(embeddings={"minilm": {"model_path": str(copy)}})
    from bwenge_embeddings.minilm import ModelFileError

    embedder = kernel.embedders.get("minilm")(kernel)  # lazy: nothing checked yet
    with pytest.raises(ModelFileError, match=r"sha256 .* expected 8199be6f"):
        embedder.embed(["hello"])


def test_untampered_copy_is_accepted(make_kernel, tmp_path, minilm_embedder):
    copy = _copy_model(tmp_path)
    kernel = make_kernel(embeddings={"minilm": {"model_path": str(copy), "threads": 1}})
    embedder = kernel.embedders.get("minilm")(kernel)
    np.testing.assert_allclose(
        embedder.embed(["hello world"]), minilm_embedder.embed(["hello world"]), atol=1e-5
    )


def test_tampered_tokenizer_and_missing_file(tmp_path):
    from bwenge_embeddings.minilm import MiniLMEmbedder, ModelFileError, packaged_tokenizer_path

    tok = tmp_path / "tokenizer.json"
    tok.write_text(packaged_tokenizer_path().read_text().replace('"[UNK]"', '"[UNKNOWN]"', 1))
    with pytest.raises(ModelFileError, match="tokenizer file .* expected be50c362"):
        MiniLMEmbedder(tokenizer_path=tok).embed(["x"])
    with pytest.raises(ModelFileError, match="does not exist"):
        MiniLMEmbedder(model_path=tmp_path / "nope.onnx").embed(["x"])


def test_plugin_import_is_free():
    code = (
        "import sys, bwenge_embeddings.hooks, bwenge_chroma.hooks; "
        "heavy = [m for m in ('onnxruntime', 'tokenizers', 'openai', 'numpy', 'chromadb') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
