"""Monitoring: live accuracy, drift with sample-size-aware alarms, retraining triggers, alerts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller

from reviews.models import Review
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_create
from tests.factories import ModelVersionFactory
from tests.live import free_port
from training import jobs, registry, runner, versions
from training.models import Alert, AlertChannel, MonitoringSnapshot, TrainingJob
from training.monitoring import monitoring_run, population_stability_index, wilson_interval

pytestmark = pytest.mark.django_db(transaction=True)


def ingest(texts: list[str], **fields) -> list[Review]:
    return [result.review for result in review_bulk_create(items=[ReviewIn(text=t, **fields) for t in texts])]


@pytest.fixture
def champion_expects_mostly_positive():
    champion = registry.model_version_ensure_baseline()
    champion.reference_stats = {
        "class_distribution": {"positive": 0.8, "neutral": 0.1, "negative": 0.1},
        "confidence_histogram": {"edges": [i / 10 for i in range(11)], "counts": [0, 0, 0, 0, 5, 10, 20, 30, 20, 15]},
    }
    champion.save()
    return champion


class TestStatistics:
    def test_wilson_interval_narrows_with_more_samples(self):
        small = wilson_interval(8, 10)
        large = wilson_interval(800, 1000)

        assert small[0] < 0.8 < small[1] and large[0] < 0.8 < large[1]
        assert large[1] - large[0] < small[1] - small[0]

    def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift(self):
        assert population_stability_index([0.5, 0.3, 0.2], [50, 30, 20]) == pytest.approx(0, abs=1e-6)
        assert population_stability_index([0.8, 0.1, 0.1], [10, 10, 80]) > 1


class TestLiveAccuracy:
    def test_ingest_predictions_are_compared_with_later_labels(self):
        reviews = ingest(["Wonderful, loved everything"] * 6 + ["Disgusting and rude"] * 4)
        for review in reviews[:6]:
            Review.objects.filter(pk=review.pk).update(human_label="positive", human_labelled_at=review.created_at)
        for review in reviews[6:]:
            Review.objects.filter(pk=review.pk).update(human_label="positive", human_labelled_at=review.created_at)

        snapshot = monitoring_run()

        overall = snapshot.live_accuracy["all"]
        assert (overall["n"], overall["accuracy"]) == (10, 0.6)
        assert overall["ci_low"] < 0.6 < overall["ci_high"]
        assert "blind" in snapshot.live_accuracy

    def test_only_the_champions_own_predictions_count_and_a_retired_models_errors_do_not_trigger_retraining(
        self, settings
    ):
        settings.MONITOR_MIN_LABELS = 5
        retired = registry.model_version_ensure_baseline()
        wrong = ingest([f"Disgusting and rude, visit {i}" for i in range(8)])  # predicted by the baseline
        for review in wrong:
            Review.objects.filter(pk=review.pk).update(human_label="positive", human_labelled_at=review.created_at)
        champion = ModelVersionFactory()
        versions.model_version_promote(version=champion)

        snapshot = monitoring_run()

        assert snapshot.live_accuracy["model_version"] == champion.name
        assert snapshot.live_accuracy["all"]["n"] == 0
        assert snapshot.live_accuracy["by_model"][retired.name]["n"] == 8
        assert snapshot.live_accuracy["by_model"][retired.name]["accuracy"] < 0.5
        assert snapshot.trigger["decision"] == "none"


class TestDrift:
    def test_a_big_shift_on_enough_predictions_raises_an_alarm_and_triggers_retraining(
        self, champion_expects_mostly_positive, settings
    ):
        settings.MONITOR_MIN_PREDICTIONS = 100
        ingest([f"Horrible, disgusting, awful experience number {i}" for i in range(120)])

        snapshot = monitoring_run()

        assert snapshot.drift["prediction_psi"] > settings.MONITOR_PSI_THRESHOLD
        assert any("prediction distribution shifted" in alarm for alarm in snapshot.alarms)
        assert snapshot.trigger["decision"] == "retrain"
        assert TrainingJob.objects.get(pk=snapshot.trigger["job_id"]).trigger == TrainingJob.Trigger.MONITOR

    def test_a_quiet_day_raises_nothing(self, champion_expects_mostly_positive, settings):
        settings.MONITOR_MIN_PREDICTIONS = 100
        ingest([f"Horrible, awful {i}" for i in range(15)])

        snapshot = monitoring_run()

        assert snapshot.drift["prediction_psi"] > settings.MONITOR_PSI_THRESHOLD  # big effect, tiny sample
        assert snapshot.alarms == []
        assert snapshot.trigger["decision"] == "none"

    def test_the_cooldown_stops_triggers_from_thrashing(self, champion_expects_mostly_positive, settings):
        settings.MONITOR_MIN_PREDICTIONS = 100
        ingest([f"Horrible, disgusting {i}" for i in range(120)])
        first = monitoring_run()
        TrainingJob.objects.filter(pk=first.trigger["job_id"]).update(status=TrainingJob.Status.FAILED)

        second = monitoring_run()

        assert second.trigger["decision"] == "cooldown"
        assert TrainingJob.objects.count() == 1
        assert MonitoringSnapshot.objects.count() == 2


class TestNegativeSpikes:
    def test_a_business_with_a_sudden_run_of_negative_reviews_is_reported(self, settings):
        settings.NEGATIVE_SPIKE_MIN_REVIEWS = 10
        ingest([f"Horrible and rude {i}" for i in range(12)], business="Blue Fin")
        ingest([f"Lovely {i}" for i in range(12)], business="Spice Garden")

        spikes = monitoring_run().drift["negative_spikes"]

        assert [spike["business"] for spike in spikes] == ["Blue Fin"]


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    failures_left = 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Receiver.failures_left > 0:
            Receiver.failures_left -= 1
            self.send_response(503)
        else:
            Receiver.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received, Receiver.failures_left = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def smtp(settings):
    class Handler:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            Handler.messages.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    yield Handler.messages
    controller.stop()


class TestAlerts:
    def test_a_failed_job_is_posted_to_the_webhook(self, webhook):
        AlertChannel.objects.create(name="ops", kind="webhook", target=webhook, events=["job_failed"])

        job = jobs.training_job_create(parameters={"min_samples": 10})
        runner.training_job_run(job_id=job.pk)

        assert Receiver.received[0]["event"] == "job_failed"
        assert Receiver.received[0]["payload"]["job_id"] == job.pk
        assert Alert.objects.get().status == "sent"

    def test_a_failing_webhook_is_retried_with_backoff(self, webhook, settings):
        settings.ALERT_RETRY_BACKOFF_SECONDS = 0.01
        Receiver.failures_left = 2
        AlertChannel.objects.create(name="ops", kind="webhook", target=webhook)

        runner.training_job_run(job_id=jobs.training_job_create(parameters={"min_samples": 10}).pk)

        alert = Alert.objects.get()
        assert (alert.status, alert.attempts) == ("sent", 3)
        assert len(Receiver.received) == 1

    def test_channels_get_only_their_events(self, webhook):
        AlertChannel.objects.create(name="ops", kind="webhook", target=webhook, events=["model_promoted"])

        runner.training_job_run(job_id=jobs.training_job_create(parameters={"min_samples": 10}).pk)

        assert Receiver.received == [] and not Alert.objects.exists()

    def test_alerts_go_by_email(self, smtp):
        AlertChannel.objects.create(name="manager", kind="email", target="manager@example.com")

        runner.training_job_run(job_id=jobs.training_job_create(parameters={"min_samples": 10}).pk)

        assert smtp[0].rcpt_tos == ["manager@example.com"]
        assert b"Training job" in smtp[0].content


class TestMonitoringApi:
    def test_it_returns_the_time_series_newest_first(self, api, labeller_headers):
        monitoring_run()
        monitoring_run()

        body = api.get("/api/analytics/monitoring", headers=labeller_headers).json()

        assert len(body["results"]) == 2
        assert body["results"][0]["created_at"] >= body["results"][1]["created_at"]
        assert body["thresholds"]["accuracy"] == 0.8
