"""The Monitoring page and the weekly evaluation reports on the Models page."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from reviews.roles import LABELLER, MANAGER
from tests.factories import ModelVersionFactory, TrainingJobFactory, UserFactory
from training.models import Alert, AlertChannel, EvaluationReport, MonitoringSnapshot, ScheduledRun

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def logged_in(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def snapshot(accuracy: float = 0.86, n: int = 120, decision: str = "none", **fields) -> MonitoringSnapshot:
    defaults = {
        "model_version": ModelVersionFactory(),
        "window_days": 7,
        "live_accuracy": {
            "all": {"n": n, "accuracy": accuracy, "ci_low": accuracy - 0.05, "ci_high": accuracy + 0.04},
            "blind": {"n": n // 4, "accuracy": accuracy - 0.02, "ci_low": 0.7, "ci_high": 0.95},
        },
        "rating_agreement": {"n": 400, "agreement": 0.91},
        "drift": {
            "predictions": 640,
            "prediction_psi": 0.04,
            "prediction_p_value": 0.2,
            "confidence_psi": 0.07,
            "mean_confidence": 0.81,
            "oov_rate": 0.061,
            "oov_reference": 0.05,
            "oov_z": 1.2,
            "negative_spikes": [],
        },
        "alarms": [],
        "trigger": {"decision": decision, "reason": "accuracy and drift within thresholds"},
    }
    defaults.update(fields)
    return MonitoringSnapshot.objects.create(**defaults)


@pytest.fixture
def staff():
    return logged_in(UserFactory(is_staff=True))


@pytest.fixture
def manager():
    return logged_in(UserFactory(role=MANAGER))


@pytest.fixture
def labeller():
    return logged_in(UserFactory(role=LABELLER))


def test_the_monitoring_page_needs_a_login():
    response = Client().get("/monitoring/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_monitoring_page_needs_the_permission_the_monitoring_api_needs(labeller):
    assert logged_in(UserFactory()).get("/monitoring/").status_code == 403  # a login without a role
    assert labeller.get("/monitoring/").status_code == 200


def test_running_monitoring_needs_a_login():
    response = Client().post("/monitoring/run/", {"confirm": "yes"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not MonitoringSnapshot.objects.exists()


def test_the_navigation_bar_links_the_monitoring_page(labeller):
    content = labeller.get("/explore/").content.decode()

    assert '<a href="/monitoring/" >Monitoring</a>' in content
    assert '<a href="/monitoring/" aria-current="page">Monitoring</a>' in labeller.get("/monitoring/").content.decode()


def test_with_no_snapshots_the_page_says_so_and_loads_no_charts(labeller):
    response = labeller.get("/monitoring/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "No monitoring runs yet" in content
    assert "No scheduled task has run yet" in content
    assert "No alerts sent" in content
    assert "monitoring.js" not in content  # nothing to draw
    assert response.context["series"]["times"] == []


def test_labellers_see_the_page_but_no_run_button(labeller):
    snapshot()

    content = labeller.get("/monitoring/").content.decode()

    assert "Run monitoring now" not in content
    assert "Managers can run monitoring by hand" in content


@pytest.mark.parametrize("who", ["manager", "staff"])
def test_managers_and_staff_see_the_run_button(request, who):
    content = request.getfixturevalue(who).get("/monitoring/").content.decode()

    assert 'action="/monitoring/run/"' in content
    assert "Run monitoring now" in content
    assert 'name="csrfmiddlewaretoken"' in content


def test_a_labeller_may_not_run_monitoring(labeller):
    response = labeller.post("/monitoring/run/", {"confirm": "yes"})

    assert response.status_code == 403
    assert not MonitoringSnapshot.objects.exists()


def test_running_monitoring_needs_post(manager):
    assert manager.get("/monitoring/run/").status_code == 405
    assert not MonitoringSnapshot.objects.exists()


def test_running_monitoring_needs_the_confirmation(manager):
    response = manager.post("/monitoring/run/", follow=True)

    assert response.redirect_chain == [("/monitoring/", 302)]
    assert "Tick the confirmation box" in response.content.decode()
    assert not MonitoringSnapshot.objects.exists()


def test_running_monitoring_enforces_csrf():
    client = logged_in(UserFactory(role=MANAGER), csrf=True)

    assert client.post("/monitoring/run/", {"confirm": "yes"}).status_code == 403
    assert not MonitoringSnapshot.objects.exists()

    client.get("/monitoring/")
    token = client.cookies["csrftoken"].value
    response = client.post("/monitoring/run/", {"confirm": "yes", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert MonitoringSnapshot.objects.count() == 1


def test_a_manager_runs_monitoring_and_comes_back_to_the_page(manager):
    response = manager.post("/monitoring/run/", {"confirm": "yes"}, follow=True)

    assert response.redirect_chain == [("/monitoring/", 302)]
    snap = MonitoringSnapshot.objects.get()
    content = response.content.decode()
    assert "Monitoring ran: retraining decision" in content
    assert snap.trigger["decision"] in content
    assert response.context["latest"] == snap


def test_a_failing_run_is_reported_not_a_server_error(manager, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("training.monitoring.monitoring_run", broken)

    response = manager.post("/monitoring/run/", {"confirm": "yes"}, follow=True)

    assert response.status_code == 200
    assert "Monitoring failed: database went away" in response.content.decode()


@override_settings(MONITOR_ACCURACY_THRESHOLD=0.8, MONITOR_PSI_THRESHOLD=0.2)
def test_the_charts_get_the_time_series_oldest_first_with_thresholds(labeller):
    job = TrainingJobFactory()
    first = snapshot(accuracy=0.88)
    second = snapshot(
        accuracy=0.71,
        n=0,
        decision="retrain",
        alarms=["prediction distribution shifted (PSI 0.31 > 0.2, n=640)"],
        trigger={"decision": "retrain", "reason": "live accuracy 0.71 < 0.8 on 120 labels", "job_id": job.pk},
    )
    second.drift = {**second.drift, "prediction_psi": 0.31}
    second.save()

    response = labeller.get("/monitoring/")

    series = response.context["series"]
    assert series["times"] == [first.created_at.isoformat(), second.created_at.isoformat()]
    assert series["accuracy"] == [0.88, 0.71]
    assert series["ci_low"][0] == pytest.approx(0.83) and series["ci_low"][1] is None  # no band without labels
    assert series["prediction_psi"] == [0.04, 0.31]
    assert series["agreement"] == [0.91, 0.91]
    assert series["oov_rate"] == [0.061, 0.061]
    assert series["thresholds"] == {"accuracy": 0.8, "psi": 0.2}
    content = response.content.decode()
    assert 'id="monitoring-data"' in content and "monitoring.js" in content
    assert "prediction distribution shifted (PSI 0.31 &gt; 0.2, n=640)" in content
    assert f'href="/jobs/#job-{job.pk}">job #{job.pk}</a>' in content
    assert "live accuracy 0.71 &lt; 0.8 on 120 labels" in content
    assert [s.pk for s in response.context["snapshots"]] == [second.pk, first.pk]  # latest first


def test_negative_spikes_of_the_latest_snapshot_are_listed(labeller):
    snapshot(drift={"negative_spikes": [{"business": "Old Spike", "reviews": 9, "negative": 8}]})
    latest = snapshot()
    latest.drift = {
        **latest.drift,
        "negative_spikes": [
            {
                "business": "Blue Fin",
                "reviews": 14,
                "negative": 11,
                "negative_share": 0.786,
                "baseline_share": 0.12,
                "p_value": 0.000001,
            }
        ],
    }
    latest.save()

    content = labeller.get("/monitoring/").content.decode()

    assert "Blue Fin" in content and "0.786" in content
    assert "Old Spike" not in content


def test_schedule_history_shows_skips_with_their_reasons(labeller):
    ScheduledRun.objects.create(
        task="retrain-daily", slot="2026-11-27", outcome="skipped", reason="Too little new data: 3 new labels (need 50)"
    )
    ScheduledRun.objects.create(task="monitor-hourly", slot="2026-11-27T14", outcome="done", reason="decision none")

    content = labeller.get("/monitoring/").content.decode()

    assert "retrain-daily" in content and "2026-11-27" in content
    assert "Too little new data: 3 new labels (need 50)" in content
    assert '<span class="tag skipped">Skipped</span>' in content
    assert "monitor-hourly" in content


def test_alerts_are_listed_with_channel_status_and_attempts(labeller):
    channel = AlertChannel.objects.create(name="Ops hook", kind="webhook", target="http://127.0.0.1:9/hook")
    Alert.objects.create(channel=channel, event="drift", subject="Drift detected", status="failed", attempts=4)

    content = labeller.get("/monitoring/").content.decode()

    assert "Ops hook" in content and "(Webhook)" in content
    assert '<span class="tag failed">failed</span>' in content
    assert "<td>4</td>" in content


def test_review_texts_and_alert_subjects_are_escaped(labeller):
    version = ModelVersionFactory()
    snapshot(
        model_version=version,
        alarms=[XSS],
        trigger={"decision": "retrain", "reason": XSS},
        drift={"negative_spikes": [{"business": XSS, "reviews": 10, "negative": 9}]},
    )
    channel = AlertChannel.objects.create(name=XSS, kind="email", target="ops@example.com")
    Alert.objects.create(channel=channel, event="negative_spike", subject=XSS, error=XSS, status="failed", attempts=1)
    ScheduledRun.objects.create(task="evaluate-weekly", slot="2026-W48", outcome="failed", reason=XSS)
    EvaluationReport.objects.create(
        model_version=version,
        evaluation_set={"kind": "human", "size": 40},
        metrics={"macro_f1": 0.8},
        sample_errors=[{"review_id": 7, "text": XSS, "label": "negative", "predicted": "positive", "confidence": 0.9}],
    )

    for path in ("/monitoring/", "/models/"):
        content = labeller.get(path).content.decode()
        assert "<script>alert" not in content, path
        assert "<img src=x" not in content, path
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content, path


@override_settings(MLFLOW_UI_URL="http://mlflow.example:5000/")
def test_the_models_page_lists_weekly_evaluations_latest_first(labeller):
    version = ModelVersionFactory(name="sentiment-0042")
    older = EvaluationReport.objects.create(
        model_version=version,
        evaluation_set={"kind": "human-labels", "size": 120, "fingerprint": "abc"},
        metrics={"macro_f1": 0.7711, "ece": 0.0412, "brier": 0.3012, "n": 120},
        fresh_labels={"macro_f1": 0.6523, "n": 37},
        sample_errors=[],
    )
    newer = EvaluationReport.objects.create(
        model_version=version,
        evaluation_set={"kind": "human-labels", "size": 130},
        metrics={"macro_f1": 0.7912, "ece": 0.0321, "brier": 0.2811, "n": 130},
        fresh_labels={},
        sample_errors=[
            {
                "review_id": 11,
                "text": "Cold soup, rude waiter",
                "label": "negative",
                "predicted": "positive",
                "confidence": 0.93,
            }
        ],
        mlflow_run_id="0123abcd",
    )

    response = labeller.get("/models/")

    assert [row["report"].pk for row in response.context["reports"]] == [newer.pk, older.pk]
    content = response.content.decode()
    table = content.split('id="evaluation-reports"')[1].split("</table>")[0]
    assert table.index("0.7912") < table.index("0.7711")
    for text in ("sentiment-0042", "human-labels · 130 reviews", "0.0321", "0.2811", "0.6523", "n=37"):
        assert text in table
    assert "<details" in table and "1 error</summary>" in table and "Cold soup, rude waiter" in table
    assert 'href="/explore/11/"' in table
    assert 'href="http://mlflow.example:5000/#/runs/0123abcd"' in table
    assert table.count("/#/runs/") == 1  # no link without a run


@override_settings(MLFLOW_UI_URL="")
def test_no_mlflow_link_without_the_ui_url(labeller):
    EvaluationReport.objects.create(model_version=ModelVersionFactory(), mlflow_run_id="0123abcd")

    table = labeller.get("/models/").content.decode().split('id="evaluation-reports"')[1].split("</table>")[0]

    assert "#/runs/" not in table


def test_the_models_page_says_when_there_is_no_weekly_evaluation(labeller):
    assert "No weekly evaluation yet" in labeller.get("/models/").content.decode()
