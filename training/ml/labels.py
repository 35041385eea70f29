"""The three sentiment classes, in the column order of every probability matrix."""

LABELS: tuple[str, str, str] = ("positive", "neutral", "negative")
LABEL_INDEX = {label: index for index, label in enumerate(LABELS)}


def rating_to_label(rating: float, *, negative_max: float = 2.0, positive_min: float = 4.0) -> str:
    """Weak label from a star rating: <= negative_max negative, >= positive_min positive."""
    if rating <= negative_max:
        return "negative"
    if rating >= positive_min:
        return "positive"
    return "neutral"
