"""The transactional outbox and the cache bypass, in process (tests/project/test_faults.py fails real servers)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown
from redis.exceptions import ConnectionError as RedisDown

from project import cache as safe_cache
from project.celery import app as celery_app
from project.outbox import batches, services
from project.outbox.batches import id_ranges
from project.outbox.models import OutboxMessage, SentTask
from project.outbox.services import outbox_enqueue, outbox_prune, outbox_relay
from reviews.models import Review


@pytest.fixture(autouse=True)
def _closed_breakers():
    services.broker.reset()
    safe_cache.breaker.reset()
    yield
    services.broker.reset()
    safe_cache.breaker.reset()


class FakeBroker:
    def __init__(self) -> None:
        self.down = False
        self.published: list[tuple[str, list]] = []
        self.calls = 0

    def send(self, task: str, args: list, kwargs: dict) -> None:
        self.calls += 1
        if self.down:
            raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.published.append((task, args))


@pytest.fixture
def broker(monkeypatch) -> FakeBroker:
    """Tasks are published (not run inline) to a broker the test can stop."""
    fake = FakeBroker()
    celery_app.conf.task_always_eager = False  # restored by the autouse fixture in conftest
    monkeypatch.setattr(services, "_send", fake.send)
    return fake


def pending() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.all())


def sent_records() -> list[tuple[str, list, list[int], int]]:
    """(task, args, outbox row ids, attempts) of each recorded publish, oldest first."""
    records = []
    for sent in SentTask.objects.order_by("id"):
        ids = [
            message_id
            for part in sent.message_ids.split(", ")
            for first, _, last in [part.partition("-")]
            for message_id in range(int(first), int(last or first) + 1)
        ]
        assert sent.messages == len(ids) and json.loads(sent.kwargs) == {}
        records.append((sent.task, json.loads(sent.args), ids, sent.attempts))
    return records


def sent_long_ago(hours: float, *tasks: SentTask) -> None:
    SentTask.objects.filter(pk__in=[t.pk for t in tasks]).update(sent_at=timezone.now() - dt.timedelta(hours=hours))


class TestTheOutbox:
    def test_it_publishes_after_commit_and_moves_the_row_to_the_sent_tasks(self, transactional_db, broker):
        with transaction.atomic():
            message = outbox_enqueue("reviews.extract_aspects", args=[[1, 2]])
            assert broker.published == []  # nothing leaves before the commit
        assert broker.published == [("reviews.extract_aspects", [[1, 2]])]
        assert pending() == []
        assert sent_records() == [("reviews.extract_aspects", [[1, 2]], [message.pk], 1)]

    def test_a_rolled_back_write_leaves_no_row_and_sends_nothing(self, transactional_db, broker):
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox_enqueue("reviews.extract_aspects", args=[[1]])
            raise RuntimeError("the write failed")
        assert OutboxMessage.objects.count() == 0
        assert broker.published == []

    def test_it_refuses_a_task_name_nobody_registered(self, transactional_db, broker):
        with pytest.raises(ValueError, match="reviews.no_such_task"):
            outbox_enqueue("reviews.no_such_task")

    def test_with_the_broker_down_rows_stay_pending_and_the_relay_sends_them_in_order_when_it_is_back(
        self, transactional_db, broker
    ):
        broker.down = True
        first = outbox_enqueue("reviews.extract_aspects", args=[[1]])
        second = outbox_enqueue("reviews.extract_aspects", args=[[2]])
        # The first publish failed; the breaker then spared the second one the attempt.
        assert broker.calls == 1
        assert [m.pk for m in pending()] == [first.pk, second.pk]
        first.refresh_from_db()
        assert first.attempts == 1 and "Connection refused" in first.last_error

        assert outbox_relay(min_age_seconds=0).sent == 0  # still down (the breaker lets the relay probe)
        broker.down = False
        result = outbox_relay(min_age_seconds=0)
        assert (result.sent, result.failed) == (2, 0)
        # Both rows of this mergeable task went as one task for both reviews.
        assert broker.published == [("reviews.extract_aspects", [[1, 2]])]
        assert pending() == []
        # One publish for both rows, the third attempt for the first (its own publish and the relay's probe failed).
        assert sent_records() == [("reviews.extract_aspects", [[1, 2]], [first.pk, second.pk], 3)]
        assert not services.broker.is_open

    def test_a_row_left_to_the_relay_is_not_published_at_commit(self, transactional_db, broker):
        with transaction.atomic():
            outbox_enqueue("reviews.extract_aspects", args=[[7]], publish_after_commit=False)

        assert broker.published == []
        assert len(pending()) == 1
        assert outbox_relay(min_age_seconds=0).sent == 1
        assert broker.published == [("reviews.extract_aspects", [[7]])]

    def test_the_relay_merges_runs_of_mergeable_rows_in_order_and_keeps_other_tasks_apart(
        self, transactional_db, broker, monkeypatch
    ):
        monkeypatch.setattr(batches, "COALESCE_MAX_IDS", 3)
        for ids in ([1], [2, 3]):
            outbox_enqueue("reviews.extract_aspects", args=[ids], publish_after_commit=False)
        outbox_enqueue("training.run_training_job", args=[42], publish_after_commit=False)
        for ids in ([4], [5], [6, 7]):
            outbox_enqueue("reviews.extract_aspects", args=[ids], publish_after_commit=False)

        result = outbox_relay(min_age_seconds=0)

        assert result.sent == 6
        assert broker.published == [
            ("reviews.extract_aspects", [[1, 2, 3]]),
            ("training.run_training_job", [42]),
            ("reviews.extract_aspects", [[4, 5]]),  # a third row would pass COALESCE_MAX_IDS
            ("reviews.extract_aspects", [[6, 7]]),
        ]
        assert pending() == []

    def test_a_refused_merged_send_keeps_all_its_rows_pending(self, transactional_db, broker):
        for ids in ([1], [2]):
            outbox_enqueue("reviews.extract_aspects", args=[ids], publish_after_commit=False)
        broker.down = True

        assert outbox_relay(min_age_seconds=0).sent == 0

        rows = pending()
        assert len(rows) == 2 and all(row.attempts == 1 and row.last_error for row in rows)

    def test_a_refusal_part_way_keeps_the_rows_sent_before_it_and_returns_the_rest_to_pending(
        self, transactional_db, broker, monkeypatch
    ):
        rows = [outbox_enqueue("training.run_training_job", args=[i], publish_after_commit=False) for i in range(3)]

        def refuse_the_second(task, args, kwargs):
            if args == [1]:
                raise ConnectionError("broker gone")
            broker.send(task, args, kwargs)

        monkeypatch.setattr(services, "_send", refuse_the_second)
        result = outbox_relay(min_age_seconds=0)

        assert (result.sent, result.failed) == (1, 2)
        assert sent_records() == [("training.run_training_job", [0], [rows[0].pk], 1)]
        refused, untried = pending()
        assert (refused.pk, untried.pk) == (rows[1].pk, rows[2].pk)
        assert refused.attempts == 1 and "broker gone" in refused.last_error
        assert untried.attempts == 0 and untried.last_error == ""
        # Back as they were: their creation time (the relay's order and min age) and arguments.
        assert [(row.created_at, row.args) for row in (refused, untried)] == [
            (row.created_at, row.args) for row in rows[1:]
        ]
        monkeypatch.setattr(services, "_send", broker.send)
        assert outbox_relay(min_age_seconds=0).sent == 2 and pending() == []

    def test_a_relay_that_dies_part_way_leaves_every_row_of_its_batch_pending(
        self, transactional_db, broker, monkeypatch
    ):
        for i in range(3):
            outbox_enqueue("training.run_training_job", args=[i], publish_after_commit=False)

        def die_on_the_second(task, args, kwargs):
            if args == [1]:
                raise SystemExit("worker killed")
            broker.send(task, args, kwargs)

        monkeypatch.setattr(services, "_send", die_on_the_second)
        with pytest.raises(SystemExit):
            outbox_relay(min_age_seconds=0)

        # Row 0 was published, but its deletion went with the pass: it is sent again (at least once).
        assert sorted(row.args[0] for row in pending()) == [0, 1, 2]
        assert sent_records() == []
        monkeypatch.setattr(services, "_send", broker.send)
        assert outbox_relay(min_age_seconds=0).sent == 3

    def test_the_relay_leaves_fresh_rows_to_their_own_publish(self, transactional_db, broker):
        broker.down = True
        outbox_enqueue("reviews.extract_aspects", args=[[1]])
        broker.down = False
        services.broker.reset()
        assert outbox_relay(min_age_seconds=60).sent == 0
        assert outbox_relay(min_age_seconds=0).sent == 1

    def test_a_row_claimed_by_one_relay_is_not_sent_by_another(self, transactional_db, broker, monkeypatch):
        broker.down = True
        outbox_enqueue("reviews.extract_aspects", args=[[1]])
        broker.down = False
        services.broker.reset()
        nested: list[int] = []

        def send_while_another_relay_runs(task, args, kwargs):
            nested.append(outbox_relay(min_age_seconds=0).sent)
            broker.send(task, args, kwargs)

        monkeypatch.setattr(services, "_send", send_while_another_relay_runs)
        assert outbox_relay(min_age_seconds=0).sent == 1
        assert nested == [0]
        assert len(broker.published) == 1

    def test_the_relay_task_prunes_tasks_sent_long_ago_and_never_a_pending_one(self, transactional_db, broker):
        outbox_enqueue("reviews.extract_aspects", args=[[1]])
        outbox_enqueue("reviews.extract_aspects", args=[[2]])
        old, recent = SentTask.objects.order_by("id")
        sent_long_ago(25, old)
        broker.down = True
        unsent = outbox_enqueue("reviews.extract_aspects", args=[[3]])
        OutboxMessage.objects.filter(pk=unsent.pk).update(created_at=timezone.now() - dt.timedelta(days=3))

        assert outbox_prune(keep_hours=24) == 1
        assert list(SentTask.objects.values_list("pk", flat=True)) == [recent.pk]
        assert pending() == [unsent]

    def test_pruning_deletes_in_batches_only_tasks_sent_before_the_cutoff(self, transactional_db, broker):
        for i in range(6):
            outbox_enqueue("reviews.extract_aspects", args=[[i]])
        *old, recent = SentTask.objects.order_by("id")
        sent_long_ago(30, *old)

        assert outbox_prune(keep_hours=24, batch_size=2) == 5  # batches of 2, 2, 1
        assert list(SentTask.objects.values_list("pk", flat=True)) == [recent.pk]
        assert outbox_prune(keep_hours=24, batch_size=2) == 0

    def test_a_relay_pass_claims_and_marks_its_rows_in_a_fixed_number_of_statements(
        self, transactional_db, broker, django_assert_num_queries, on_postgres
    ):
        for i in range(20):
            outbox_enqueue("training.run_training_job", args=[i], publish_after_commit=False)
        # PostgreSQL: one transaction (BEGIN and COMMIT count as statements here) whose settings and one
        # DELETE ... RETURNING, sent together, take the rows, then one INSERT records the 20 publishes.
        # Elsewhere the claim is a compare-and-set (the ids, the UPDATE, the rows it got), then a transaction
        # deletes them and records the publishes.
        with django_assert_num_queries(4 if on_postgres else 7):
            assert outbox_relay(min_age_seconds=0, batch_size=50).sent == 20
        assert len(broker.published) == 20 and pending() == [] and len(sent_records()) == 20
        with django_assert_num_queries(3 if on_postgres else 1):
            assert outbox_relay(min_age_seconds=0).sent == 0

    def test_a_sent_task_lists_its_outbox_rows_as_id_ranges(self):
        assert id_ranges([7, 3, 4, 5, 9, 10]) == "3-5, 7, 9-10"
        assert id_ranges([42]) == "42"

    def test_writes_and_another_relay_never_wait_on_a_relay_pass_in_progress(
        self, transactional_db, broker, monkeypatch
    ):
        """While one relay pass holds its claim (publishing), another thread's burst of writes commits at once,
        and another relay sends those new rows, not the ones already claimed."""
        for i in range(3):
            outbox_enqueue("training.run_training_job", args=[i], publish_after_commit=False)
        outcome: dict = {}

        def burst_then_relay():
            try:
                started = time.perf_counter()
                with transaction.atomic():
                    for i in range(100, 150):
                        outbox_enqueue("training.run_training_job", args=[i], publish_after_commit=False)
                outcome["burst_seconds"] = time.perf_counter() - started
                outcome["relayed"] = outbox_relay(min_age_seconds=0).sent
            except BaseException as exc:  # reported by the main thread
                outcome["error"] = exc
            finally:
                connection.close()

        relay_thread = threading.current_thread()
        waited: list[bool] = []
        published_during_the_pass: list = []

        def slow_send(task, args, kwargs):
            if threading.current_thread() is relay_thread and not waited:
                # The first row: this pass holds its claim on all three while the other thread works.
                other = threading.Thread(target=burst_then_relay)
                other.start()
                other.join(10)
                waited.append(other.is_alive())
                published_during_the_pass.extend(broker.published)
            broker.send(task, args, kwargs)

        monkeypatch.setattr(services, "_send", slow_send)
        assert outbox_relay(min_age_seconds=0).sent == 3

        assert waited == [False], "the burst or the second relay waited on the relay pass"
        assert "error" not in outcome, outcome.get("error")
        assert outcome["burst_seconds"] < 5 and outcome["relayed"] == 50
        assert sorted(args[0] for _, args in published_during_the_pass) == list(range(100, 150))
        assert sorted(args[0] for _, args in broker.published) == [0, 1, 2, *range(100, 150)]
        assert pending() == []

    def test_in_eager_mode_the_task_runs_at_commit(self, transactional_db):
        review = Review.objects.create(text="The waiter was rude.")
        with transaction.atomic():
            message = outbox_enqueue("reviews.extract_aspects", args=[[review.pk]])
            assert not review.aspects.exists()
        assert review.aspects.exists()
        assert pending() == []
        assert sent_records() == [("reviews.extract_aspects", [[review.pk]], [message.pk], 1)]


class TestReviewCreationWithTheBrokerDown:
    def test_the_review_is_stored_and_its_extraction_waits_in_the_outbox(self, api, manager_headers, broker):
        broker.down = True
        response = api.post("/api/reviews/", json={"text": "Cold soup, rude waiter."}, headers=manager_headers)
        assert response.status_code == 201, response.text
        review_id = response.json()["id"]
        assert [(m.task, m.args) for m in pending()] == [("reviews.extract_fresh_aspects", [[review_id]])]

        bulk = api.post(
            "/api/reviews/bulk", json={"reviews": [{"text": "Fine."}, {"text": "Great."}]}, headers=manager_headers
        )
        assert bulk.status_code == 200, bulk.text
        ids = [item["id"] for item in bulk.json()["results"]]
        assert pending()[-1].args == [ids]


class FailingCache:
    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            self.calls += 1
            raise RedisDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        return fail


class TestTheCacheBypass:
    def test_an_unreachable_cache_is_a_miss_and_is_skipped_for_a_while(self, monkeypatch):
        failing = FailingCache()
        monkeypatch.setattr(safe_cache, "cache", failing)
        assert safe_cache.cache_get("k", "default") == "default"
        assert safe_cache.cache_get_many(["a", "b"]) == {}
        safe_cache.cache_set("k", 1, 10)
        safe_cache.cache_set_many({"k": 1}, 10)
        assert failing.calls == 1  # the breaker spared the other calls their timeout

        monkeypatch.setattr(safe_cache.breaker, "_retry_at", 0.0)  # the open period is over
        monkeypatch.setattr(safe_cache, "cache", _DictCache({"k": "cached"}))
        assert safe_cache.cache_get("k") == "cached"
        assert not safe_cache.breaker.is_open

    def test_an_invalidation_missed_during_the_outage_is_applied_first_when_the_cache_is_back(self, monkeypatch):
        monkeypatch.setattr(safe_cache, "cache", FailingCache())
        safe_cache.cache_delete("apitoken:revoked")
        monkeypatch.setattr(safe_cache.breaker, "_retry_at", 0.0)
        back = _DictCache({"apitoken:revoked": "stale principal"})
        monkeypatch.setattr(safe_cache, "cache", back)
        assert safe_cache.cache_get("apitoken:revoked") is None
        assert "apitoken:revoked" not in back.data

    def test_the_token_check_and_predictions_work_with_the_cache_down(self, api, labeller_headers, monkeypatch):
        monkeypatch.setattr(safe_cache, "cache", FailingCache())
        response = api.post("/api/reviews/predict", json={"texts": ["Lovely staff", "Awful"]}, headers=labeller_headers)
        assert response.status_code == 200, response.text
        assert [p["label"] for p in response.json()["predictions"]] == ["positive", "negative"]


class _DictCache:
    def __init__(self, data: dict) -> None:
        self.data = dict(data)

    def get(self, key, default=None):
        return self.data.get(key, default)

    def delete_many(self, keys) -> None:
        for key in keys:
            self.data.pop(key, None)
