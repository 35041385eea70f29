"""How an imported file's ratings and labels are read: one reading per file, learnt from all its values.

Review exports mean different things by the same numbers. 7 is a good film on a 1-10 scale and out of
range in stars; 85 is a good score out of 100. "0" is a negative review in a 0/1 sentiment dataset
(SST-2, IMDb, Amazon polarity) and a neutral one in a -1/0/1 dataset; "2" is positive in a 0/1/2
dataset and negative in 1-5 stars. A row read alone cannot tell which, so import_reviews reads the
rating and label columns of the whole file first, picks one reading for the file, says which on
stderr, and accepts an explicit `--rating-scale` / `--label-map` when the guess would be wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from training.ml.labels import rating_to_label

RATING_SCALES = (5, 10, 100)
# A scale fits a file when this share of its ratings lies within it: one typo ("50" among a thousand
# star ratings) must not turn every 4-star review into a 1-star one.
SCALE_FIT_SHARE = Decimal("0.99")
STARS = Decimal(5)
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
HALF = Decimal("0.5")


def parse_rating_value(raw) -> Decimal | None:
    """The number in a rating cell (None for an empty cell); ValueError when it is not a finite number."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):  # JSON true/false: Decimal(str(True)) fails anyway, but say why
        raise ValueError(f"rating {raw!r} is not a number")
    text = str(raw).strip()
    if _DECIMAL_COMMA.fullmatch(text):  # "4,5" from a European spreadsheet
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"rating {str(raw)[:20]!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"rating {str(raw)[:20]!r} is not a finite number")
    if value.copy_abs() > 1000:  # far off any scale; quantizing 1e999999999 would overflow
        raise ValueError(f"rating {str(raw)[:20]!r} is out of range")
    return value


@dataclass(frozen=True, slots=True)
class RatingScale:
    """Ratings from 0 to `top`, stored as 1-5 stars in half steps (the lowest ratings as 1 star)."""

    top: int

    def describe(self) -> str:
        if self.top == 5:
            return "a 0-5 star scale"
        return f"a 0-{self.top} scale, stored as stars = rating / {self.top // 5}"

    def to_stars(self, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError(f"rating {value} is below 0")
        if value > self.top:
            raise ValueError(f"rating {value} is above this file's 0-{self.top} scale")
        stars = value * STARS / self.top
        # Half stars are the finest grain we keep: 4.3 is read as 4.5, as a person would.
        return max(Decimal(1), (stars / HALF).quantize(Decimal(1), rounding=ROUND_HALF_UP) * HALF)


def detect_rating_scale(values: Iterable[Decimal]) -> RatingScale:
    """The smallest of 5, 10 and 100 that holds 99% of the file's (non-negative) ratings; stars without any."""
    seen = [value for value in values if value >= 0]
    for top in RATING_SCALES:
        if not seen or sum(1 for value in seen if value <= top) >= SCALE_FIT_SHARE * len(seen):
            return RatingScale(top)
    return RatingScale(RATING_SCALES[-1])


NAMED_LABELS = {
    "positive": "positive", "pos": "positive",
    "neutral": "neutral", "neu": "neutral",
    "negative": "negative", "neg": "negative",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabelReading:
    """What each raw label value of a file means; `numbers` says how its numeric labels were read."""

    mapping: dict[str, str]
    numbers: str = ""

    def label(self, raw) -> str | None:
        """positive/neutral/negative for a cell; None for an empty one; ValueError for an unknown value."""
        if raw is None or not str(raw).strip():
            return None
        key = normalise_label(raw)
        if key in self.mapping:
            return self.mapping[key]
        raise ValueError(f"label {str(raw).strip()[:20]!r} is not positive/neutral/negative{self._hint()}")

    def _hint(self) -> str:
        return f" (numbers here are read as {self.numbers})" if self.numbers else ""


def normalise_label(raw) -> str:
    """Lower-case, stripped; whole numbers in their plain form ("1.0", "+1" and 1 are all "1")."""
    text = str(raw).strip().lower()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if number.is_finite() and number == number.to_integral_value():
        return str(int(number))
    return text


def _numeric(keys: Iterable[str]) -> set[int]:
    numbers = set()
    for key in keys:
        try:
            numbers.add(int(key))
        except ValueError:
            continue
    return numbers


def _read_numbers(numbers: set[int], *, negative_max: float, positive_min: float) -> tuple[dict[int, str], str]:
    """One reading for a file's numeric labels, from the set of numbers it uses (empty when none fits)."""
    if not numbers:
        return {}, ""
    if numbers <= {0, 1}:
        return {0: "negative", 1: "positive"}, "0 = negative, 1 = positive"
    if numbers <= {-1, 0, 1}:
        return {-1: "negative", 0: "neutral", 1: "positive"}, "-1 = negative, 0 = neutral, 1 = positive"
    if numbers <= {1, 2}:  # before 0/1/2: Yelp and Amazon polarity files use 1 and 2 alone
        return {1: "negative", 2: "positive"}, "1 = negative, 2 = positive"
    if numbers <= {0, 1, 2}:
        return {0: "negative", 1: "neutral", 2: "positive"}, "0 = negative, 1 = neutral, 2 = positive"
    if numbers <= {0, 1, 2, 3, 4} and 0 in numbers:
        # Five classes from 0 (SST-5: very negative ... very positive).
        return {0: "negative", 1: "negative", 2: "neutral", 3: "positive", 4: "positive"}, (
            "0-4 = very negative to very positive (0-1 negative, 2 neutral, 3-4 positive)"
        )
    if numbers <= {1, 2, 3, 4, 5}:
        stars = {n: rating_to_label(n, negative_max=negative_max, positive_min=positive_min) for n in range(1, 6)}
        return stars, f"stars (<= {negative_max:g} negative, >= {positive_min:g} positive)"
    return {}, ""


def detect_label_reading(values: Iterable, *, negative_max: float = 2.0, positive_min: float = 4.0) -> LabelReading:
    """A reading for a file's label column from all the distinct values in it."""
    keys = {normalise_label(value) for value in values if value is not None and str(value).strip()}
    mapping = dict(NAMED_LABELS)
    numbers, description = _read_numbers(_numeric(keys), negative_max=negative_max, positive_min=positive_min)
    mapping.update({str(number): label for number, label in numbers.items()})
    return LabelReading(mapping, description)


def parse_label_map(text: str) -> LabelReading:
    """`--label-map "0=negative,1=positive,2=neutral"` (also accepts named labels as values: pos, neg, neu)."""
    mapping = {}
    for part in text.split(","):
        if not part.strip():
            continue
        raw, separator, label = part.partition("=")
        label = NAMED_LABELS.get(label.strip().lower())
        if not separator or not raw.strip() or label is None:
            raise ValueError(f"{part.strip()!r} is not VALUE=positive|neutral|negative")
        mapping[normalise_label(raw)] = label
    if not mapping:
        raise ValueError("an empty label map; give VALUE=positive|neutral|negative pairs separated by commas")
    return LabelReading(mapping, ", ".join(f"{raw} = {label}" for raw, label in mapping.items()))
