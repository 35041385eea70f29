"""manage.py simulate_labelling: the product's queue and training replayed on a pool with hidden gold labels."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Review
from training.models import ModelVersion, TrainingJob

pytestmark = pytest.mark.django_db

WORDS = {
    "positive": ["great", "delicious", "friendly", "lovely", "excellent", "tasty", "wonderful"],
    "neutral": ["okay", "average", "fine", "ordinary", "decent", "standard", "usual"],
    "negative": ["awful", "rude", "cold", "terrible", "dirty", "bland", "horrible"],
}
FILLER = ["food", "staff", "table", "pasta", "room", "coffee", "service", "dessert", "menu", "price"]


def write_reviews(path: Path, count: int, seed: int, *, label_case=str.lower) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(count):
            label = ("positive", "neutral", "negative")[i % 3]
            words = rng.sample(WORDS[label], 2) + rng.sample(FILLER, 3)
            rng.shuffle(words)
            writer.writerow([f"The {' '.join(words)} on visit {i}.", label_case(label)])
    return path


@pytest.fixture
def pool(tmp_path) -> Path:
    return write_reviews(tmp_path / "pool.csv", 240, seed=1)


@pytest.fixture
def evaluation(tmp_path) -> Path:
    return write_reviews(tmp_path / "eval.csv", 60, seed=2)


def simulate(*args, **options) -> list[str]:
    out = io.StringIO()
    call_command("simulate_labelling", *map(str, args), stdout=out, **options)
    return out.getvalue().strip().splitlines()


@pytest.mark.parametrize("strategy", ["uncertainty", "random"])
def test_it_prints_a_line_per_step_and_the_json_last(pool, evaluation, strategy):
    lines = simulate(pool, evaluation, strategy=strategy, budget="150", step="50", seed="3")

    result = json.loads(lines[-1])
    assert result["strategy"] == strategy
    assert result["labels"] == [50, 100, 150]
    assert len(result["macro_f1"]) == 3 and all(0.0 <= f1 <= 1.0 for f1 in result["macro_f1"])
    assert result["seconds"] >= 0
    assert [line.split(" labels")[0] for line in lines[:-1]] == ["50", "100", "150"]


def test_the_last_step_is_shorter_when_the_budget_is_not_a_multiple_of_the_step(pool, evaluation):
    result = json.loads(simulate(pool, evaluation, budget="120", step="50")[-1])

    assert result["labels"] == [50, 100, 120]


def test_labels_teach_the_model_the_words_the_lexicon_does_not_know(pool, evaluation):
    result = json.loads(simulate(pool, evaluation, budget="120", step="60")[-1])

    assert result["macro_f1"][-1] > 0.8


def test_the_same_seed_gives_the_same_curve(pool, evaluation):
    first = json.loads(simulate(pool, evaluation, budget="100", step="50", seed="7")[-1])
    second = json.loads(simulate(pool, evaluation, budget="100", step="50", seed="7")[-1])

    assert first["macro_f1"] == second["macro_f1"]


def test_it_never_touches_the_database(pool, evaluation, settings, tmp_path):
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    before = (Review.objects.count(), ModelVersion.objects.count(), TrainingJob.objects.count())

    simulate(pool, evaluation, budget="100", step="50")

    assert (Review.objects.count(), ModelVersion.objects.count(), TrainingJob.objects.count()) == before
    assert not (tmp_path / "models").exists()


def test_labels_are_read_in_any_case(tmp_path, evaluation):
    pool = write_reviews(tmp_path / "upper.csv", 90, seed=4, label_case=str.upper)

    result = json.loads(simulate(pool, evaluation, budget="60", step="30")[-1])

    assert result["labels"] == [30, 60]


def test_it_rejects_a_missing_file(tmp_path, evaluation):
    with pytest.raises(CommandError, match="No such file"):
        simulate(tmp_path / "nowhere.csv", evaluation)


def test_it_rejects_a_missing_column(pool, evaluation):
    with pytest.raises(CommandError, match="has no column 'review'"):
        simulate(pool, evaluation, text_col="review")


def test_it_rejects_labels_other_than_the_three(tmp_path, evaluation):
    stars = tmp_path / "stars.csv"
    stars.write_text("text,label\nGreat food,5\nAwful,1\n")

    with pytest.raises(CommandError, match="labels must be positive, neutral or negative; found '5' \\(line 2\\)"):
        simulate(stars, evaluation, budget="1", step="1")


def test_it_rejects_a_budget_larger_than_the_pool(pool, evaluation):
    with pytest.raises(CommandError, match="--budget 1000 is larger than the pool \\(240 reviews\\)"):
        simulate(pool, evaluation, budget="1000")


@pytest.mark.parametrize("step", ["0", "-5"])
def test_it_rejects_a_step_below_one(pool, evaluation, step):
    with pytest.raises(CommandError, match="--step must be at least 1"):
        simulate(pool, evaluation, step=step)


def test_it_rejects_an_unknown_strategy(pool, evaluation):
    with pytest.raises(CommandError, match="Unknown strategy 'clever'; use one of uncertainty, random"):
        simulate(pool, evaluation, strategy="clever")


def test_bad_input_from_the_command_line_exits_1_with_a_message_not_a_traceback(pool, evaluation):
    root = Path(__file__).resolve().parents[2]

    finished = subprocess.run(
        [sys.executable, "manage.py", "simulate_labelling", str(pool), str(evaluation), "--step", "0"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert "--step must be at least 1" in finished.stderr


def test_the_accurate_kind_refits_the_shipped_head_on_the_labels_at_every_step(pool, evaluation, monkeypatch):
    from training.ml import finetuned

    if not finetuned.is_available():
        pytest.skip("the shipped fine-tuned encoder is not installed")
    refits = []
    real_head = finetuned.customer_head

    def spy(embeddings, labels, weights, **options):
        refits.append((len(labels), set(weights)))
        return real_head(embeddings, labels, weights, **options)

    monkeypatch.setattr(finetuned, "customer_head", spy)
    lines = simulate(pool, evaluation, strategy="uncertainty", budget="100", step="50", kind="accurate")

    result = json.loads(lines[-1])

    assert result["labels"] == [50, 100] and min(result["macro_f1"]) > 0.5
    assert refits == [(50, {3.0}), (100, {3.0})]  # every revealed label, at the human-label weight


def test_the_kind_follows_the_setting(pool, evaluation, settings, monkeypatch):
    from training import labelling_simulation

    chosen = []
    monkeypatch.setattr(labelling_simulation, "_AccurateKind", lambda *a: chosen.append("accurate") or None)
    settings.SENTIMENT_MODEL_KIND = "accurate"

    simulate(pool, evaluation, strategy="random", budget="50", step="50")

    assert chosen == ["accurate"]


@pytest.mark.parametrize("deploys_shipped", [True, False])
def test_the_accurate_kind_starts_from_the_shipped_head_where_shipped_models_deploy(
    pool, evaluation, settings, monkeypatch, deploys_shipped
):
    from training.ml import finetuned, lexicon_prior

    if not finetuned.is_available():
        pytest.skip("the shipped fine-tuned encoder is not installed")
    settings.DEPLOY_SHIPPED_MODELS = deploys_shipped
    lexicon_starts = []
    real_start = lexicon_prior.lexicon_probabilities
    monkeypatch.setattr(lexicon_prior, "lexicon_probabilities", lambda c: lexicon_starts.append(1) or real_start(c))

    simulate(pool, evaluation, strategy="uncertainty", budget="50", step="50", kind="accurate")

    assert bool(lexicon_starts) is not deploys_shipped  # what a fresh install serves chose the first reviews
