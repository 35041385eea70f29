"""Draw the candidate sentences that were annotated into bench/data/review_sentences_gold.csv.

    .venv/bin/python bench/gold_sample.py [--data-dir /work/shared/data] [--out /tmp/gold/candidates.json]

The draw is seeded (SEED) and deterministic, so anyone can redraw the same candidates and check the
procedure that bench/data/README.md describes. The output holds sentence texts for the annotator: it
goes outside the repository (the texts are not ours to commit). Candidates that the annotator found not
to come from a restaurant review were left out of the gold file; nothing else was dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gold import REVIEW_SOURCES, default_data_dir, sentence_sha1  # noqa: E402
from training.ml.text import split_sentences  # noqa: E402

SEED = "review-sentence-gold-v1"
YELP_FILES = ("yelp_train_part1.csv", "yelp_train_part2.csv")
ZOMATO_FILE = "zomato_train.csv"

# The Yelp file mixes restaurants with other businesses: a review needs two distinct food words to be drawn.
FOOD_CUES = re.compile(
    r"\b(food|restaurant|menu|dish|dishes|ate|eat|eating|dinner|lunch|breakfast|brunch|waiter|waitress|server|"
    r"chef|cafe|coffee|pizza|burger|sandwich|sushi|taco|tacos|salad|dessert|appetizer|appetizers|bar|beer|wine|"
    r"cocktail|cocktails|drinks|delicious|tasty|fries|chicken|steak|pasta|bbq|buffet|patio|brewery|diner|bakery|"
    r"meal)\b",
    re.IGNORECASE,
)
# Deliberately broad: the annotator, not the cue, decides what is a suggestion.
SUGGESTION_CUES = re.compile(
    r"\b(should|could|would|must|might|need to|needs to|have to|please|wish|hope|recommend|recommended|suggest|"
    r"try|next time|if you|don't|do not|make sure|be sure|avoid|skip|go for|order|ask for|get the|why not|"
    r"better if)\b"
    r"|^(try|get|order|go|skip|avoid|ask|come|save|bring|grab|check|stick|stay|make|be|don't|do|definitely|just|"
    r"call|expect|plan|go)\b",
    re.IGNORECASE,
)
SPEED_CUES = re.compile(
    r"\b(wait|waited|waiting|slow|slowly|quick|quickly|fast|minutes|mins|min|hour|hours|forever|prompt|promptly|"
    r"took|line|delay|delayed|late|timely|speedy|rush|busy)\b",
    re.IGNORECASE,
)
CLEANLINESS_CUES = re.compile(
    r"\b(clean|cleaner|cleanliness|dirty|filthy|hygien\w*|unhygien\w*|bathroom|bathrooms|restroom|restrooms|"
    r"washroom|toilet|sticky|flies|fly|cockroach\w*|roach\w*|hair|neat|tidy|spotless|grimy|greasy floor|smell|"
    r"smelly|stink\w*|dust\w*|messy|sanit\w*)\b",
    re.IGNORECASE,
)

# (sample, dataset, cue or None for any sentence, how many reviews: one sentence each), drawn in this order.
ENRICHED_DRAWS = (
    ("suggestion_enriched", "yelp", SUGGESTION_CUES, 125),
    ("suggestion_enriched", "zomato", SUGGESTION_CUES, 80),
    ("suggestion_enriched", "yelp", None, 10),
    ("suggestion_enriched", "zomato", None, 10),
    ("theme_enriched", "yelp", SPEED_CUES, 32),
    ("theme_enriched", "zomato", SPEED_CUES, 25),
    ("theme_enriched", "yelp", CLEANLINESS_CUES, 35),
    ("theme_enriched", "zomato", CLEANLINESS_CUES, 35),
)
RANDOM_SENTENCES = {"yelp": 210, "zomato": 140}  # about 60/40
SENTENCES_PER_RANDOM_REVIEW = 3


def read_reviews(data_dir: Path) -> dict[str, list[tuple[str, str, str]]]:
    """dataset -> [(file, review_key, text)] in file order; Yelp reviews without two food words left out."""
    reviews: dict[str, list[tuple[str, str, str]]] = {"yelp": [], "zomato": []}
    for dataset, files in (("yelp", YELP_FILES), ("zomato", (ZOMATO_FILE,))):
        source = REVIEW_SOURCES[dataset]
        for file_name in files:
            with (data_dir / source.folder / file_name).open(newline="", encoding="utf-8") as handle:
                for index, row in enumerate(csv.DictReader(handle)):
                    text = row[source.text_column]
                    if dataset == "yelp" and len({word.lower() for word in FOOD_CUES.findall(text)}) < 2:
                        continue
                    key = row[source.key_column] if source.key_column else str(index)
                    reviews[dataset].append((file_name, key, text))
    return reviews


def draw_candidates(data_dir: Path) -> list[dict]:
    rng = random.Random(SEED)
    reviews = read_reviews(data_dir)
    candidates: list[dict] = []
    drawn_reviews: set[tuple[str, str]] = set()

    def keep(dataset: str, file_name: str, key: str, sentences: list[str], index: int, sample: str) -> None:
        candidates.append(
            {
                "id": len(candidates),
                "dataset": dataset,
                "file": file_name,
                "review_key": key,
                "sentence_index": index,
                "sentence_sha1": sentence_sha1(sentences[index]),
                "sample": sample,
                "text": sentences[index],
            }
        )

    # (a) random: whole reviews at random, up to three random sentences of each, until the quota is met.
    for dataset, quota in RANDOM_SENTENCES.items():
        pool = reviews[dataset][:]
        rng.shuffle(pool)
        taken = 0
        for file_name, key, text in pool:
            if taken >= quota:
                break
            sentences = split_sentences(text)
            if not sentences:
                continue
            picks = sorted(rng.sample(range(len(sentences)), min(SENTENCES_PER_RANDOM_REVIEW, len(sentences))))
            for index in picks:
                keep(dataset, file_name, key, sentences, index, "random")
            taken += len(picks)
            drawn_reviews.add((dataset, key))

    # (b), (c): one sentence matching the cue from each further review, never a review drawn before.
    unused = {
        dataset: [review for review in rows if (dataset, review[1]) not in drawn_reviews]
        for dataset, rows in reviews.items()
    }
    for sample, dataset, cue, quota in ENRICHED_DRAWS:
        pool = unused[dataset][:]
        rng.shuffle(pool)
        taken = 0
        for file_name, key, text in pool:
            if taken >= quota:
                break
            if (dataset, key) in drawn_reviews:
                continue
            sentences = split_sentences(text)
            matching = [index for index, sentence in enumerate(sentences) if cue is None or cue.search(sentence)]
            if not matching:
                continue
            keep(dataset, file_name, key, sentences, rng.choice(matching), sample)
            drawn_reviews.add((dataset, key))
            taken += 1
    return candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="Default: $SHARED_DATA_DIR or ../shared/data")
    parser.add_argument("--out", type=Path, default=Path("/tmp/gold/candidates.json"))
    args = parser.parse_args()
    candidates = draw_candidates(args.data_dir or default_data_dir())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(candidates, indent=0))
    print(len(candidates), dict(Counter((c["sample"], c["dataset"]) for c in candidates)))


if __name__ == "__main__":
    main()
