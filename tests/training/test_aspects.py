"""Aspect annotations, the aspect model's training job and aspect output of predict_file."""

from __future__ import annotations

import json
import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from training.models import AspectAnnotation, GateDecision, ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db(transaction=True)

FOOD_GOOD = ["The pasta was delicious", "Great pizza", "Tasty food", "The sushi was fresh", "Lovely dessert"]
FOOD_BAD = ["The soup was cold", "Bland food", "The steak was burnt", "Stale bread", "Awful curry"]
SERVICE_GOOD = ["The waiter was friendly", "Attentive staff", "Quick service", "Helpful waitress"]
SERVICE_BAD = ["The waiter was rude", "Slow service", "Staff ignored us", "Service could be faster"]
PRICE_BAD = ["Too expensive", "Overpriced drinks", "The bill was outrageous", "Prices are too high"]


def semeval2014_xml(count: int = 240) -> str:
    rng = random.Random(3)
    pools = [(FOOD_GOOD, "food", "positive"), (FOOD_BAD, "food", "negative"), (SERVICE_GOOD, "service", "positive"),
             (SERVICE_BAD, "service", "negative"), (PRICE_BAD, "price", "negative")]  # fmt: skip
    sentences = []
    for i in range(count):
        pool, category, polarity = pools[i % len(pools)]
        text = f"{rng.choice(pool)} {rng.choice(['', 'tonight', 'again', 'as usual', 'here'])}".strip() + f" #{i}."
        sentences.append(
            f'<sentence id="{i}"><text>{text}</text><aspectCategories>'
            f'<aspectCategory category="{category}" polarity="{polarity}"/></aspectCategories></sentence>'
        )
    return "<sentences>" + "".join(sentences) + "</sentences>"


SEMEVAL2016 = """<Reviews><Review rid="r1"><sentences>
<sentence id="r1:0"><text>The drinks were great but the room was noisy.</text><Opinions>
<Opinion target="drinks" category="DRINKS#QUALITY" polarity="positive" from="4" to="10"/>
<Opinion target="room" category="AMBIENCE#GENERAL" polarity="negative" from="30" to="34"/></Opinions></sentence>
<sentence id="r1:1" OutOfScope="TRUE"><text>My cousin lives nearby.</text></sentence>
</sentences></Review></Reviews>"""


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_reads_both_formats_and_is_idempotent(tmp_path):
    (tmp_path / "a.xml").write_text(semeval2014_xml(10))
    (tmp_path / "b.xml").write_text(SEMEVAL2016)

    first = run("import_aspect_annotations", str(tmp_path))
    second = run("import_aspect_annotations", str(tmp_path))

    assert "11 imported" in first and "11 already present" in second
    assert "1 skipped (marked OutOfScope, or without text)" in first
    drinks = AspectAnnotation.objects.get(source="semeval2016")
    assert {"category": "DRINKS#QUALITY", "polarity": "positive"} in drinks.aspects


def test_import_refuses_other_files(tmp_path):
    (tmp_path / "x.xml").write_text("<html/>")

    with pytest.raises(CommandError, match="neither SemEval"):
        run("import_aspect_annotations", str(tmp_path / "x.xml"))
    with pytest.raises(CommandError, match="No such file"):
        run("import_aspect_annotations", str(tmp_path / "missing.xml"))


def test_the_aspect_model_trains_through_the_lifecycle_and_serves_predict_file(tmp_path):
    (tmp_path / "a.xml").write_text(semeval2014_xml())
    run("import_aspect_annotations", str(tmp_path / "a.xml"))

    last_line = run("train", "--wait", "--model", "aspects").strip().splitlines()[-1]

    job = TrainingJob.objects.get()
    assert job.status == "succeeded" and job.metrics["model"] == "aspects"
    version = ModelVersion.objects.get(kind="aspects")
    assert last_line.startswith(("promoted aspects-", "kept cold start"))
    assert GateDecision.objects.get(candidate=version).evaluation_set["kind"] == "aspect-annotations"
    # 2014 files only: a themes model (service and price are exact in 2014) and a SemEval-2014 one, no 2016 one.
    assert version.parameters["schemes"] == ["themes", "semeval2014"]
    assert set(job.metrics["schemes"]) == {"themes", "semeval2014"}
    source = tmp_path / "in.csv"
    source.write_text('text\n"The pasta was delicious but the waiter was rude"\n"Prices are too high"\n')
    run("predict_file", str(source), "--text-col", "text", "--aspect-scheme", "semeval2014", "--out",
        str(tmp_path / "out.jsonl"))  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert all(set(a) == {"category", "polarity"} for row in rows for a in row["aspects"])
    assert {a["category"] for a in rows[1]["aspects"]} == {"price"}
    categories = {a["category"]: a["polarity"] for a in rows[0]["aspects"]}
    assert categories.get("service") == "negative"

    report = json.loads(run("evaluate", "--version", version.name))  # scored on the gate's held-out sentences
    assert report["model_version"] == version.name
    assert report["evaluation_set"]["kind"] == "aspect-annotations" and report["evaluation_set"]["size"] > 0
    assert report["metrics"] == GateDecision.objects.get(candidate=version).candidate_metrics


def test_the_aspect_model_keeps_the_deployed_sentiment_model_for_its_polarity(tmp_path, settings):
    from reviews.services import review_bulk_create
    from tests.training.test_lifecycle import rated_corpus, train_now

    review_bulk_create(items=rated_corpus(240))
    train_now()
    sentiment = ModelVersion.objects.get(kind="sentiment", stage="champion")
    assert sentiment.algorithm != "baseline-lexicon"
    (tmp_path / "a.xml").write_text(semeval2014_xml())
    run("import_aspect_annotations", str(tmp_path / "a.xml"))

    run("train", "--wait", "--model", "aspects")
    settings.ASPECT_SENTIMENT_FEATURES = False
    run("train", "--wait", "--model", "aspects")

    informed, plain = ModelVersion.objects.filter(kind="aspects").order_by("id")
    assert informed.parameters["sentiment_features"] == sentiment.name
    assert informed.algorithm.endswith("+sentiment")
    assert plain.parameters["sentiment_features"] is None
    assert not plain.algorithm.endswith("+sentiment")


def test_before_any_aspect_training_the_cold_start_model_uses_the_trained_sentiment_model(settings):
    from reviews.services import review_bulk_create
    from tests.training.test_lifecycle import rated_corpus, train_now
    from training.aspects import get_aspect_model

    assert get_aspect_model().sentiment_model is None  # only the lexicon baseline is deployed
    review_bulk_create(items=rated_corpus(240))
    train_now()

    cold_start = get_aspect_model()
    assert cold_start.sentiment_model is not None
    assert cold_start.predict_polarity(["We found cold food, rude waiter"], ["food quality"])[0][0] == "negative"
    settings.ASPECT_SENTIMENT_FEATURES = False
    assert get_aspect_model().sentiment_model is None


def test_with_only_the_lexicon_baseline_deployed_the_aspect_model_has_no_sentiment_features(tmp_path):
    (tmp_path / "a.xml").write_text(semeval2014_xml())
    run("import_aspect_annotations", str(tmp_path / "a.xml"))

    run("train", "--wait", "--model", "aspects")

    assert ModelVersion.objects.get(kind="aspects").parameters["sentiment_features"] is None


@pytest.mark.parametrize(
    ("candidate", "champion", "promoted"),
    [
        ((0.85, 0.74), (0.84, 0.74), True),  # better detection, same polarity
        ((0.85, 0.725), (0.84, 0.74), True),  # better detection, polarity within 0.02
        ((0.85, 0.71), (0.84, 0.74), False),  # better detection bought with polarity
        ((0.84, 0.745), (0.84, 0.74), True),  # same detection, better polarity (sentiment features)
        ((0.839, 0.80), (0.84, 0.74), False),  # better polarity bought with detection
        ((0.842, 0.742), (0.84, 0.74), False),  # better on both, by less than the margin
        ((0.84, 0.74), (0.84, 0.74), False),  # the same model again
    ],
)
def test_the_aspect_gate_wants_one_measure_better_and_the_other_no_worse(candidate, champion, promoted):
    from training.aspects import aspect_gate

    def metrics(values):
        return {"micro_f1": values[0], "polarity_accuracy": values[1]}

    decision, reason = aspect_gate(metrics(candidate), metrics(champion), "champion")
    assert decision is promoted
    assert f"micro-F1 {candidate[0]} vs {champion[0]} (champion)" in reason


def test_predict_file_with_aspects_adds_aspects_and_suggestions(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"text": "Great food but the service was slow and rude! Please hire more staff."}) + "\n"
    )

    run("predict_file", str(source), "--text-col", "text", "--aspects", "--out", str(tmp_path / "out.jsonl"))

    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert row["label"] in {"positive", "neutral", "negative"}
    assert {a["category"] for a in row["aspects"]} >= {"food quality", "service and staff"}
    assert row["suggestions"] == [{"sentence": "Please hire more staff.", "aspect": "service and staff"}]


def test_the_aspect_fit_reports_progress_that_never_goes_back():
    from training.aspects import _fit_progress
    from training.ml.aspects import AspectModel

    pools = [(FOOD_GOOD, "food", "positive"), (SERVICE_BAD, "service", "negative"), (PRICE_BAD, "price", "negative")]
    sentences, aspects = [], []
    for i in range(60):
        pool, category, polarity = pools[i % 3]
        sentences.append(f"{pool[i % len(pool)]} #{i}.")
        aspects.append([(category, polarity)])
    seen: list[float] = []

    AspectModel().fit(sentences, aspects, progress=lambda stage, fraction: seen.append(_fit_progress(stage, fraction)))

    assert len(seen) > 3 and seen == sorted(seen)
    assert seen[0] == 0.1 and seen[-1] == 0.7


def semeval2016_xml(count: int = 240) -> str:
    rng = random.Random(5)
    pools = [
        (["The wine was superb", "Lovely cocktails", "Great beer list"], "DRINKS#QUALITY", "positive"),
        (["The waiter was rude", "Staff ignored us", "Our server was unfriendly"], "SERVICE#GENERAL", "negative"),
        (["Way too expensive", "Prices are too high", "Overpriced place"], "RESTAURANT#PRICES", "negative"),
        (["The pasta was delicious", "Tasty food", "Fresh sushi"], "FOOD#QUALITY", "positive"),
    ]
    sentences = []
    for i in range(count):
        texts, category, polarity = pools[i % len(pools)]
        text = f"{rng.choice(texts)} {rng.choice(['', 'tonight', 'again', 'as usual'])}".strip() + f" #{i}."
        sentences.append(
            f'<sentence id="r:{i}"><text>{text}</text><Opinions><Opinion target="NULL" category="{category}" '
            f'polarity="{polarity}" from="0" to="0"/></Opinions></sentence>'
        )
    return '<Reviews><Review rid="r"><sentences>' + "".join(sentences) + "</sentences></Review></Reviews>"


def test_one_aspect_version_carries_a_model_per_scheme_and_predict_file_writes_semeval2016(tmp_path):
    (tmp_path / "a.xml").write_text(semeval2014_xml())
    (tmp_path / "b.xml").write_text(semeval2016_xml())
    run("import_aspect_annotations", str(tmp_path))
    run("train", "--wait", "--model", "aspects")
    version = ModelVersion.objects.get(kind="aspects")
    ModelVersion.objects.filter(pk=version.pk).update(stage="champion")  # whatever the gate said
    source = tmp_path / "in.csv"
    source.write_text('text\n"The wine was superb but the waiter was rude."\n"Way too expensive."\n')

    run("predict_file", str(source), "--aspect-scheme", "semeval2016", "--out", str(tmp_path / "out.jsonl"))

    assert version.parameters["schemes"] == ["themes", "semeval2014", "semeval2016"]
    assert set(TrainingJob.objects.get().metrics["schemes"]) == {"themes", "semeval2014", "semeval2016"}
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [list(row) for row in rows] == [["text", "aspects"], ["text", "aspects"]]
    assert all(set(a) == {"category", "polarity"} for row in rows for a in row["aspects"])
    assert {a["category"]: a["polarity"] for a in rows[0]["aspects"]} == {
        "DRINKS#QUALITY": "positive",
        "SERVICE#GENERAL": "negative",
    }
    assert {a["category"] for a in rows[1]["aspects"]} == {"RESTAURANT#PRICES"}


def test_the_themes_model_learns_from_2016_gold_and_names_waiting_beside_service(tmp_path):
    from training.aspects import get_aspect_model

    (tmp_path / "b.xml").write_text(semeval2016_xml())
    run("import_aspect_annotations", str(tmp_path))
    run("train", "--wait", "--model", "aspects")
    ModelVersion.objects.filter(kind="aspects").update(stage="champion")

    themes = get_aspect_model()
    [rude, waiting] = themes.predict(["The waiter was rude.", "The waiter took forever."])

    assert {c: p for c, p, _ in rude} == {"service and staff": "negative"}
    assert {"service and staff", "speed and waiting"} <= {c for c, _, _ in waiting}
    assert get_aspect_model("semeval2016") is not themes


def test_an_aspect_version_saved_before_schemes_still_serves_the_semeval2014_scheme(tmp_path):
    import joblib

    from training import storage
    from training.aspects import get_aspect_model
    from training.ml.aspect_coldstart import ColdStartAspectModel
    from training.ml.aspects import AspectModel

    pools = [(FOOD_GOOD, "food", "positive"), (SERVICE_BAD, "service", "negative"), (PRICE_BAD, "price", "negative")]
    texts = [f"{pools[i % 3][0][i % 4]} #{i}." for i in range(60)]
    single = AspectModel(folds=1).fit(texts, [[pools[i % 3][1:]] for i in range(60)])
    joblib.dump(single, tmp_path / "old.joblib")
    storage.save(tmp_path / "old.joblib", "aspects-old.joblib")
    ModelVersion.objects.create(
        name="aspects-old",
        kind="aspects",
        stage="champion",
        algorithm=single.algorithm,
        artifact_path="aspects-old.joblib",
    )

    semeval2014 = get_aspect_model("semeval2014")
    themes = get_aspect_model("themes")

    assert isinstance(semeval2014, AspectModel)
    assert {c for c, _, _ in semeval2014.predict(["Prices are too high"])[0]} == {"price"}
    assert isinstance(themes, ColdStartAspectModel) and themes.scheme == "themes"
    assert isinstance(get_aspect_model("semeval2016"), ColdStartAspectModel)


def test_a_sentence_both_files_annotate_counts_once_by_the_finer_gold_for_each_scheme():
    from training.aspects import scheme_examples
    from training.ml.aspect_data import AnnotatedSentence

    rude14 = AnnotatedSentence("The staff was rude.", [("service", "negative")], source="semeval2014")
    rude16 = AnnotatedSentence("The staff was rude.", [("SERVICE#GENERAL", "negative")], source="semeval2016")
    pasta14 = AnnotatedSentence("Great pasta.", [("food", "positive")], source="semeval2014")
    annotated = [(1, rude14), (2, rude16), (3, pasta14)]

    themes = scheme_examples(annotated, "themes")
    semeval2014 = scheme_examples(annotated, "semeval2014")
    semeval2016 = scheme_examples(annotated, "semeval2016")

    assert [(text, gold) for text, gold, _ in themes] == [
        ("The staff was rude.", [("service and staff", "negative")]),
        ("Great pasta.", []),  # "food" may be any of three themes: none is stated
    ]
    assert "food quality" not in themes[1][2] and "service and staff" in themes[1][2]
    assert semeval2014 == [
        ("The staff was rude.", [("service", "negative")], None),
        ("Great pasta.", [("food", "positive")], None),
    ]
    assert semeval2016 == [("The staff was rude.", [("SERVICE#GENERAL", "negative")], None)]


def test_the_job_bar_never_goes_back_as_the_next_scheme_starts():
    from training.aspects import _fit_progress, _scheme_share

    stages = [("detection-thresholds", 0.0), ("detection-thresholds", 1.0), ("detection", 1.0), ("polarity", 1.0)]
    bar = [_scheme_share(i, 3, _fit_progress(stage, fraction)) for i in range(3) for stage, fraction in stages]

    assert bar == sorted(bar)
    assert bar[0] == pytest.approx(0.1) and bar[-1] == pytest.approx(0.7)
