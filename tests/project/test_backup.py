"""manage.py backup / restore: a round trip to a folder and to S3, and every refusal."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from moto.server import ThreadedMotoServer

from project.backup.common import MODELS, model_class
from reviews import votes
from reviews.models import LabelEvent, LabelVote, Prediction, Review, ReviewAspect
from reviews.roles import LABELLER, MANAGER
from reviews.services import review_bulk_create, review_label, review_unlabel
from tests.factories import ReviewFactory, TokenFactory, UserFactory
from tests.training.test_lifecycle import rated_corpus, train_now
from training import registry, storage
from training.models import Alert, AlertChannel, AspectAnnotation, EvaluationReport, ModelVersion, MonitoringSnapshot
from training.registry import forget_deployed_model, get_deployed_model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def populated(settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    labeller = UserFactory(role=LABELLER)
    manager = UserFactory(role=MANAGER)
    TokenFactory(user=labeller)
    TokenFactory(user=manager)
    review_bulk_create(items=rated_corpus(240))
    reviews = list(Review.objects.order_by("pk")[:12])
    for review in reviews[:6]:
        review_label(review=review, label="negative", user_id=labeller.pk)
    review_label(review=reviews[0], label="neutral", user_id=manager.pk)
    review_unlabel(review=reviews[1], user_id=manager.pk)
    for review in reviews[6:9]:
        votes.review_vote(review_id=review.pk, label="positive", user_id=labeller.pk)
    ReviewAspect.objects.create(review=reviews[2], category="service", polarity="negative", source="staff")
    AspectAnnotation.objects.create(
        text="The waiter was rude", aspects=[{"category": "service", "polarity": "negative"}],
        scheme="semeval2014", source="staff", external_id="s-1", review=reviews[2],
    )  # fmt: skip
    job = train_now()
    assert job.metrics["promoted"] is True, job.metrics
    champion = registry.current_champion()
    EvaluationReport.objects.create(model_version=champion, metrics={"macro_f1": 0.9}, sample_errors=[{"id": 1}])
    MonitoringSnapshot.objects.create(model_version=champion, window_days=7, alarms=["drift"])
    channel = AlertChannel.objects.create(name="ops", kind="webhook", target="http://127.0.0.1:9/hook")
    Alert.objects.create(channel=channel, event="drift", subject="Drift", payload={"psi": 0.3})
    return champion


def snapshot() -> dict[str, list[dict]]:
    """Every backed-up row, field by field (groups by name: their ids come from migrate)."""
    rows = {}
    for label in MODELS:
        model = model_class(label)
        if label == "auth.group":
            rows[label] = sorted(
                (g.name, sorted(g.permissions.values_list("codename", flat=True))) for g in Group.objects.all()
            )
            continue
        rows[label] = list(model._base_manager.order_by("pk").values())
        if label == "auth.user":
            for user, row in zip(model._base_manager.order_by("pk"), rows[label]):
                row["groups"] = sorted(user.groups.values_list("name", flat=True))
    return rows


def backup(*args: str) -> str:
    out = io.StringIO()
    call_command("backup", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def restore(*args: str) -> str:
    out = io.StringIO()
    call_command("restore", *args, stdout=out)
    return out.getvalue()


def flush() -> None:
    """Back to a freshly migrated database (flush re-runs post_migrate: role groups and the baseline)."""
    call_command("flush", interactive=False, verbosity=0)
    forget_deployed_model()


def assert_the_champion_predicts(champion: ModelVersion) -> None:
    forget_deployed_model()
    deployed = get_deployed_model()
    assert deployed.name == champion.name
    probabilities = deployed.model.predict_proba(["delicious food and friendly staff", "rude waiter, cold food"])
    assert probabilities.shape == (2, 3)
    assert probabilities[0].argmax() == 0 and probabilities[1].argmax() == 2


class TestRoundTrip:
    def test_it_restores_the_same_rows_ids_and_model_files_into_an_empty_database(self, populated, settings, tmp_path):
        champion = populated
        before = snapshot()
        assert len(before["reviews.review"]) == 240 and before["reviews.labelevent"] and before["reviews.labelvote"]
        assert before["reviews.reviewaspect"] and before["training.gatedecision"] and before["reviews.prediction"]
        files = {key: (settings.MODEL_ARTIFACT_DIR / key).read_bytes() for key in storage.keys()}
        assert f"{champion.name}.joblib" in files

        location = Path(backup("--to", str(tmp_path / "backups")))

        manifest = json.loads((location / "manifest.json").read_text())
        assert location.name == manifest["name"] and location.name.startswith("revsent-backup-")
        counts = {entry["model"]: entry["count"] for entry in manifest["models"]}
        assert counts["reviews.review"] == 240
        assert counts["reviews.labelevent"] == LabelEvent.objects.count()
        assert "0001_initial" in manifest["django_migrations"]["reviews"]
        assert all(len(entry["sha256"]) == 64 for entry in manifest["models"] + manifest["artifacts"])
        with gzip.open(location / "data" / "reviews.review.jsonl.gz", "rt") as rows:
            first = json.loads(rows.readline())
        assert first["model"] == "reviews.review" and first["pk"] == before["reviews.review"][0]["id"]

        flush()
        shutil.rmtree(settings.MODEL_ARTIFACT_DIR)
        assert not Review.objects.exists()

        output = restore(str(location))

        assert "Restored revsent-backup-" in output
        after = snapshot()
        for label in MODELS:
            assert after[label] == before[label], label
        assert {key: (settings.MODEL_ARTIFACT_DIR / key).read_bytes() for key in storage.keys()} == files
        assert_the_champion_predicts(champion)

    def test_new_rows_after_a_restore_get_fresh_ids(self, populated, tmp_path):
        location = backup("--to", str(tmp_path))
        highest = Review.objects.order_by("-pk").first().pk
        highest_event = LabelEvent.objects.order_by("-pk").first().pk
        flush()

        restore(location)
        review = ReviewFactory()
        event = LabelEvent.objects.create(review=review, label="positive")

        assert review.pk > highest
        assert event.pk > highest_event

    def test_the_dashboard_rollups_are_rebuilt_from_the_restored_reviews(self, populated, tmp_path):
        from analytics.models import DailyReviewRollup

        location = backup("--to", str(tmp_path))
        flush()
        assert not DailyReviewRollup.objects.exists()

        restore(location)

        assert DailyReviewRollup.objects.exists()


class TestRefusals:
    @pytest.fixture
    def small(self, settings, tmp_path):
        settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
        user = UserFactory(role=LABELLER)
        review_bulk_create(items=rated_corpus(30))
        review_label(review=Review.objects.first(), label="positive", user_id=user.pk)
        return Path(backup("--to", str(tmp_path / "backups")))

    def test_it_refuses_a_database_that_holds_data(self, small):
        with pytest.raises(CommandError, match=r"not empty \(auth.user: 1, .*reviews.review: 30.*--force"):
            restore(str(small))

    def test_force_replaces_what_the_database_holds(self, small):
        before = snapshot()
        Review.objects.filter(pk=Review.objects.first().pk).update(text="changed after the backup")
        UserFactory()

        restore(str(small), "--force")

        assert snapshot() == before

    def test_a_freshly_migrated_database_counts_as_empty(self, small):
        flush()
        assert ModelVersion.objects.filter(name="baseline-lexicon").exists()

        restore(str(small))

        assert Review.objects.count() == 30

    def test_it_refuses_a_backup_made_at_other_migrations(self, small):
        manifest = json.loads((small / "manifest.json").read_text())
        manifest["django_migrations"]["reviews"].append("0099_from_the_future")
        manifest["django_migrations"]["training"].remove("0004_alter_modelversion_kind_aspectannotation")
        (small / "manifest.json").write_text(json.dumps(manifest))
        flush()

        with pytest.raises(CommandError) as error:
            restore(str(small))

        message = str(error.value)
        assert "migrations do not match" in message
        assert "reviews.0099_from_the_future (backup only)" in message
        assert "training.0004_alter_modelversion_kind_aspectannotation (this database only)" in message
        assert not Review.objects.exists()

    def test_it_rejects_a_truncated_file_before_writing_anything(self, small):
        data = small / "data" / "reviews.labelevent.jsonl.gz"
        data.write_bytes(data.read_bytes()[:-20])
        flush()

        with pytest.raises(
            CommandError, match=r"damaged, nothing was restored: data/reviews.labelevent.jsonl.gz: \d+ bytes"
        ):
            restore(str(small))

        assert not Review.objects.exists() and not get_user_model_rows()

    def test_it_rejects_a_corrupted_file_of_the_same_size(self, small):
        data = small / "data" / "reviews.review.jsonl.gz"
        content = bytearray(data.read_bytes())
        content[len(content) // 2] ^= 0xFF
        data.write_bytes(bytes(content))
        flush()

        with pytest.raises(CommandError, match="reviews.review.jsonl.gz: checksum mismatch"):
            restore(str(small))

        assert not Review.objects.exists()

    def test_a_failure_in_the_middle_of_the_load_leaves_nothing_behind(self, small):
        # A row whose review does not exist, with a matching checksum and count: the rows before it
        # are loaded, then the foreign key check fails and everything is rolled back.
        entry_file = "data/reviews.labelevent.jsonl.gz"
        with gzip.open(small / entry_file, "at") as rows:
            fields = {"review": 10**9, "label": "positive", "previous_label": None, "user": None}
            row = {"model": "reviews.labelevent", "pk": 999, "fields": {**fields, "created_at": "2026-01-01T00:00:00Z"}}
            rows.write(json.dumps(row) + "\n")
        manifest = json.loads((small / "manifest.json").read_text())
        for entry in manifest["models"]:
            if entry["file"] == entry_file:
                entry["bytes"] = (small / entry_file).stat().st_size
                entry["sha256"] = hashlib.sha256((small / entry_file).read_bytes()).hexdigest()
                entry["count"] += 1
        (small / "manifest.json").write_text(json.dumps(manifest))
        flush()

        with pytest.raises(CommandError, match="could not be loaded, nothing was restored"):
            restore(str(small))

        assert not Review.objects.exists() and not get_user_model_rows()
        assert not Prediction.objects.exists() and not LabelVote.objects.exists()

    def test_it_says_when_a_folder_is_not_a_backup(self, tmp_path):
        with pytest.raises(CommandError, match="is not a backup: no manifest.json"):
            restore(str(tmp_path))


def get_user_model_rows() -> int:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.count()


class TestS3:
    @pytest.fixture
    def s3(self, monkeypatch, settings, tmp_path):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=endpoint)
        models, backups = f"models-{uuid.uuid4().hex[:8]}", f"backups-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=models)
        client.create_bucket(Bucket=backups)
        settings.MODEL_S3_BUCKET = models
        settings.AWS_S3_ENDPOINT_URL = endpoint
        settings.MLFLOW_EXPERIMENT = f"s3-{models}"
        settings.MLFLOW_ARTIFACT_ROOT = f"s3://{models}/mlflow"
        settings.MODEL_ARTIFACT_DIR = tmp_path / "cache"
        yield client, models, backups
        server.stop()

    def test_it_round_trips_through_s3_with_model_files_in_s3(self, s3, settings, tmp_path):
        client, models, backups = s3
        review_bulk_create(items=rated_corpus(240))
        review_label(review=Review.objects.first(), label="neutral", user_id=UserFactory(role=LABELLER).pk)
        job = train_now()
        champion = registry.current_champion()
        assert job.metrics["promoted"] is True and champion.artifact_path
        key = f"models/{champion.artifact_path}"
        model_bytes = client.get_object(Bucket=models, Key=key)["Body"].read()
        before = snapshot()

        location = backup("--to", f"s3://{backups}/nightly")

        assert location.startswith(f"s3://{backups}/nightly/revsent-backup-")
        prefix = location.removeprefix(f"s3://{backups}/")
        stored = {item["Key"] for item in client.list_objects_v2(Bucket=backups, Prefix=prefix)["Contents"]}
        assert f"{prefix}/manifest.json" in stored
        assert f"{prefix}/data/reviews.review.jsonl.gz" in stored
        assert f"{prefix}/artifacts/{champion.artifact_path}" in stored

        # Lose everything: the database, the model bucket's files and the local cache.
        flush()
        client.delete_object(Bucket=models, Key=key)
        shutil.rmtree(settings.MODEL_ARTIFACT_DIR, ignore_errors=True)

        restore(location)

        assert snapshot() == before
        assert client.get_object(Bucket=models, Key=key)["Body"].read() == model_bytes
        assert_the_champion_predicts(champion)

    def test_it_refuses_an_s3_prefix_without_a_backup(self, s3):
        _, _, backups = s3
        with pytest.raises(CommandError, match="is not a backup"):
            restore(f"s3://{backups}/nothing-here")
