"""An accurate sentiment model's page says what it is made of: the shipped encoder, whether the staff's labels
moved its head, and the share of the model of the store's own words."""

from __future__ import annotations

import pytest

from tests.factories import ModelVersionFactory, UserFactory
from tests.project.test_staff_pages import logged_in
from training.ml import finetuned
from training.version_notes import accurate_composition

pytestmark = pytest.mark.django_db


def accurate(**parameters):
    return ModelVersionFactory(kind="sentiment", algorithm=finetuned.ALGORITHM, parameters=parameters)


def test_a_reader_adapted_by_the_labels_says_on_how_many_reviews_and_the_words_share():
    text = accurate_composition(accurate(head_refit_examples=1240, unseen_reviews=1240, fast_share=0.2))

    assert "retrained on 1,240 of them and reads them clearly better" in text
    assert "20% of each prediction comes from a model of the words in your own reviews" in text


def test_a_reader_kept_as_shipped_says_which_reason_applies():
    checked = accurate_composition(accurate(head_refit_examples=0, unseen_reviews=247, fast_share=0.4))
    too_few = accurate_composition(accurate(head_refit_examples=0, unseen_reviews=90, fast_share=0.4))

    assert "retrained on the 247 of your reviews that were new to it, it did not read them clearly better" in checked
    assert "90 of your reviews were new to it, and it is retrained on them from 150" in too_few
    assert "40%" in checked and "40%" in too_few


def test_the_shipped_default_says_it_is_not_trained_on_your_reviews_and_other_models_say_nothing():
    shipped = ModelVersionFactory(kind="sentiment", algorithm=finetuned.SHIPPED_ALGORITHM)

    assert "not trained on your reviews yet" in accurate_composition(shipped)
    assert accurate_composition(ModelVersionFactory(kind="sentiment")) == ""
    assert accurate_composition(ModelVersionFactory(kind="aspects", algorithm=finetuned.ALGORITHM)) == ""


def test_the_model_page_shows_it():
    version = accurate(head_refit_examples=0, unseen_reviews=247, fast_share=0.4)

    page = logged_in(UserFactory(is_staff=True)).get(f"/models/{version.pk}/")

    assert page.status_code == 200
    assert 'id="composition"' in page.text and "Uses the shipped review reader as it is" in page.text
