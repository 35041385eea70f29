"""The fine-tuned review encoder of the accurate kind (training/ml/finetuned.py): building the int8 graph that ships,
and reading reviews with it. No Django imports."""

from __future__ import annotations

import hashlib
import threading
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from training.ml import encoder

MAX_TOKENS = 256  # what the fine-tune trained on: a review's first ~190 words


@cache
def graph_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class ReviewEncoder(encoder.SentenceEncoder):
    """The fine-tuned graph, reading a review longer than MAX_TOKENS as one window of its first and its last
    (MAX_TOKENS - 2) / 2 tokens between [CLS] and [SEP]: a review's verdict often comes at its end. On Yelp's
    held-out reviews (a fifth of them are longer) macro-F1 went from 0.700 with the first 256 tokens to 0.712 with
    the first and the last 256 read as two windows (bench/README.md); one window of head and tail reads them as well
    (0.7104 against 0.7106; Zomato 0.7654 against 0.7628) with 28 % fewer tokens, 1.4x the reviews per second.
    One window per run, as every int8 graph (encoder.py)."""

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(encoder.model_dir() / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()  # the window is cut by _window
        return tokenizer

    def _window(self, ids: list[int]) -> list[int]:
        return head_and_tail(ids, self.max_tokens)


def head_and_tail(ids: list[int], max_tokens: int) -> list[int]:
    """[CLS] + the first and the last (max_tokens - 2) / 2 tokens + [SEP]; shorter sequences whole."""
    if len(ids) <= max_tokens:
        return ids
    body = max_tokens - 2
    head = body // 2
    return ids[: 1 + head] + ids[len(ids) - 1 - (body - head) :]


_encoders: dict[Path, ReviewEncoder] = {}
_encoders_lock = threading.Lock()


def review_encoder(graph_file: Path) -> ReviewEncoder:
    """One encoder per process and graph file (~29 MB of weights)."""
    with _encoders_lock:
        if graph_file not in _encoders:
            _encoders[graph_file] = ReviewEncoder(graph_file=graph_file, max_tokens=MAX_TOKENS)
        return _encoders[graph_file]


def with_int8_word_embeddings(model) -> None:
    """Store the word-embedding table (30,522 x 384, 47 MB in float32) as int8 with one scale per row, in
    place: the graph gathers the rows of a batch's tokens and scales them, so a run dequantises only the rows
    it reads. One scale per row keeps each token's vector within 0.4 % of its float values; a single scale
    for the whole table (onnxruntime's quantisation of Gather) is much coarser. It takes the shipped
    fine-tuned encoder under 30 MB."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    table_init = next(init for init in graph.initializer if init.name == "word_emb")
    table = numpy_helper.to_array(table_init).astype(np.float32)
    scale = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-12) / 127.0
    quantized = np.clip(np.rint(table / scale), -127, 127).astype(np.int8)
    graph.initializer.remove(table_init)
    graph.initializer.extend(
        [numpy_helper.from_array(quantized, "word_emb_q"), numpy_helper.from_array(scale, "word_emb_scale")]
    )
    position = next(i for i, n in enumerate(graph.node) if n.op_type == "Gather" and n.output[0] == "word")
    graph.node.remove(graph.node[position])
    replacement = [
        helper.make_node("Gather", ["word_emb_q", "input_ids"], ["word_q"], name="word_q"),
        helper.make_node("Cast", ["word_q"], ["word_qf"], name="word_qf", to=TensorProto.FLOAT),
        helper.make_node("Gather", ["word_emb_scale", "input_ids"], ["word_scale"], name="word_scale"),
        helper.make_node("Mul", ["word_qf", "word_scale"], ["word"], name="word"),
    ]
    for offset, new in enumerate(replacement):
        graph.node.insert(position + offset, new)


def build_shipped_graph(weights_dir: Path) -> bytes:
    """The int8 graph that ships, from the fine-tune's saved weights (the bundled model's layout): every linear
    layer in int8, per output channel (encoder.quantize_onnx_model), and int8 word embeddings, one scale per row.
    Layer 0 is int8 too, unlike the aspect model's encoder: here it cost nothing measurable (Yelp / Zomato
    macro-F1 within 0.002) for ~15-25 % more reviews per second and a 23.5 MB file instead of 28.8 MB."""
    model = encoder.build_onnx_model(weights_dir)
    with_int8_word_embeddings(model)
    return encoder.quantize_onnx_model(model, float_layers=())
