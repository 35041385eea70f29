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


def write_model_card(manifest: dict, path: Path) -> None:
    lines = [
        "# Model card: the trained defaults that ship with the platform",
        "",
        "A fresh install serves these models (registered at `migrate`) instead of the keyword rule and the "
        "cold-start aspect model. Training on your own annotations replaces them through the gate, as any "
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
        "project, so scores on other review domains are lower than on the trial set (see docs/benchmarks.md).",
        "",
    ]
    if "suggestions" in manifest:
        lines += _suggestions_section(manifest["suggestions"])
    if "aspects" in manifest:
        lines += _aspects_section(manifest["aspects"])
    path.write_text("\n".join(lines))
