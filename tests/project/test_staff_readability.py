"""The staff pages read naturally: plain sentences about models, explained terms, natural dates,
label buttons on the review page, a title that names the site once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from reviews.models import LabelEvent, LabelVote, Review
from reviews.roles import LABELLER
from tests.factories import ModelVersionFactory, ReviewFactory, UserFactory
from training.models import Deployment, EvaluationReport, GateDecision, ModelVersion
from training.views import version_summary

pytestmark = pytest.mark.django_db


def logged_in(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def labeller_user():
    return UserFactory(role=LABELLER)


@pytest.fixture
def labeller(labeller_user):
    return logged_in(labeller_user)


@pytest.fixture
def no_double_labels(settings):
    settings.LABELLING_DOUBLE_SHARE = 0.0


def trained(name: str, accuracy: float, **fields) -> ModelVersion:
    evaluation = {"accuracy": accuracy, "macro_f1": round(accuracy - 0.05, 4), "ece": 0.04, "brier": 0.31, "n": 200}
    return ModelVersionFactory(
        name=name,
        algorithm="tfidf-logreg",
        artifact_path=f"{name}.joblib",
        metrics={"evaluation": evaluation},
        **fields,
    )


def gate(candidate: ModelVersion, champion: ModelVersion | None, champion_accuracy: float) -> GateDecision:
    return GateDecision.objects.create(
        candidate=candidate,
        champion=champion,
        candidate_metrics=candidate.metrics["evaluation"],
        champion_metrics={"accuracy": champion_accuracy, "macro_f1": champion_accuracy - 0.05},
        delta_macro_f1=0.02,
        probability_better=0.97,
        decision=GateDecision.Decision.PROMOTED,
        reason="better",
    )


def title_of(content: str) -> str:
    return re.search(r"<title>(.*?)</title>", content, re.S).group(1)


# --- The sentence about a model version --------------------------------------------


def test_the_sentence_says_how_much_better_than_the_previous_model():
    sentence = version_summary(accuracy=0.7112, previous_accuracy=0.6904, previous_name="sentiment-1")

    assert sentence == "Correct on 71% of held-out reviews; better than the previous model (sentiment-1) by 2 points."


def test_the_sentence_says_worse_honestly_and_uses_one_point_in_the_singular():
    sentence = version_summary(accuracy=0.68, previous_accuracy=0.69, previous_name="sentiment-1")

    assert sentence == "Correct on 68% of held-out reviews; worse than the previous model (sentiment-1) by 1 point."


def test_the_sentence_compares_the_percentages_it_shows():
    # 70.6% and 70.5% both read 71%: the sentence must not claim a difference the numbers do not show.
    assert version_summary(accuracy=0.706, previous_accuracy=0.705, previous_name="v1").endswith(
        "the same as the previous model (v1)."
    )


def test_the_sentence_of_the_first_model_has_nothing_to_compare():
    assert version_summary(accuracy=0.7) == (
        "Correct on 70% of held-out reviews; the first model, so there is nothing to compare it with."
    )


def test_the_sentence_claims_no_difference_when_the_previous_model_was_scored_elsewhere():
    sentence = version_summary(accuracy=0.7, previous_accuracy=None, previous_name="sentiment-1")

    assert (
        sentence
        == "Correct on 70% of held-out reviews; the model before it (sentiment-1) was not scored on the same reviews."
    )
    assert "better" not in sentence and "worse" not in sentence


def test_the_baseline_gets_its_own_honest_sentence():
    assert "not trained on your reviews" in version_summary(accuracy=None, baseline=True)
    assert version_summary(accuracy=0.551, baseline=True).endswith(
        "It was correct on 55% of held-out reviews when last compared."
    )


def test_a_version_without_a_score_says_so():
    assert version_summary(accuracy=None) == "Not scored on held-out reviews, so there is no accuracy to report."


def test_an_aspect_model_speaks_of_topics():
    sentence = version_summary(
        accuracy=0.76, previous_accuracy=0.7, previous_name="the built-in aspect rules", aspects=True
    )

    assert sentence.startswith("Gets the sentiment right for 76% of the topics in held-out sentences; better")


# --- The models pages ------------------------------------------------------------


def test_the_models_page_shows_each_version_in_a_plain_sentence(labeller):
    baseline = ModelVersion.objects.get(name="baseline-lexicon")  # created by migrate
    first = trained("sentiment-1", 0.69)
    gate(first, baseline, champion_accuracy=0.55)
    second = trained("sentiment-2", 0.7112)
    gate(second, first, champion_accuracy=0.6904)

    content = labeller.get("/models/").content.decode()

    assert "Correct on 71% of held-out reviews; better than the previous model (sentiment-1) by 2 points." in content
    assert (
        "Correct on 69% of held-out reviews; better than the previous model (baseline-lexicon) by 14 points." in content
    )
    assert "not trained on your reviews" in content
    assert "It was correct on 55% of held-out reviews when last compared." in content


def test_the_model_page_shows_its_sentence(labeller):
    first = trained("sentiment-1", 0.69)
    second = trained("sentiment-2", 0.66)
    gate(second, first, champion_accuracy=0.69)

    content = labeller.get(f"/models/{second.pk}/").content.decode()

    assert "Correct on 66% of held-out reviews; worse than the previous model (sentiment-1) by 3 points." in content


def test_without_a_gate_the_model_before_is_the_last_one_deployed(labeller):
    earlier = trained("sentiment-1", 0.69)
    Deployment.objects.create(model_version=earlier, action=Deployment.Action.MANUAL)
    later = trained("sentiment-2", 0.72)

    content = labeller.get(f"/models/{later.pk}/").content.decode()

    assert "the model before it (sentiment-1) was not scored on the same reviews" in content


def test_ece_and_brier_are_explained_wherever_they_appear(labeller):
    version = trained("sentiment-1", 0.7)
    EvaluationReport.objects.create(model_version=version, metrics={"macro_f1": 0.7, "ece": 0.03, "brier": 0.3})
    ece = "how far the model's confidence is from how often it is right; lower is better"

    listing = labeller.get("/models/").content.decode()
    page = labeller.get(f"/models/{version.pk}/").content.decode()

    for content in (listing, page):
        assert f'<abbr title="Expected calibration error: {ece}">ECE</abbr>' in content
        assert re.search(r'<abbr title="Brier score: [^"]*lower is better">Brier score</abbr>', content)
    assert listing.count(">ECE</abbr>") == 2  # the versions and the weekly evaluations


def test_the_mlflow_column_links_the_run_when_tracking_is_over_http(labeller, settings):
    settings.MLFLOW_UI_URL = ""
    settings.MLFLOW_TRACKING_URI = "http://tracker:secret@mlflow.internal:5000/"
    version = trained("sentiment-1", 0.7, mlflow_run_id="0a1b2c3d")

    listing = labeller.get("/models/").content.decode()
    page = labeller.get(f"/models/{version.pk}/").content.decode()

    for content in (listing, page):
        assert 'href="http://mlflow.internal:5000/#/runs/0a1b2c3d"' in content
        assert "secret" not in content  # the tracking URI's credentials never reach a page


def test_the_mlflow_ui_setting_wins_over_the_tracking_uri(labeller, settings):
    settings.MLFLOW_UI_URL = "https://mlflow.example.com/"
    settings.MLFLOW_TRACKING_URI = "http://mlflow.internal:5000"
    trained("sentiment-1", 0.7, mlflow_run_id="0a1b2c3d")

    assert 'href="https://mlflow.example.com/#/runs/0a1b2c3d"' in labeller.get("/models/").content.decode()


def test_the_mlflow_run_id_is_plain_text_when_tracking_has_no_web_ui(labeller, settings):
    settings.MLFLOW_UI_URL = ""
    settings.MLFLOW_TRACKING_URI = "sqlite:////tmp/mlflow.db"
    version = trained("sentiment-1", 0.7, mlflow_run_id="0a1b2c3d")

    for content in (labeller.get("/models/").content.decode(), labeller.get(f"/models/{version.pk}/").content.decode()):
        assert "0a1b2c3d</code>" in content
        assert "#/runs/" not in content
        assert 'href="sqlite' not in content


# --- Dates ------------------------------------------------------------------------


def test_dates_read_naturally_and_never_say_midnight(labeller, settings):
    settings.TIME_ZONE = "UTC"
    written = dt.datetime(2013, 1, 5, 0, 0, tzinfo=dt.UTC)
    review = ReviewFactory(review_date=written)
    Review.objects.filter(pk=review.pk).update(created_at=written)

    page = labeller.get(f"/explore/{review.pk}/").content.decode()
    listing = labeller.get("/explore/").content.decode()

    assert "<dt>Written</dt><dd>5 Jan 2013</dd>" in page
    assert "<dt>Received</dt><dd>5 Jan 2013, 00:00</dd>" in page
    assert "5 Jan 2013" in listing
    for content in (page, listing):
        assert "midnight" not in content and "noon" not in content
        assert "a.m." not in content and "p.m." not in content


def test_model_dates_use_the_same_natural_format(labeller):
    version = trained("sentiment-1", 0.7)
    ModelVersion.objects.filter(pk=version.pk).update(created_at=timezone.make_aware(dt.datetime(2026, 3, 9, 14, 5)))

    assert "9 Mar 2026, 14:05" in labeller.get("/models/").content.decode()


# --- Labelling from the review page ---------------------------------------------------


def test_the_review_page_shows_the_label_buttons_with_their_keys(labeller):
    review = ReviewFactory()

    content = labeller.get(f"/explore/{review.pk}/").content.decode()

    for key, label in (("1", "positive"), ("2", "neutral"), ("3", "negative")):
        assert re.search(
            rf'<button type="submit" class="{label}" name="label" value="{label}" data-label="{label}" '
            rf'data-key="{key}" aria-pressed="false"><kbd>{key}</kbd>{label.capitalize()}</button>',
            content,
        ), label
    assert f'action="/explore/{review.pk}/label/"' in content
    assert "label-keys.js" in content


def test_the_labelling_page_uses_the_same_buttons_and_key_script(labeller):
    content = labeller.get("/labelling/").content.decode()

    assert 'data-label="neutral" data-key="2"><kbd>2</kbd>Neutral</button>' in content
    assert content.index("label-keys.js") < content.index("labelling.js")


def test_posting_a_label_button_labels_the_review(labeller_user, no_double_labels):
    review = ReviewFactory()
    client = logged_in(labeller_user, csrf=True)
    page = client.get(f"/explore/{review.pk}/")
    assert page.status_code == 200

    response = client.post(
        f"/explore/{review.pk}/label/",
        {"label": "negative", "shown": "", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/explore/{review.pk}/#labels-title"
    review.refresh_from_db()
    assert review.human_label == "negative" and review.human_labelled_by == labeller_user
    assert LabelVote.objects.get(review=review).user == labeller_user  # a vote, as on the labelling page
    content = client.get(response["Location"]).content.decode()
    assert f"Labelled review #{review.pk} negative." in content
    assert 'value="negative" data-label="negative" data-key="3" aria-pressed="true"' in content


def test_a_labelled_review_is_relabelled_and_kept_in_its_history(labeller, labeller_user):
    review = ReviewFactory(human_label="positive")

    labeller.post(f"/explore/{review.pk}/label/", {"label": "neutral", "shown": "positive"})

    review.refresh_from_db()
    assert review.human_label == "neutral"
    event = LabelEvent.objects.get(review=review)
    assert (event.previous_label, event.label, event.user) == ("positive", "neutral", labeller_user)


def test_a_label_changed_since_the_page_was_shown_is_not_overwritten(labeller):
    review = ReviewFactory(human_label="negative")  # someone labelled it after the page showed it unlabelled

    response = labeller.post(f"/explore/{review.pk}/label/", {"label": "positive", "shown": ""}, follow=True)

    review.refresh_from_db()
    assert review.human_label == "negative"
    assert "Nothing was saved" in response.content.decode()


def test_a_made_up_label_changes_nothing(labeller):
    review = ReviewFactory()

    labeller.post(f"/explore/{review.pk}/label/", {"label": "ecstatic", "shown": ""})

    review.refresh_from_db()
    assert review.human_label is None


def test_without_the_label_permission_the_page_has_no_buttons_and_the_post_is_refused():
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_review", content_type__app_label="reviews"))
    client = logged_in(user)
    review = ReviewFactory()

    assert 'data-key="1"' not in client.get(f"/explore/{review.pk}/").content.decode()
    assert client.post(f"/explore/{review.pk}/label/", {"label": "positive", "shown": ""}).status_code == 403
    review.refresh_from_db()
    assert review.human_label is None


# --- Titles ------------------------------------------------------------------------


def test_the_login_page_names_the_site_once_in_its_title():
    content = Client().get("/accounts/login/").content.decode()

    assert title_of(content) == "Log in · Review sentiment"


def test_every_staff_page_names_the_site_once_in_its_title(labeller):
    version = ModelVersionFactory()
    review = ReviewFactory()
    for path in ("/", "/labelling/", "/explore/", f"/explore/{review.pk}/", "/models/", f"/models/{version.pk}/"):
        assert title_of(labeller.get(path).content.decode()).count("Review sentiment") == 1, path
