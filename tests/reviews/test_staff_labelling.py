from __future__ import annotations

import json
import random
import threading

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from reviews import labelling, votes
from reviews.labelling import Order, QueueFilters
from reviews.models import LabelEvent, LabelVote, Review
from reviews.roles import LABELLER, MANAGER
from tests.factories import ReviewFactory, UserFactory
from training.ml.holdout import in_evaluation_bucket

pytestmark = pytest.mark.django_db


def scored(positive: float, neutral: float, negative: float, **fields) -> Review:
    scores = {"positive": positive, "neutral": neutral, "negative": negative}
    label = max(scores, key=scores.get)
    return ReviewFactory(predicted_label=label, predicted_confidence=scores[label], predicted_scores=scores, **fields)


def client_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/labelling/")  # sets the CSRF cookie
    return client


def post_json(client: Client, path: str, data: dict):
    return client.post(
        path, json.dumps(data), content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )


@pytest.fixture
def labeller():
    return UserFactory(role=LABELLER)


@pytest.fixture
def no_random_share(settings):
    settings.LABELLING_UNCERTAIN_RANDOM_SHARE = 0.0
    settings.LABELLING_COLD_START_LABELS = 0
    settings.LABELLING_DOUBLE_SHARE = 0.0


def test_the_labelling_page_needs_a_login():
    response = Client().get("/labelling/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_labelling_json_views_answer_401_without_a_login():
    assert Client().get("/labelling/next.json").status_code == 401
    assert Client().post("/labelling/label.json", "{}", content_type="application/json").status_code == 401


def test_a_user_without_a_role_cannot_label():
    client = Client()
    client.force_login(UserFactory())

    assert client.get("/labelling/").status_code == 403
    assert client.get("/labelling/next.json").status_code == 403


def test_the_page_renders_the_progress_strip_and_the_keys(labeller):
    scored(0.5, 0.3, 0.2)

    response = client_for(labeller).get("/labelling/")

    assert response.status_code == 200
    content = response.content.decode()
    for text in ("Labelled today", "By me", "Evaluation set", "Labels needed for next retraining", "labelling.js"):
        assert text in content
    assert 'href="/labelling/"' in content and 'aria-current="page"' in content


def test_the_uncertain_queue_puts_the_smallest_margin_first(labeller, no_random_share):
    clear = scored(0.9, 0.05, 0.05)
    close_call = scored(0.41, 0.40, 0.19)
    middle = scored(0.6, 0.3, 0.1)

    claimed = labelling.queue_claim(user_id=labeller.pk, filters=QueueFilters(order=Order.UNCERTAIN), count=3)

    assert [review.pk for review in claimed] == [close_call.pk, middle.pk, clear.pk]


def test_the_uncertain_queue_does_not_show_near_duplicates_one_after_another(labeller, no_random_share):
    copies = [scored(0.40, 0.39, 0.21, text="The soup was cold but the bread was fine.") for _ in range(3)]
    other = scored(0.45, 0.35, 0.20, text="Parking was hard, the view okay, decent wine list.")

    claimed = labelling.queue_claim(user_id=labeller.pk, filters=QueueFilters(order=Order.UNCERTAIN), count=2)

    assert claimed[0].pk in {review.pk for review in copies}
    assert claimed[1].pk == other.pk  # the same selection as the simulation: training.ml.selection


def test_the_uncertain_queue_starts_with_a_random_sample_until_enough_labels_exist(labeller, settings):
    settings.LABELLING_UNCERTAIN_RANDOM_SHARE = 0.0
    settings.LABELLING_DOUBLE_SHARE = 0.0
    settings.LABELLING_COLD_START_LABELS = 100
    reviews = [scored(0.9 - i * 0.01, 0.05, 0.05 + i * 0.01) for i in range(30)]
    firsts = set()
    for seed in range(8):
        claimed = labelling.queue_claim(user_id=labeller.pk, filters=QueueFilters(), count=1, rng=random.Random(seed))
        firsts.add(claimed[0].pk)
        labelling.queue_release(user_id=labeller.pk, review_ids=[claimed[0].pk])

    assert len(firsts) > 1
    assert firsts <= {review.pk for review in reviews}


def test_the_uncertain_queue_mixes_in_a_random_share(labeller, settings):
    settings.LABELLING_UNCERTAIN_RANDOM_SHARE = 1.0
    settings.LABELLING_DOUBLE_SHARE = 0.0
    reviews = [scored(0.9 - i * 0.01, 0.05, 0.05 + i * 0.01) for i in range(30)]
    firsts = set()
    for seed in range(8):
        claimed = labelling.queue_claim(
            user_id=labeller.pk, filters=QueueFilters(), count=1, rng=random.Random(seed), exclude=[]
        )
        firsts.add(claimed[0].pk)
        labelling.queue_release(user_id=labeller.pk, review_ids=[claimed[0].pk])

    assert len(firsts) > 1
    assert firsts <= {review.pk for review in reviews}


def test_the_disagreement_queue_finds_five_stars_predicted_negative(labeller, no_random_share):
    scored(0.1, 0.1, 0.8, rating=5)
    agreeing = scored(0.8, 0.1, 0.1, rating=5)
    clash = Review.objects.filter(rating=5, predicted_label="negative").get()

    claimed = labelling.queue_claim(user_id=labeller.pk, filters=QueueFilters(order=Order.DISAGREEMENT), count=3)

    assert [review.pk for review in claimed] == [clash.pk]
    assert agreeing.pk not in [review.pk for review in claimed]


def test_filters_narrow_the_queue(labeller, no_random_share):
    scored(0.5, 0.3, 0.2, source="yelp", business="Blue Fin")
    wanted = scored(0.2, 0.3, 0.5, source="google", business="Spice Garden")

    filters = QueueFilters(order=Order.NEWEST, source="google", business="Spice Garden", predicted_label="negative")
    claimed = labelling.queue_claim(user_id=labeller.pk, filters=filters, count=5)

    assert [review.pk for review in claimed] == [wanted.pk]


def test_two_labellers_never_get_the_same_review(no_random_share):
    reviews = [scored(0.5, 0.3, 0.2) for _ in range(4)]
    first, second = UserFactory(role=LABELLER), UserFactory(role=LABELLER)

    mine = labelling.queue_claim(user_id=first.pk, filters=QueueFilters(), count=2)
    theirs = labelling.queue_claim(user_id=second.pk, filters=QueueFilters(), count=4)

    assert len(mine) == 2 and len(theirs) == 2
    assert not {r.pk for r in mine} & {r.pk for r in theirs}
    assert {r.pk for r in mine} | {r.pk for r in theirs} == {r.pk for r in reviews}


def test_an_expired_reservation_is_free_again(no_random_share):
    review = scored(0.5, 0.3, 0.2)
    first, second = UserFactory(role=LABELLER), UserFactory(role=LABELLER)
    labelling.queue_claim(user_id=first.pk, filters=QueueFilters(), count=1)
    Review.objects.filter(pk=review.pk).update(reserved_until=timezone.now() - timezone.timedelta(seconds=1))

    claimed = labelling.queue_claim(user_id=second.pk, filters=QueueFilters(), count=1)

    assert [r.pk for r in claimed] == [review.pk]
    assert Review.objects.get(pk=review.pk).reserved_by_id == second.pk


def test_the_reservation_is_a_compare_and_set(no_random_share):
    review = scored(0.5, 0.3, 0.2)
    first, second = UserFactory(role=LABELLER), UserFactory(role=LABELLER)
    # Both read the same candidate; only one UPDATE ... WHERE can win.
    candidates_first = labelling._candidates(
        user_id=first.pk, filters=QueueFilters(), exclude=[], limit=1, rng=random.Random(0)
    )
    candidates_second = labelling._candidates(
        user_id=second.pk, filters=QueueFilters(), exclude=[], limit=1, rng=random.Random(0)
    )
    assert candidates_first == candidates_second == [(review.pk, False)]

    won_first = labelling.queue_claim(user_id=first.pk, filters=QueueFilters(), count=1)
    won_second = labelling.queue_claim(user_id=second.pk, filters=QueueFilters(), count=1)

    assert [r.pk for r in won_first] == [review.pk]
    assert won_second == []


def test_labelling_saves_and_returns_the_next_reviews(labeller, no_random_share):
    reviews = [scored(0.5, 0.3, 0.2) for _ in range(5)]
    client = client_for(labeller)
    first = client.get("/labelling/next.json?count=2").json()["items"]
    assert len(first) == 2

    response = post_json(
        client,
        "/labelling/label.json",
        {"review_id": first[0]["id"], "label": "negative", "exclude": [first[1]["id"]], "want": 2, "filters": {}},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "saved"
    assert len(body["items"]) == 2
    assert {item["id"] for item in body["items"]}.isdisjoint({first[0]["id"], first[1]["id"]})
    review = Review.objects.get(pk=first[0]["id"])
    assert review.human_label == "negative"
    assert review.human_labelled_by_id == labeller.pk
    assert review.reserved_by_id is None
    assert LabelEvent.objects.filter(review=review, user=labeller, label="negative").exists()
    assert len(reviews) == 5


def test_labelling_without_the_csrf_token_is_refused(labeller):
    review = scored(0.5, 0.3, 0.2)
    client = client_for(labeller)

    response = client.post(
        "/labelling/label.json",
        json.dumps({"review_id": review.pk, "label": "positive"}),
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["status"] == "csrf_failed"  # JSON, which the page's script reads, not an HTML page
    assert Review.objects.get(pk=review.pk).human_label is None


def test_a_second_labeller_gets_a_conflict_status_not_an_error(no_random_share):
    review = scored(0.5, 0.3, 0.2)
    first, second = client_for(UserFactory(role=LABELLER)), client_for(UserFactory(role=LABELLER))
    post_json(first, "/labelling/label.json", {"review_id": review.pk, "label": "positive"})

    response = post_json(second, "/labelling/label.json", {"review_id": review.pk, "label": "negative"})

    assert response.status_code == 200
    assert response.json()["status"] == "already_labelled"
    assert Review.objects.get(pk=review.pk).human_label == "positive"


def test_a_bad_label_is_a_400(labeller):
    review = scored(0.5, 0.3, 0.2)

    response = post_json(client_for(labeller), "/labelling/label.json", {"review_id": review.pk, "label": "meh"})

    assert response.status_code == 400


def test_undo_removes_my_label_and_gives_the_review_back(labeller, no_random_share):
    review = scored(0.5, 0.3, 0.2)
    client = client_for(labeller)
    post_json(client, "/labelling/label.json", {"review_id": review.pk, "label": "neutral"})

    response = post_json(client, "/labelling/undo.json", {"review_id": review.pk})

    assert response.json()["status"] == "undone"
    assert response.json()["items"][0]["id"] == review.pk
    review.refresh_from_db()
    assert review.human_label is None
    assert review.reserved_by_id == labeller.pk
    assert not LabelVote.objects.filter(review=review).exists()


def test_undo_of_someone_elses_label_is_refused(no_random_share):
    review = scored(0.5, 0.3, 0.2)
    post_json(
        client_for(UserFactory(role=LABELLER)), "/labelling/label.json", {"review_id": review.pk, "label": "neutral"}
    )

    response = post_json(client_for(UserFactory(role=LABELLER)), "/labelling/undo.json", {"review_id": review.pk})

    assert response.status_code == 200
    assert response.json()["status"] == "cannot_undo"
    assert Review.objects.get(pk=review.pk).human_label == "neutral"


def test_skip_releases_the_reservation(labeller, no_random_share):
    review = scored(0.5, 0.3, 0.2)
    client = client_for(labeller)
    client.get("/labelling/next.json?count=1")
    assert Review.objects.get(pk=review.pk).reserved_by_id == labeller.pk

    response = post_json(client, "/labelling/skip.json", {"review_id": review.pk, "exclude": [review.pk], "want": 1})

    assert response.json()["status"] == "skipped"
    assert response.json()["items"] == []
    assert Review.objects.get(pk=review.pk).reserved_by_id is None


def test_reviews_in_the_evaluation_bucket_are_shown_blind(labeller):
    reviews = [scored(0.5, 0.3, 0.2) for _ in range(30)]
    items = {item.review.pk: item.as_json() for item in labelling.queue_items(reviews, user_id=labeller.pk)}

    blind = [pk for pk in items if in_evaluation_bucket(pk)]
    open_ = [pk for pk in items if not in_evaluation_bucket(pk)]
    assert blind and open_
    for pk in blind:
        assert items[pk]["blind"] and items[pk]["suggestion"] is None and items[pk]["confidence"] is None
        assert items[pk]["highlights"] == [] and items[pk]["scores"] == {}
    for pk in open_:
        assert items[pk]["suggestion"] == "positive" and items[pk]["confidence"] == 0.5


def test_a_mixed_review_shows_both_sides_on_its_card_unless_it_is_blind(labeller):
    from reviews.models import ReviewAspect

    reviews = [scored(0.3, 0.5, 0.2, text=f"Great food, rude staff {i}") for i in range(30)]
    for review in reviews:
        ReviewAspect.objects.create(review=review, category="food quality", polarity="positive")
        ReviewAspect.objects.create(review=review, category="service and staff", polarity="negative")

    items = {item.review.pk: item.as_json() for item in labelling.queue_items(reviews, user_id=labeller.pk)}

    assert any(in_evaluation_bucket(pk) for pk in items) and not all(in_evaluation_bucket(pk) for pk in items)
    for pk, item in items.items():
        expected = (
            None if in_evaluation_bucket(pk) else {"positive": ["food quality"], "negative": ["service and staff"]}
        )
        assert item["mixed"] == expected


def test_double_labelling_sends_a_review_to_a_second_labeller_blind(settings):
    settings.LABELLING_DOUBLE_SHARE = 1.0
    settings.LABELLING_UNCERTAIN_RANDOM_SHARE = 0.0
    settings.LABELLING_COLD_START_LABELS = 0
    review = scored(0.5, 0.3, 0.2)
    first, second = UserFactory(role=LABELLER, username="ana"), UserFactory(role=LABELLER, username="ben")
    assert votes.review_vote(review_id=review.pk, label="positive", user_id=first.pk) == "saved"

    assert labelling.queue_claim(user_id=first.pk, filters=QueueFilters(), count=3) == []
    claimed = labelling.queue_claim(user_id=second.pk, filters=QueueFilters(), count=3)
    assert [r.pk for r in claimed] == [review.pk]
    assert labelling.queue_items(claimed, user_id=second.pk)[0].as_json()["suggestion"] is None

    assert votes.review_vote(review_id=review.pk, label="negative", user_id=second.pk) == "second_saved"
    assert Review.objects.get(pk=review.pk).human_label == "positive"
    assert labelling.queue_claim(user_id=UserFactory(role=LABELLER).pk, filters=QueueFilters(), count=3) == []


def test_the_agreement_page_shows_kappa_and_disagreements(settings):
    settings.LABELLING_DOUBLE_SHARE = 1.0
    ana, ben = UserFactory(role=LABELLER, username="ana"), UserFactory(role=MANAGER, username="ben")
    pairs = [("positive", "positive"), ("negative", "negative"), ("neutral", "negative"), ("positive", "positive")]
    reviews = []
    for first_label, second_label in pairs:
        review = scored(0.5, 0.3, 0.2)
        votes.review_vote(review_id=review.pk, label=first_label, user_id=ana.pk)
        votes.review_vote(review_id=review.pk, label=second_label, user_id=ben.pk)
        reviews.append(review)
    client = client_for(ben)

    response = client.get("/labelling/agreement/")

    assert response.status_code == 200
    [pair] = votes.agreement_by_pair()
    assert (pair.first, pair.second, pair.reviews, pair.agreed) == ("ana", "ben", 4, 3)
    assert 0 < pair.kappa < 1
    assert f"#{reviews[2].pk}" in response.content.decode()

    client.post(
        "/labelling/agreement/",
        {"review_id": reviews[2].pk, "label": "negative", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert Review.objects.get(pk=reviews[2].pk).human_label == "negative"
    assert votes.disagreements() == []

    # A second settle from the same, now out-of-date page, and a settle of a review the labellers agreed on.
    for review_id, label in ((reviews[2].pk, "neutral"), (reviews[0].pk, "negative")):
        again = client.post(
            "/labelling/agreement/",
            {"review_id": review_id, "label": label, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
            follow=True,
        )
        assert "has no open disagreement" in again.content.decode()
    assert [Review.objects.get(pk=r.pk).human_label for r in reviews[:3]] == ["positive", "negative", "negative"]


def test_progress_counts_today_me_total_and_what_retraining_needs(labeller, settings):
    settings.RETRAIN_MIN_NEW_LABELS = 10
    settings.LABELLING_DOUBLE_SHARE = 0.0
    reviews = [scored(0.5, 0.3, 0.2) for _ in range(6)]
    for review in reviews[:3]:
        votes.review_vote(review_id=review.pk, label="positive", user_id=labeller.pk)
    votes.review_vote(review_id=reviews[3].pk, label="positive", user_id=UserFactory(role=LABELLER).pk)

    progress = client_for(labeller).get("/labelling/progress.json").json()

    assert progress["labelled_today"] == 4
    assert progress["labelled_by_me"] == 3
    assert progress["labelled_total"] == 4
    assert progress["unlabelled"] == 2
    assert progress["labels_needed"] == 10 - sum(not in_evaluation_bucket(r.pk) for r in reviews[:4])
    assert progress["evaluation_set"] == sum(in_evaluation_bucket(r.pk) for r in reviews[:4])


@pytest.mark.django_db(transaction=True)
def test_concurrent_labellers_lose_nothing_and_never_double_label(settings):
    settings.LABELLING_DOUBLE_SHARE = 0.0
    settings.LABELLING_UNCERTAIN_RANDOM_SHARE = 0.0
    settings.LABELLING_COLD_START_LABELS = 0
    reviews = [scored(0.5, 0.3, 0.2) for _ in range(24)]
    users = [UserFactory(role=LABELLER) for _ in range(4)]
    seen: dict[int, list[int]] = {user.pk: [] for user in users}
    errors = []

    def work(user):
        try:
            while True:
                claimed = labelling.queue_claim(user_id=user.pk, filters=QueueFilters(), count=1)
                if not claimed:
                    return
                seen[user.pk].append(claimed[0].pk)
                votes.review_vote(review_id=claimed[0].pk, label="positive", user_id=user.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    all_seen = [pk for pks in seen.values() for pk in pks]
    assert sorted(all_seen) == sorted(r.pk for r in reviews)  # each review to exactly one labeller
    assert Review.objects.filter(human_label="positive").count() == 24
    assert LabelEvent.objects.count() == 24


def test_a_review_whose_label_was_removed_can_be_labelled_again_from_the_queue(no_random_share):
    from reviews.services import review_unlabel

    review = scored(0.5, 0.3, 0.2)
    first, second = UserFactory(role=LABELLER), UserFactory(role=LABELLER)
    post_json(client_for(first), "/labelling/label.json", {"review_id": review.pk, "label": "positive"})
    review_unlabel(review=review, user_id=None)  # a manager's DELETE /api/reviews/{id}/label

    again = post_json(client_for(second), "/labelling/label.json", {"review_id": review.pk, "label": "negative"})
    mine_again = post_json(client_for(first), "/labelling/label.json", {"review_id": review.pk, "label": "neutral"})

    assert again.json()["status"] == "saved"
    assert mine_again.json()["status"] == "already_labelled"  # second's label stands
    review.refresh_from_db()
    assert (review.human_label, review.human_labelled_by_id) == ("negative", second.pk)


@pytest.mark.parametrize("review_id", [1.9, True, "1.0", " 1e0", [1], {"id": 1}, -1, 0])
def test_a_review_id_that_is_not_a_whole_number_labels_nothing(labeller, review_id):
    review = scored(0.5, 0.3, 0.2)
    assert review.pk >= 1

    response = post_json(client_for(labeller), "/labelling/label.json", {"review_id": review_id, "label": "positive"})

    assert response.status_code == 400
    assert not Review.objects.filter(human_label__isnull=False).exists()


def test_a_review_id_as_a_digit_string_is_read(labeller, no_random_share):
    review = scored(0.5, 0.3, 0.2)

    response = post_json(
        client_for(labeller), "/labelling/label.json", {"review_id": str(review.pk), "label": "neutral"}
    )

    assert response.json()["status"] == "saved"
