"""The models: weak labels, training and its gate, serving, model storage and MLflow, labelling, monitoring
and alerts."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_float, env_int, env_str
from project.settings.base import BASE_DIR, RUNNING_TESTS, VAR_DIR

# --- Labels and training ------------------------------------------------------------------------------
# Weak labels from star ratings (used by training): <= NEGATIVE_MAX is negative,
# >= POSITIVE_MIN is positive, anything between is neutral.
#: Training: a rating at or below this is a negative label.
RATING_NEGATIVE_MAX = env_float("RATING_NEGATIVE_MAX", 2.0)
#: Training: a rating at or above this is a positive label; between is neutral.
RATING_POSITIVE_MIN = env_float("RATING_POSITIVE_MIN", 4.0)
#: Training weight of a human label (a label from stars weighs 1).
HUMAN_LABEL_WEIGHT = env_float("HUMAN_LABEL_WEIGHT", 3.0)
#: Also train on reviews detected as not English (they are flagged at ingest and left out by default).
TRAIN_INCLUDE_NON_ENGLISH = env_bool("TRAIN_INCLUDE_NON_ENGLISH", False)
#: Sentiment model that training builds: `accurate` (the shipped fine-tuned MiniLM review encoder with its head
#: refit on your reviews, blended with the fast model; +0.04 macro-F1, 150-550 reviews/s: reviews get the fast
#: part's prediction on arrival and the full one from a Celery task) or `fast` (hashed TF-IDF + LR, thousands of
#: reviews/s). Either has to pass the gate; see docs/benchmarks.md.
SENTIMENT_MODEL_KIND = env_str("SENTIMENT_MODEL_KIND", "accurate")
if SENTIMENT_MODEL_KIND not in ("fast", "accurate"):
    raise ImproperlyConfigured(f"SENTIMENT_MODEL_KIND must be fast or accurate, not {SENTIMENT_MODEL_KIND!r}")
#: The trained aspect model also uses the bundled MiniLM sentence embeddings (run by onnxruntime) beside its
#: TF-IDF features: more accurate aspects and polarity, slower extraction (see bench/README.md).
ASPECT_EMBEDDINGS = env_bool("ASPECT_EMBEDDINGS", True)
#: The trained aspect model's polarity also reads the deployed sentiment model's probabilities of each
#: sentence and clause (a copy is stored with the aspect model; +0.016 polarity accuracy on the SemEval
#: test split, see bench/README.md), and the cold-start aspect model takes clause polarity from it instead
#: of VADER; the lexicon baseline is never used this way.
ASPECT_SENTIMENT_FEATURES = env_bool("ASPECT_SENTIMENT_FEATURES", True)

# --- The gate and retraining --------------------------------------------------------------------------
# A candidate replaces the champion only if all three hold (docs/model-lifecycle.md).
#: Gate: the candidate's macro-F1 must beat the champion's by at least this.
GATE_MIN_DELTA = env_float("GATE_MIN_DELTA", 0.005)
#: Gate: paired-bootstrap probability, at least, that the candidate is better.
GATE_MIN_PROBABILITY = env_float("GATE_MIN_PROBABILITY", 0.90)
#: Gate: largest F1 loss allowed on any one class.
GATE_MAX_CLASS_F1_DROP = env_float("GATE_MAX_CLASS_F1_DROP", 0.05)
#: Gate: bootstrap resamples.
GATE_BOOTSTRAP_SAMPLES = env_int("GATE_BOOTSTRAP_SAMPLES", 1000)
#: Below this many human labels in the evaluation bucket the gate uses held-out rated reviews (and says so).
EVALUATION_MIN_HUMAN_LABELS = env_int("EVALUATION_MIN_HUMAN_LABELS", 200)
#: A larger held-out rated set is replaced by a fixed sample of this many (by a hash of the review id), so
#: the gate's cost stops growing with the data (20,000 reviews scored twice took 3 s of a 30 s job at
#: 100,000 reviews).
EVALUATION_MAX_RATED = env_int("EVALUATION_MAX_RATED", 10_000)
#: New human labels since the last training that justify retraining.
RETRAIN_MIN_NEW_LABELS = env_int("RETRAIN_MIN_NEW_LABELS", 50)
#: New rated reviews since the last training that justify retraining.
RETRAIN_MIN_NEW_RATED = env_int("RETRAIN_MIN_NEW_RATED", 500)

# --- Serving, jobs and model storage ------------------------------------------------------------------
#: With Redis: cache predictions by (model version, text) for this long; `0` turns it off.
PREDICTION_CACHE_SECONDS = env_int("PREDICTION_CACHE_SECONDS", 86400)
#: How often a worker running a training job refreshes its heartbeat.
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 20.0)
#: The stuck-job sweep fails a running job whose heartbeat is older than this (its worker died).
JOB_STUCK_AFTER_SECONDS = env_int("JOB_STUCK_AFTER_SECONDS", 180)
#: How often each process checks the database for a newly deployed model.
MODEL_REFRESH_SECONDS = env_float("MODEL_REFRESH_SECONDS", 5.0)
#: Trained model files; must be shared by web and workers (only a cache of downloads with
#: `MODEL_S3_BUCKET`).
#: default: `VAR_DIR/models`
MODEL_ARTIFACT_DIR = Path(env_str("MODEL_ARTIFACT_DIR", str(VAR_DIR / "models")))
#: Keep model files in this S3 bucket (AWS S3, or MinIO through `AWS_S3_ENDPOINT_URL`); credentials come
#: from boto3's usual sources (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`).
#: default: empty (local files only)
MODEL_S3_BUCKET = env_str("MODEL_S3_BUCKET", "")
#: Key prefix in that bucket.
MODEL_S3_PREFIX = env_str("MODEL_S3_PREFIX", "models/")
#: S3 endpoint, e.g. MinIO's URL.
#: default: `MLFLOW_S3_ENDPOINT_URL` if set, else AWS
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", os.environ.get("MLFLOW_S3_ENDPOINT_URL", ""))

#: Track training jobs and register model versions in MLflow.
MLFLOW_ENABLED = env_bool("MLFLOW_ENABLED", True)
#: MLflow tracking and registry store (an `http://` MLflow server in production).
#: default: `sqlite:///VAR_DIR/mlflow/mlflow.db`
MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI", f"sqlite:///{VAR_DIR / 'mlflow' / 'mlflow.db'}")
#: Artifact root of a newly created experiment; `s3://bucket/path` for S3.
#: default: `file://VAR_DIR/mlflow/artifacts`
MLFLOW_ARTIFACT_ROOT = env_str("MLFLOW_ARTIFACT_ROOT", (VAR_DIR / "mlflow" / "artifacts").as_uri())
#: Experiment name.
MLFLOW_EXPERIMENT = env_str("MLFLOW_EXPERIMENT", "review-sentiment")
#: Registered model name; aliases `champion` and `challenger` follow the database.
MLFLOW_MODEL_NAME = env_str("MLFLOW_MODEL_NAME", "review-sentiment")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
#: Deploy the trained suggestion and aspect models that ship in training/pretrained/ (built by
#: `manage.py build_default_models`) at migrate, for each kind with no champion yet, and the shipped fine-tuned
#: sentiment head in place of the lexicon baseline.
#: default: on (off while the tests run: they start from the rule and the cold start unless they ask)
DEPLOY_SHIPPED_MODELS = env_bool("DEPLOY_SHIPPED_MODELS", not RUNNING_TESTS)
#: Folder of the shared data sets.
#: default: `../shared/data` beside the repository
SHARED_DATA_DIR = Path(env_str("SHARED_DATA_DIR", str(BASE_DIR.parent / "shared" / "data")))

# --- Staff pages --------------------------------------------------------------------------------------
#: How long a review on the labelling page stays reserved for its labeller (seconds).
LABELLING_RESERVATION_SECONDS = env_int("LABELLING_RESERVATION_SECONDS", 120)
#: Share of reviews that also go to a second labeller (agreement, Cohen's kappa).
LABELLING_DOUBLE_SHARE = env_float("LABELLING_DOUBLE_SHARE", 0.1)
#: Share of random reviews mixed into the most-uncertain queue, to keep labels representative.
LABELLING_UNCERTAIN_RANDOM_SHARE = env_float("LABELLING_UNCERTAIN_RANDOM_SHARE", 0.2)
#: The most-uncertain queue shows random reviews until this many are labelled: a model that learned from no
#: labels yet (the lexicon) is uncertain about odd reviews, and a first sample of those trains a poor model.
LABELLING_COLD_START_LABELS = env_int("LABELLING_COLD_START_LABELS", 100)
#: Base URL of an MLflow UI, e.g. `http://mlflow:5000`; model versions then link to their runs
#: (`<base>/#/runs/<run id>`). Empty: the link goes to `MLFLOW_TRACKING_URI` when that is an http(s)
#: server; with a sqlite store the run id is shown as text.
MLFLOW_UI_URL = env_str("MLFLOW_UI_URL", "")

# --- Monitoring and alerts ----------------------------------------------------------------------------
#: Window of live accuracy and drift (days).
MONITOR_WINDOW_DAYS = env_int("MONITOR_WINDOW_DAYS", 7)
#: Live accuracy below this (with at least `MONITOR_MIN_LABELS` labels) triggers retraining; live accuracy
#: counts the champion's own ingest predictions only, other models' figures are listed beside it.
MONITOR_ACCURACY_THRESHOLD = env_float("MONITOR_ACCURACY_THRESHOLD", 0.80)
#: Labels needed before live accuracy can trigger anything.
MONITOR_MIN_LABELS = env_int("MONITOR_MIN_LABELS", 50)
# Drift alarms need this many predictions, a PSI above the threshold and a significant test.
#: Predictions needed before a drift alarm.
MONITOR_MIN_PREDICTIONS = env_int("MONITOR_MIN_PREDICTIONS", 200)
#: Population stability index that counts as drift.
MONITOR_PSI_THRESHOLD = env_float("MONITOR_PSI_THRESHOLD", 0.2)
#: Rise of the out-of-vocabulary rate over the training-time rate that counts as text drift.
MONITOR_OOV_DELTA = env_float("MONITOR_OOV_DELTA", 0.05)
#: Significance needed for drift and negative-spike alarms.
MONITOR_P_VALUE = env_float("MONITOR_P_VALUE", 0.01)
#: No second monitoring-triggered training within this window (hours).
MONITOR_RETRAIN_COOLDOWN_HOURS = env_float("MONITOR_RETRAIN_COOLDOWN_HOURS", 24.0)
#: Reviews a business needs in a day before a negative spike (its negative share in the last day against
#: its previous weeks) is reported.
NEGATIVE_SPIKE_MIN_REVIEWS = env_int("NEGATIVE_SPIKE_MIN_REVIEWS", 10)
# Alert channels (email addresses and webhook URLs) are configured in the admin.
#: Timeout of one webhook POST.
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_float("ALERT_WEBHOOK_TIMEOUT_SECONDS", 5.0)
#: Retries of a failed alert, with doubling backoff.
ALERT_RETRIES = env_int("ALERT_RETRIES", 5)
#: First backoff between alert retries.
ALERT_RETRY_BACKOFF_SECONDS = env_float("ALERT_RETRY_BACKOFF_SECONDS", 1.0)
#: Django mail backend for email alerts.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
#: SMTP host.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
#: SMTP port.
EMAIL_PORT = env_int("EMAIL_PORT", 25)
#: SMTP user.
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
#: SMTP password.
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
#: STARTTLS to the SMTP host.
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
#: Sender of alert emails.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "review-sentiment@localhost")
