"""Single creates of concurrent requests are stored together, and each request still gets its own answer."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import DataError, connection

from project.coalesce import Coalescer
from project.outbox.models import OutboxMessage
from reviews import services
from reviews.models import Prediction, Review
from reviews.schemas import ReviewIn
from reviews.serving import predict_texts

from .test_importing import REVIEW_FIELDS, items

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the batched statement is PostgreSQL's")


class RecordingHandler:
    """A batch function that records its batches; the first call can be held until released."""

    def __init__(self, hold_first: bool = False):
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, batch: list[str]) -> list[str | Exception]:
        self.batches.append(list(batch))
        self.started.set()
        self.release.wait(timeout=10)
        return [ValueError(f"{item} is odd") if item.startswith("odd") else item.upper() for item in batch]


async def submit_while_the_first_batch_runs(coalescer: Coalescer, handler: RecordingHandler, later: list[str]):
    first = asyncio.ensure_future(coalescer.submit("first"))
    await asyncio.to_thread(handler.started.wait, 10)
    rest = [asyncio.ensure_future(coalescer.submit(item)) for item in later]
    await asyncio.sleep(0)  # every later item is queued before the first batch ends
    handler.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


class TestTheCoalescer:
    def test_a_lone_item_is_handled_at_once_on_its_own(self):
        handler = RecordingHandler()

        result = asyncio.run(Coalescer(handler).submit("pasta"))

        assert result == "PASTA"
        assert handler.batches == [["pasta"]]

    def test_items_that_arrive_while_a_batch_runs_go_together_into_the_next(self):
        handler = RecordingHandler(hold_first=True)
        coalescer = Coalescer(handler, max_in_flight=1)

        results = asyncio.run(submit_while_the_first_batch_runs(coalescer, handler, ["a", "b", "c", "d"]))

        assert handler.batches == [["first"], ["a", "b", "c", "d"]]
        assert results == ["FIRST", "A", "B", "C", "D"]

    def test_batches_are_no_larger_than_max_batch(self):
        handler = RecordingHandler(hold_first=True)
        coalescer = Coalescer(handler, max_batch=2, max_in_flight=1)

        asyncio.run(submit_while_the_first_batch_runs(coalescer, handler, ["a", "b", "c", "d", "e"]))

        assert [len(batch) for batch in handler.batches] == [1, 2, 2, 1]

    def test_each_caller_gets_its_own_outcome_or_its_own_exception(self):
        handler = RecordingHandler(hold_first=True)
        coalescer = Coalescer(handler, max_in_flight=1)

        results = asyncio.run(submit_while_the_first_batch_runs(coalescer, handler, ["a", "odd-b", "c"]))

        assert results[:2] == ["FIRST", "A"] and results[3] == "C"
        assert isinstance(results[2], ValueError) and str(results[2]) == "odd-b is odd"

    def test_a_caller_that_goes_away_leaves_its_batch_running_for_the_others(self):
        handler = RecordingHandler(hold_first=True)
        coalescer = Coalescer(handler, max_in_flight=1)

        async def scenario():
            first = asyncio.ensure_future(coalescer.submit("first"))
            await asyncio.to_thread(handler.started.wait, 10)
            gone, stays = asyncio.ensure_future(coalescer.submit("gone")), asyncio.ensure_future(coalescer.submit("b"))
            await asyncio.sleep(0)
            gone.cancel()  # its client disconnected
            handler.release.set()
            return await first, await stays, gone.cancelled()

        assert asyncio.run(scenario()) == ("FIRST", "B", True)
        assert handler.batches == [["first"], ["gone", "b"]]  # still stored, as a plain def endpoint's would be

    def test_a_batch_call_that_fails_fails_only_the_items_in_it(self):
        def handler(batch: list[str]) -> list[str]:
            if "boom" in batch:
                raise RuntimeError("the batch failed")
            return [item.upper() for item in batch]

        async def scenario():
            coalescer = Coalescer(handler, max_batch=1)
            return await asyncio.gather(
                *(coalescer.submit(item) for item in ["a", "boom", "c"]), return_exceptions=True
            )

        first, failed, third = asyncio.run(scenario())

        assert (first, third) == ("A", "C")
        assert isinstance(failed, RuntimeError)

    def test_a_batch_function_must_answer_every_item(self):
        async def scenario():
            return await Coalescer(lambda batch: batch[:-1]).submit("lost")

        with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
            asyncio.run(scenario())

    def test_limits_below_one_are_refused(self):
        with pytest.raises(ValueError):
            Coalescer(RecordingHandler(), max_in_flight=0)


@on_postgres
@pytest.mark.django_db
class TestManyCreatesInOneStatement:
    @pytest.fixture(autouse=True)
    def _tasks_go_to_a_broker(self):
        from project.celery import app

        app.conf.task_always_eager = False  # the one-statement path; restored by the autouse fixture in conftest

    def test_they_store_what_one_by_one_creates_store(self):
        outcomes = services.review_create_many(items=items("together"))
        for item in items("apart"):
            services.review_create(data=item)

        assert all(outcome.created for outcome in outcomes)
        # effective_at is the review date, else the time of storing: checked against the rows below
        fields = [field for field in REVIEW_FIELDS if field not in ("source", "effective_at")]
        together = list(Review.objects.filter(source="together").order_by("pk").values(*fields))
        apart = list(Review.objects.filter(source="apart").order_by("pk").values(*fields))
        assert together == apart
        assert [outcome.review.pk for outcome in outcomes] == [
            row.pk for row in Review.objects.filter(source="together").order_by("pk")
        ]
        rows = Review.objects.filter(source="together").order_by("pk")
        assert [outcome.review.effective_at for outcome in outcomes] == [
            row.review_date or row.created_at for row in rows
        ]
        ingest = Prediction.objects.filter(review__source="together", is_ingest=True).order_by("review_id")
        assert [(p.review_id, p.label, p.scores) for p in ingest] == [
            (o.review.pk, o.review.predicted_label, o.review.predicted_scores) for o in outcomes
        ]

    def test_their_aspect_extraction_is_one_outbox_row_left_to_the_relay(self):
        outcomes = services.review_create_many(items=items("queued"))

        message = OutboxMessage.objects.get(
            task="reviews.extract_fresh_aspects", args=[sorted(o.review.pk for o in outcomes)]
        )
        assert (message.kwargs, message.attempts) == ({}, 0)  # pending: sent rows leave the table

    def test_a_stored_or_repeated_external_id_answers_with_the_stored_review(self):
        stored = services.review_create(data=items("dup")[0])
        batch = [items("dup")[0], items("dup")[3], items("dup")[1], items("dup")[1]]

        outcomes = services.review_create_many(items=batch)

        assert [outcome.created for outcome in outcomes] == [False, True, True, False]
        assert outcomes[0].review.pk == stored.review.pk
        assert outcomes[3].review.pk == outcomes[2].review.pk
        assert Review.objects.filter(source="dup").count() == 3

    def test_an_item_the_database_refuses_fails_alone(self):
        too_large = ReviewIn.model_construct(
            text="Rating beyond the column's precision", source="refused", rating=Decimal("123456789"),
            business=None, author=None, external_id=None, review_date=None,
        )  # fmt: skip
        batch = [items("refused")[0], too_large, items("refused")[3]]

        first, failed, third = services.review_create_many(items=batch)

        assert first.created and third.created
        assert isinstance(failed, DataError)
        assert Review.objects.filter(source="refused").count() == 2


@on_postgres
def test_concurrent_posts_each_get_their_own_stored_review(api, admin_headers, broker, monkeypatch):
    from reviews import api as reviews_api

    batch_sizes: list[int] = []
    create_many = services.review_create_many

    def slow_first_batch(*, items):
        batch_sizes.append(len(items))
        if len(batch_sizes) == 1:
            time.sleep(0.5)  # the other requests arrive meanwhile and wait for the next batch
        return create_many(items=items)

    monkeypatch.setattr(services, "review_create_many", slow_first_batch)
    monkeypatch.setattr(reviews_api._single_creates, "max_in_flight", 1)
    texts = [
        f"Visit {n}: the {'soup was cold and the waiter rude' if n % 2 else 'pasta was superb'}." for n in range(12)
    ]

    def post(text: str):
        return api.post("/api/reviews/", json={"text": text, "source": "web"}, headers=admin_headers)

    with api, ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(post, texts))

    assert [response.status_code for response in responses] == [201] * 12
    assert max(batch_sizes) > 1
    for text, response in zip(texts, responses):
        body = response.json()
        stored = Review.objects.get(pk=body["id"])
        assert (body["text"], stored.text) == (text, text)
        assert body["prediction"]["label"] == stored.predicted_label == predict_texts([text]).results[0].label
