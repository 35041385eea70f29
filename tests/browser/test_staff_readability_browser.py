"""In a real browser: the review page's label keys, and the models chart's labels are not cut off."""

from __future__ import annotations

import pytest

from reviews.models import Review
from reviews.roles import LABELLER
from tests.browser.conftest import log_in, orm
from tests.factories import ModelVersionFactory, ReviewFactory, UserFactory

pytestmark = pytest.mark.browser


def test_a_key_on_the_review_page_labels_the_review(page, settings):
    settings.LABELLING_DOUBLE_SHARE = 0.0
    orm(UserFactory, username="lena", role=LABELLER)
    review_id = orm(lambda: ReviewFactory(text="Cold soup and a long wait.").pk)
    log_in(page, "lena")

    page.goto(f"/explore/{review_id}/")
    page.keyboard.press("3")
    page.wait_for_selector('button[data-label="negative"][aria-pressed="true"]')

    assert orm(lambda: Review.objects.get(pk=review_id).human_label) == "negative"
    assert f"Labelled review #{review_id} negative." in page.content()
    # A key pressed in a form field (the aspect editor) is not a label.
    page.focus("#id_aspects-0-category")
    page.keyboard.press("2")
    page.wait_for_timeout(500)
    assert orm(lambda: Review.objects.get(pk=review_id).human_label) == "negative"
    assert page.locator('button[data-label="neutral"]').get_attribute("aria-pressed") == "false"
    assert page.console.problems == []


def test_the_models_chart_shows_its_long_tick_labels_and_titles_whole(page):
    orm(UserFactory, username="mona", role=LABELLER)
    for i in range(6):
        evaluation = {"macro_f1": 0.6 + i / 100, "accuracy": 0.7}
        name = f"sentiment-20261206-1405{i:02d}-a1b2c{i}"
        orm(ModelVersionFactory, name=name, artifact_path=f"{name}.joblib", metrics={"evaluation": evaluation})
    log_in(page, "mona")

    page.goto("/models/")
    page.wait_for_selector("#chart-f1 .xtick text")

    outside = page.evaluate(
        """() => {
            const svg = document.querySelector('#chart-f1 .main-svg').getBoundingClientRect();
            const texts = document.querySelectorAll(
                '#chart-f1 .xtick text, #chart-f1 .ytick text, #chart-f1 .g-xtitle text, #chart-f1 .g-ytitle text'
            );
            const cut = [];
            for (const t of texts) {
                const r = t.getBoundingClientRect();
                const inside = r.left >= svg.left - 0.5 && r.right <= svg.right + 0.5
                    && r.top >= svg.top - 0.5 && r.bottom <= svg.bottom + 0.5;
                if (!inside) cut.push(t.textContent);
            }
            return {count: texts.length, cut: cut};
        }"""
    )
    assert outside["count"] >= 8  # six versions, the y ticks and both titles
    assert outside["cut"] == []
    assert page.console.problems == []
