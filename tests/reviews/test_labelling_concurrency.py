"""20 labellers label the same reviews at once through POST /api/reviews/{id}/label.

Every accepted label must be stored exactly once in the label history, each review's history must
be an unbroken chain (every event's previous label is the label before it) ending in the review's
final human label, and nothing may fail: no 5xx, no deadlock, no lost update.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict

import pytest
from fastapi.testclient import TestClient

from reviews.models import LabelEvent, Review
from reviews.roles import LABELLER
from tests.factories import ReviewFactory, TokenFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LABELLERS = 20
LABELS_EACH = 100
REVIEWS = 25  # few reviews, so labellers collide on the same review all the time
LABELS = ["positive", "neutral", "negative"]


def test_concurrent_labellers_keep_every_label_and_an_unbroken_history():
    from project.asgi import application

    reviews = [ReviewFactory().pk for _ in range(REVIEWS)]
    users = [UserFactory(role=LABELLER) for _ in range(LABELLERS)]
    tokens = {user.pk: TokenFactory(user=user).key for user in users}
    sent: Counter[tuple[int, int, str]] = Counter()
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(LABELLERS)

    def labeller(user_id: int, seed: int) -> None:
        rng = random.Random(seed)
        client = TestClient(application, follow_redirects=False)
        headers = {"Authorization": f"Token {tokens[user_id]}"}
        start.wait()
        for _ in range(LABELS_EACH):
            review_id, label = rng.choice(reviews), rng.choice(LABELS)
            try:
                response = client.post(f"/api/reviews/{review_id}/label", json={"label": label}, headers=headers)
            except Exception as error:  # a server error raised through the test client
                with lock:
                    errors.append(repr(error))
                continue
            with lock:
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    sent[(user_id, review_id, label)] += 1
                else:
                    errors.append(f"{response.status_code}: {response.text[:300]}")

    threads = [threading.Thread(target=labeller, args=(user.pk, i)) for i, user in enumerate(users)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.monotonic() - started

    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[:5]
    assert statuses == {200: LABELLERS * LABELS_EACH}
    # Every accepted label exactly once, by its labeller, on its review.
    events = list(LabelEvent.objects.order_by("pk"))
    assert Counter((e.user_id, e.review_id, e.label) for e in events) == sent
    # Each review's history is a chain that ends in its current label.
    history: dict[int, list[LabelEvent]] = defaultdict(list)
    for event in events:
        history[event.review_id].append(event)
    for review in Review.objects.filter(pk__in=reviews):
        chain = history[review.pk]
        assert chain, review.pk
        assert chain[0].previous_label is None
        for before, after in zip(chain, chain[1:]):
            assert after.previous_label == before.label, (review.pk, before.pk, after.pk)
        assert review.human_label == chain[-1].label
        assert review.human_labelled_by_id == chain[-1].user_id
    print(f"{LABELLERS * LABELS_EACH} labels by {LABELLERS} labellers on {REVIEWS} reviews in {elapsed:.1f} s")
