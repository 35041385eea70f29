"""The trained defaults that ship in training/pretrained/: built by one command, deployed at migrate."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from training.defaults import PRETRAINED_DIR, model_version_ensure_defaults, shipped_manifest
from training.models import Deployment, ModelVersion
from training.suggestions import get_suggestion_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(settings):
    settings.DEPLOY_SHIPPED_MODELS = True


def test_the_repository_ships_a_small_default_of_each_kind_with_its_model_card():
    manifest = shipped_manifest()
    assert set(manifest) == {"aspects", "suggestions", "sentiment_encoder"}
    total = sum((PRETRAINED_DIR / manifest[kind]["file"]).stat().st_size for kind in ("aspects", "suggestions"))
    assert total <= 30 * 1024 * 1024  # the insights defaults together; the sentiment encoder has its own 30 MB
    assert (PRETRAINED_DIR / manifest["sentiment_encoder"]["file"]).stat().st_size <= 30_000_000
    card = (PRETRAINED_DIR / "MODEL_CARD.md").read_text()
    assert "non-commercial" in card and "build_default_models" in card
    assert f"{manifest['suggestions']['metrics']['trial']['f1']:.3f}" in card


def test_a_fresh_install_deploys_the_shipped_suggestion_detector_instead_of_the_rule(shipped):
    [version] = [v for v in model_version_ensure_defaults() if v.kind == "suggestions"]

    assert version.stage == "champion" and version.parameters["shipped"] is True
    assert Deployment.objects.get(model_version=version).action == "initial"
    model = get_suggestion_model()
    assert model.algorithm == shipped_manifest()["suggestions"]["algorithm"]
    assert list(model.predict(["Please add more staff on Fridays.", "We had the fish."])) == [1, 0]


def test_registering_the_defaults_again_changes_nothing_and_never_replaces_a_champion(shipped):
    first = model_version_ensure_defaults()
    ModelVersion.objects.filter(pk__in=[v.pk for v in first]).update(stage="archived")
    trained = ModelVersion.objects.create(name="suggestions-mine", kind="suggestions", algorithm="x", stage="champion")

    again = model_version_ensure_defaults()

    assert {v.pk for v in again} == {v.pk for v in first}
    assert ModelVersion.objects.get(kind="suggestions", stage="champion") == trained


def test_nothing_is_deployed_when_the_setting_is_off(settings):
    settings.DEPLOY_SHIPPED_MODELS = False

    assert model_version_ensure_defaults() == []
    assert not ModelVersion.objects.filter(name__startswith="default-").exists()


@pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present")
def test_one_command_rebuilds_the_suggestion_default_and_its_card(tmp_path):
    call_command("build_default_models", "--only", "suggestions", "--out", str(tmp_path), stdout=StringIO(),
                 stderr=StringIO())  # fmt: skip

    manifest = json.loads((tmp_path / "defaults.json").read_text())
    trial = manifest["suggestions"]["metrics"]["trial"]
    assert trial["n"] == 592 and trial["f1"] >= 0.79
    assert trial["f1"] > manifest["suggestions"]["baselines"]["keyword_rule"]["trial"]["f1"]
    assert (tmp_path / "suggestions.joblib").stat().st_size < 30 * 1024 * 1024
    assert "SemEval-2019 trial set" in (tmp_path / "MODEL_CARD.md").read_text()


@pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present")
def test_without_fine_tuned_weights_the_command_measures_the_shipped_encoder_again(tmp_path):
    from training.ml import finetuned

    if not finetuned.is_available():
        pytest.skip("the shipped fine-tuned encoder is not installed")
    with pytest.raises(CommandError, match="No shipped fine-tuned encoder to measure"):
        call_command("build_default_models", "--only", "sentiment_encoder", "--out", str(tmp_path))
    for name in (finetuned.GRAPH_FILE, finetuned.HEAD_FILE):
        (tmp_path / name).write_bytes((PRETRAINED_DIR / name).read_bytes())

    call_command("build_default_models", "--only", "sentiment_encoder", "--out", str(tmp_path), stdout=StringIO(),
                 stderr=StringIO())  # fmt: skip

    entry = json.loads((tmp_path / "defaults.json").read_text())["sentiment_encoder"]
    shipped = shipped_manifest()["sentiment_encoder"]
    for dataset in ("yelp", "zomato"):
        measured = entry["metrics"]["finetuned_head"][dataset]["macro_f1"]
        assert measured == pytest.approx(shipped["metrics"]["finetuned_head"][dataset]["macro_f1"], abs=0.002)
    assert (tmp_path / finetuned.GRAPH_FILE).read_bytes() == (PRETRAINED_DIR / finetuned.GRAPH_FILE).read_bytes()
    assert "one window of its first and last 127 tokens" in (tmp_path / "MODEL_CARD.md").read_text()


def test_building_without_the_public_files_says_what_is_missing(tmp_path):
    with pytest.raises(CommandError, match="No data folder"):
        call_command("build_default_models", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path))
    (tmp_path / "data").mkdir()
    with pytest.raises(CommandError, match="a public file is missing"):
        call_command("build_default_models", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path))


def test_a_fresh_install_serves_the_shipped_aspect_models_for_every_scheme(shipped):
    from training.aspects import get_aspect_model

    [version] = [v for v in model_version_ensure_defaults() if v.kind == "aspects"]

    assert version.stage == "champion"
    themes = get_aspect_model("themes").predict(["The waiter was rude and we waited an hour."])[0]
    assert {("service and staff", "negative")} <= {(c, p) for c, p, _ in themes}
    [e_a] = get_aspect_model("semeval2016").predict(["The sushi was fresh and delicious."])
    assert [(c, p) for c, p, _ in e_a] == [("FOOD#QUALITY", "positive")]


class TestTheShippedSentimentDefault:
    """The fine-tuned head serves sentiment from the first migrate, in place of the lexicon baseline."""

    @pytest.fixture
    def fresh_install(self, shipped):
        from training.registry import forget_deployed_model, model_version_ensure_baseline

        model_version_ensure_baseline()  # what migrate does first (training.receivers)
        model_version_ensure_defaults()
        forget_deployed_model()

    def test_its_model_page_shows_its_scores_and_says_they_are_not_on_your_reviews(self, fresh_install):
        from tests.factories import UserFactory
        from tests.project.test_staff_pages import logged_in

        champion = ModelVersion.objects.get(kind="sentiment", stage="champion")

        page = logged_in(UserFactory(is_staff=True)).get(f"/models/{champion.pk}/").text

        accuracy = round(champion.metrics["evaluation"]["accuracy"] * 100)
        assert f"Correct on {accuracy}% of held-out reviews" in page and "Not scored" not in page
        assert "not your reviews" in page and "not trained on your reviews yet" in page

    def test_it_replaces_the_lexicon_baseline_as_the_champion(self, fresh_install):
        from training.ml import finetuned
        from training.registry import get_deployed_model

        champion = ModelVersion.objects.get(kind="sentiment", stage="champion")

        assert champion.algorithm == finetuned.SHIPPED_ALGORITHM and champion.parameters["shipped"] is True
        assert Deployment.objects.filter(model_version=champion, action="initial").exists()
        assert 0.7 < champion.metrics["evaluation"]["macro_f1"] < 0.8
        assert champion.metrics["evaluation"]["n"] == 3110 and champion.metrics["evaluation"]["confusion_matrix"]
        model = get_deployed_model().model
        negative, positive = model.predict_proba(["Cold food, rude waiter, never again.", "A wonderful evening!"])
        assert negative.argmax() == 2 and positive.argmax() == 0

    def test_reviews_get_the_lexicon_on_arrival_and_the_head_from_celery(self, fresh_install):
        from project.outbox.services import outbox_relay
        from reviews.models import Prediction
        from reviews.schemas import ReviewIn
        from reviews.services import review_create
        from training.ml.lexicon import LexiconSentimentModel
        from training.registry import get_deployed_model

        text = "The starters were fine but the mains were lukewarm and late."
        review = review_create(data=ReviewIn(text=text, source="google")).review
        outbox_relay(min_age_seconds=0)  # the after-arrival task (inline in tests)

        ingest, *_, rescored = Prediction.objects.filter(review=review).order_by("id")
        assert ingest.is_ingest and not rescored.is_ingest
        lexicon_scores = LexiconSentimentModel().predict_proba([text])[0]
        assert [ingest.scores[label] for label in ("positive", "neutral", "negative")] == pytest.approx(
            lexicon_scores, abs=1e-4
        )
        head_scores = get_deployed_model().model.predict_proba([text])[0]
        assert [rescored.scores[label] for label in ("positive", "neutral", "negative")] == pytest.approx(
            head_scores, abs=1e-4
        )

    def test_a_trained_champion_is_never_replaced(self, shipped):
        ModelVersion.objects.filter(kind="sentiment", stage="champion").update(stage="archived")
        trained = ModelVersion.objects.create(name="sentiment-mine", kind="sentiment", algorithm="x", stage="champion")

        model_version_ensure_defaults()

        assert ModelVersion.objects.get(kind="sentiment", stage="champion") == trained
