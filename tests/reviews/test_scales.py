"""A file's ratings and labels are read on the file's own scale, learnt from all of its values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reviews.imports.scales import detect_label_reading, detect_rating_scale, parse_label_map


def numbers(*values) -> list[Decimal]:
    return [Decimal(str(value)) for value in values]


class TestRatingScales:
    def test_star_ratings_are_kept_in_half_steps(self):
        scale = detect_rating_scale(numbers(1, 2, 3.5, 4, 5))

        assert scale.top == 5
        assert [scale.to_stars(value) for value in numbers(1, 4.3, 4.2, 5)] == numbers(1, 4.5, 4, 5)

    def test_a_file_rated_out_of_ten_is_halved_into_stars(self):
        scale = detect_rating_scale(numbers(9, 2, 7, 10, 4, 1))

        assert scale.top == 10
        assert [scale.to_stars(value) for value in numbers(10, 8, 7, 4, 1, 0)] == numbers(5, 4, 3.5, 2, 1, 1)

    def test_a_file_scored_out_of_a_hundred_is_divided_by_twenty(self):
        scale = detect_rating_scale(numbers(85, 40, 100, 62))

        assert scale.top == 100
        assert [scale.to_stars(value) for value in numbers(100, 85, 62, 10)] == numbers(5, 4.5, 3, 1)

    def test_one_typo_among_many_stars_does_not_change_the_scale_and_is_refused(self):
        scale = detect_rating_scale(numbers(*([4] * 150 + [50])))

        assert scale.top == 5
        with pytest.raises(ValueError, match="above this file's 0-5 scale"):
            scale.to_stars(Decimal(50))

    def test_a_negative_rating_is_refused_and_zero_is_the_lowest_star(self):
        scale = detect_rating_scale(numbers(0, 3, 5))

        assert scale.to_stars(Decimal(0)) == 1
        with pytest.raises(ValueError, match="below 0"):
            scale.to_stars(Decimal(-1))

    def test_a_file_without_ratings_reads_stars(self):
        assert detect_rating_scale([]).top == 5


class TestLabelReadings:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            (["0", "1", "1"], {"0": "negative", "1": "positive"}),
            (["-1", "0", "1"], {"-1": "negative", "0": "neutral", "1": "positive"}),
            (["0", "1", "2"], {"0": "negative", "1": "neutral", "2": "positive"}),
            (["1", "2"], {"1": "negative", "2": "positive"}),
            (["0", "1", "2", "3", "4"], {"0": "negative", "1": "negative", "2": "neutral", "4": "positive"}),
            (["1", "3", "5"], {"1": "negative", "3": "neutral", "5": "positive"}),
        ],
    )
    def test_numeric_labels_are_read_by_the_set_of_numbers_the_file_uses(self, values, expected):
        reading = detect_label_reading(values)

        assert {value: reading.label(value) for value in expected} == expected

    def test_named_labels_in_any_case_and_whole_numbers_in_any_spelling_are_recognised(self):
        reading = detect_label_reading(["Positive", " NEG ", "neutral", "1.0", "0"])

        assert [reading.label(v) for v in ["POSITIVE", "neg", "Neu", "1", 1, "0.0", ""]] == [
            "positive", "negative", "neutral", "positive", "positive", "negative", None,
        ]  # fmt: skip

    def test_a_value_outside_the_reading_is_refused_with_the_reading_named(self):
        reading = detect_label_reading(["0", "1"])

        with pytest.raises(
            ValueError, match=r"'great' is not positive/neutral/negative \(numbers here are read as 0 = negative"
        ):
            reading.label("great")

    def test_an_explicit_map_overrides_the_guess(self):
        reading = parse_label_map("0=neutral, 1 = pos, 2=negative")

        assert [reading.label(v) for v in ["0", "1", "2"]] == ["neutral", "positive", "negative"]
        with pytest.raises(ValueError, match="'3'"):
            reading.label("3")

    @pytest.mark.parametrize("text", ["0", "0=good", "=positive", ",,"])
    def test_a_malformed_map_is_refused(self, text):
        with pytest.raises(ValueError):
            parse_label_map(text)
