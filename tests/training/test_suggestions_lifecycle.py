"""Suggestion annotations, the suggestion detector's training job, and suggestions in predict_file."""

from __future__ import annotations

import csv
import json
import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.ml.holdout import text_in_evaluation_bucket
from training.models import GateDecision, ModelVersion, SuggestionAnnotation, TrainingJob
from training.suggestions import get_suggestion_model, suggestion_examples

pytestmark = pytest.mark.django_db(transaction=True)

ASKS = [
    "Please add a search box to the settings page",
    "You should let us export the logs",
    "It would be great to have a dark theme",
    "Add an option to sync contacts",
    "Consider supporting older devices",
    "I wish the store allowed refunds",
]
SAYS = [
    "The update installed yesterday",
    "My app crashes when I rotate the phone",
    "The documentation is out of date",
    "I tried it on two devices",
    "This worked fine last year",
    "The emulator takes a minute to start",
]


def forum_rows(count: int = 160) -> list[tuple[str, str, str]]:
    rng = random.Random(5)
    rows = []
    for i in range(count):
        pool, label = (ASKS, "1") if i % 3 == 0 else (SAYS, "0")
        rows.append((f"{i}_1", f"{rng.choice(pool)} {rng.choice(['', 'please', 'today', 'again'])} #{i}.", label))
    return rows


def write_training_file(path, rows) -> None:
    """As V1.4_Training.csv: no header, CRLF, most texts wrapped in one more pair of literal quotes."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for index, (sentence_id, text, label) in enumerate(rows):
            writer.writerow([sentence_id, f'"{text}"' if index % 2 else text, label])


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_reads_the_semeval2019_formats_and_is_idempotent(tmp_path):
    write_training_file(tmp_path / "train.csv", [("1_1", "Add more samples", "1"), ("1_1", "It broke", "0")])
    trial = tmp_path / "trial.csv"
    trial.write_bytes(b'id,sentence,label\r\n9,"Caf\xe9 owners should open earlier",1\r\n10,,1\r\n')

    first = run("import_suggestion_annotations", str(tmp_path))
    second = run("import_suggestion_annotations", str(tmp_path))

    assert "3 imported" in first and "1 rows skipped" in first
    assert "3 already present" in second
    texts = dict(SuggestionAnnotation.objects.values_list("text", "is_suggestion"))
    # The repeated id is two sentences; the extra literal quotes are gone; latin-1 is read, not refused.
    assert texts == {"Add more samples": True, "It broke": False, "Café owners should open earlier": True}


def test_import_refuses_files_that_are_not_suggestion_annotations(tmp_path):
    (tmp_path / "reviews.csv").write_text("business,text,stars\nRoma,Lovely,5\n")

    with pytest.raises(CommandError, match="not a SemEval-2019 Task 9 file"):
        run("import_suggestion_annotations", str(tmp_path / "reviews.csv"))
    with pytest.raises(CommandError, match="No such file"):
        run("import_suggestion_annotations", str(tmp_path / "missing.csv"))
    assert not SuggestionAnnotation.objects.exists()


def test_the_suggestion_detector_trains_through_the_lifecycle_and_is_gated_on_unseen_sentences(tmp_path):
    write_training_file(tmp_path / "train.csv", forum_rows())
    run("import_suggestion_annotations", str(tmp_path / "train.csv"))

    last_line = run("train", "--wait", "--model", "suggestions").strip().splitlines()[-1]

    job = TrainingJob.objects.get()
    assert job.status == "succeeded" and job.metrics["model"] == "suggestions"
    version = ModelVersion.objects.get(kind="suggestions")
    assert last_line.startswith(("promoted suggestions-", "kept the rule"))
    decision = GateDecision.objects.get(candidate=version)
    assert decision.evaluation_set["kind"] == "suggestion-annotations"
    # The gate's sentences are exactly the held-out bucket of the examples, which training never sees.
    examples = suggestion_examples()
    held_out = [e for e in examples if text_in_evaluation_bucket(e.text)]
    assert decision.candidate_metrics["n"] == len(held_out) == job.metrics["evaluation_set"]["size"]
    assert job.metrics["train_size"] == len(examples) - len(held_out)
    # The shipped review sentences train and are scored too, on their own line of the report.
    assert decision.candidate_metrics["review_n"] > 0 and "review_f1" in decision.champion_metrics


def test_plain_train_trains_every_kind_that_has_data(tmp_path, monkeypatch):
    write_training_file(tmp_path / "train.csv", forum_rows())
    run("import_suggestion_annotations", str(tmp_path / "train.csv"))
    trained = []
    monkeypatch.setattr(
        "training.management.commands.train.Command.train_one",
        lambda self, model, *args, **kwargs: trained.append(model),
    )

    run("train", "--wait")

    assert trained == ["sentiment", "suggestions"]


def test_training_refuses_without_suggestion_annotations():
    with pytest.raises(CommandError, match="Not enough suggestion annotations"):
        run("train", "--wait", "--model", "suggestions")
    assert TrainingJob.objects.get().status == "failed"


def test_a_staff_label_wins_over_the_files_and_a_tied_text_is_left_out():
    SuggestionAnnotation.objects.create(
        text="Add dark mode.", is_suggestion=True, source="semeval2019", external_id="a"
    )
    SuggestionAnnotation.objects.create(text="add dark mode", is_suggestion=False, source="staff", external_id="b")
    SuggestionAnnotation.objects.create(text="Why?", is_suggestion=True, source="semeval2019", external_id="c")
    SuggestionAnnotation.objects.create(text="why", is_suggestion=False, source="semeval2019", external_id="d")

    by_text = {e.text: e for e in suggestion_examples() if e.origin != "shipped review sentences"}

    assert set(by_text) == {"add dark mode"}
    assert by_text["add dark mode"].label == 0 and by_text["add dark mode"].origin == "staff"


def test_predict_file_adds_row_level_suggestion_columns_to_any_output(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('id,text\n1,"Lovely pasta. Please add more staff on Fridays."\n2,The soup was cold.\n3,\n')

    run("predict_file", str(source), "--text-col", "text", "--suggestions", "--out", str(tmp_path / "plain.csv"))
    run("predict_file", str(source), "--text-col", "text", "--suggestions", "--aspect-scheme", "semeval2014",
        "--out", str(tmp_path / "scheme.csv"))  # fmt: skip

    plain = list(csv.DictReader((tmp_path / "plain.csv").open()))
    assert [row["id"] for row in plain] == ["1", "2", "3"]
    assert [row["is_suggestion"] for row in plain] == ["1", "0", ""]
    assert float(plain[0]["suggestion_score"]) > 0.5 > float(plain[1]["suggestion_score"])
    assert plain[0]["label"] in {"positive", "neutral", "negative"}
    scheme = list(csv.DictReader((tmp_path / "scheme.csv").open()))
    assert list(scheme[0]) == ["id", "text", "aspects", "is_suggestion", "suggestion_score"]
    assert [row["is_suggestion"] for row in scheme] == ["1", "0", ""]


def test_predict_file_reads_each_sentence_once_for_the_suggestion_columns_and_the_aspects_list(tmp_path, monkeypatch):
    source = tmp_path / "in.csv"
    source.write_text('text\n"Lovely pasta. Please add more staff on Fridays."\nThe soup was cold.\n')
    model = get_suggestion_model()
    scores, read = model.predict_proba, []

    def counted(texts):
        read.extend(texts)
        return scores(texts)

    monkeypatch.setattr(model, "predict_proba", counted)

    run("predict_file", str(source), "--text-col", "text", "--aspects", "--suggestions",
        "--out", str(tmp_path / "out.csv"))  # fmt: skip

    assert sorted(read) == ["Lovely pasta.", "Please add more staff on Fridays.", "The soup was cold."]


def test_predict_file_lists_a_suggestion_once_as_a_suggestion_not_as_a_mention(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"text": "Great food but you should hire more waiters. Please add more staff."}) + "\n"
    )

    run("predict_file", str(source), "--text-col", "text", "--aspects", "--suggestions",
        "--out", str(tmp_path / "out.jsonl"))  # fmt: skip

    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert [s["sentence"] for s in row["suggestions"]] == [
        "Great food but you should hire more waiters.",
        "Please add more staff.",
    ]
    # "Great food" still counts as praise; the asking clauses are no mention at all.
    assert [(a["category"], a["polarity"]) for a in row["aspects"]] == [("food quality", "positive")]
    assert row["is_suggestion"] == 1 and 0.5 < row["suggestion_score"] <= 1
