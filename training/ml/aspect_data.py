"""SemEval restaurant ABSA XML parsing and category mappings (pure Python, no Django).

Formats
- SemEval-2014 Task 4: ``<sentences><sentence id><text/><aspectTerms><aspectTerm term polarity from to/>``
  ``<aspectCategories><aspectCategory category polarity/>``. Categories: food, service, price, ambience,
  anecdotes/miscellaneous. Polarities: positive, negative, neutral, conflict.
- SemEval-2016 Task 5 (SB1): ``<Reviews><Review rid><sentences><sentence id [OutOfScope="TRUE"]><text/>``
  ``<Opinions><Opinion target category="ENTITY#ATTRIBUTE" polarity from to/>``. Polarities: positive,
  negative, neutral (several opinions of different polarity that map to one target category become ``conflict``).

Schemes and mappings
- ``THEMES``: the ten product themes managers see, stored as-is in ReviewAspect.category.
- ``SEMEVAL16_TO_THEMES``: each of the twelve 2016 E#A categories (``SEMEVAL16_CATEGORIES``) -> one theme. Themes
  no file annotates (``COLD_START_THEMES``: speed and waiting, cleanliness) come from the cold-start detector
  (training/ml/aspect_coldstart.py: seed terms) and fire beside the learned ones ("the waiter took forever":
  service and staff and speed and waiting).
- ``SEMEVAL14_TO_THEMES``: the 2014 categories whose 2016 counterpart maps to exactly one theme (service ->
  SERVICE#GENERAL, price -> every *#PRICES, ambience -> AMBIENCE#GENERAL). 2014 "food" spans FOOD#QUALITY,
  FOOD#STYLE_OPTIONS and the DRINKS ones (three themes) and anecdotes/miscellaneous spans RESTAURANT#GENERAL,
  RESTAURANT#MISCELLANEOUS and LOCATION#GENERAL (two): a 2014 sentence with them says nothing about which of those
  themes it mentions, but a sentence without them mentions none of them (``themes_known``).
- ``SEMEVAL16_TO_14``: 2016 E#A -> the five 2014 categories (drinks fold into food as in the 2014 guidelines;
  every *#PRICES into price; RESTAURANT#GENERAL/MISCELLANEOUS and LOCATION#GENERAL into anecdotes/miscellaneous).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

POLARITIES = ("positive", "negative", "neutral", "conflict")
SEMEVAL14_CATEGORIES = ("food", "service", "price", "ambience", "anecdotes/miscellaneous")
MISC = "anecdotes/miscellaneous"

THEMES = (
    "food quality",
    "menu and options",
    "drinks",
    "service and staff",
    "speed and waiting",
    "price and value",
    "ambience and noise",
    "cleanliness",
    "location and parking",
    "general",
)
GENERAL = "general"
# Categories that say nothing specific: "general", and SemEval-2014's catch-all on rows stored before the themes.
GENERAL_CATEGORIES = frozenset({GENERAL, MISC})
COLD_START_THEMES = ("speed and waiting", "cleanliness")
# Learned, and also found by these terms: SemEval's LOCATION#GENERAL is the neighbourhood, never parking (all the
# location seeds here cost 0.14 F1 on the 2016 test: "area", "spot" name other things as often).
SEED_BACKED_THEMES = {"location and parking": ("parking", "park", "parked", "parking lot", "valet")}

SEMEVAL16_CATEGORIES = (
    "FOOD#QUALITY",
    "FOOD#STYLE_OPTIONS",
    "FOOD#PRICES",
    "DRINKS#QUALITY",
    "DRINKS#STYLE_OPTIONS",
    "DRINKS#PRICES",
    "SERVICE#GENERAL",
    "AMBIENCE#GENERAL",
    "LOCATION#GENERAL",
    "RESTAURANT#GENERAL",
    "RESTAURANT#MISCELLANEOUS",
    "RESTAURANT#PRICES",
)

SEMEVAL16_TO_14: dict[str, tuple[str, ...]] = {
    "FOOD#QUALITY": ("food",),
    "FOOD#STYLE_OPTIONS": ("food",),
    "DRINKS#QUALITY": ("food",),
    "DRINKS#STYLE_OPTIONS": ("food",),
    "FOOD#PRICES": ("price",),
    "DRINKS#PRICES": ("price",),
    "RESTAURANT#PRICES": ("price",),
    "SERVICE#GENERAL": ("service",),
    "AMBIENCE#GENERAL": ("ambience",),
    "RESTAURANT#GENERAL": (MISC,),
    "RESTAURANT#MISCELLANEOUS": (MISC,),
    "LOCATION#GENERAL": (MISC,),
}

SEMEVAL16_TO_THEMES: dict[str, tuple[str, ...]] = {
    "FOOD#QUALITY": ("food quality",),
    "FOOD#STYLE_OPTIONS": ("menu and options",),
    "DRINKS#QUALITY": ("drinks",),
    "DRINKS#STYLE_OPTIONS": ("drinks",),
    "FOOD#PRICES": ("price and value",),
    "DRINKS#PRICES": ("price and value",),
    "RESTAURANT#PRICES": ("price and value",),
    "SERVICE#GENERAL": ("service and staff",),
    "AMBIENCE#GENERAL": ("ambience and noise",),
    "LOCATION#GENERAL": ("location and parking",),
    "RESTAURANT#GENERAL": (GENERAL,),
    "RESTAURANT#MISCELLANEOUS": (GENERAL,),
}

SEMEVAL14_TO_THEMES: dict[str, tuple[str, ...]] = {
    "service": ("service and staff",),
    "price": ("price and value",),
    "ambience": ("ambience and noise",),
}
# The themes a 2014 category may stand for without saying which (see the module docstring).
SEMEVAL14_AMBIGUOUS_THEMES: dict[str, tuple[str, ...]] = {
    "food": ("food quality", "menu and options", "drinks"),
    MISC: (GENERAL, "location and parking"),
}


@dataclass(slots=True)
class AnnotatedSentence:
    text: str
    aspects: list[tuple[str, str]] = field(default_factory=list)  # (category, polarity), categories unique
    source: str = "semeval2014"
    sentence_id: str = ""
    terms: list[tuple[str, str, str, int, int]] = field(default_factory=list)  # (term, category|"", pol, from, to)
    out_of_scope: bool = False


def normalise(text: str) -> str:
    """NFKC, lower-case, whitespace collapsed (same key as training/ml/datasets.py)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def group_key(text: str) -> str:
    """Coarser near-duplicate key: lower-case alphanumerics only ("Highly recommended!!" == "highly recommended")."""
    return re.sub(r"[^0-9a-z]+", "", unicodedata.normalize("NFKC", text).lower())


def merge_polarities(polarities: Iterable[str]) -> str:
    """Several opinions on one category: identical -> that polarity; positive+negative -> conflict; else non-neutral."""
    found = set(polarities)
    if len(found) == 1:
        return next(iter(found))
    if "conflict" in found or {"positive", "negative"} <= found:
        return "conflict"
    found.discard("neutral")
    return next(iter(found)) if len(found) == 1 else "conflict"


def _root(source: str | Path | bytes):
    if isinstance(source, bytes):
        return ET.fromstring(source)
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return ET.fromstring(source)
    return ET.parse(source).getroot()


def parse_semeval2014(source: str | Path | bytes) -> list[AnnotatedSentence]:
    """Parse a SemEval-2014 Task 4 file (path, or the XML itself as str/bytes)."""
    out = []
    for sentence in _root(source).iter("sentence"):
        text = (sentence.findtext("text") or "").strip()
        if not text:
            continue
        cats: dict[str, list[str]] = {}
        for node in sentence.iter("aspectCategory"):
            cat, pol = node.get("category"), node.get("polarity")
            if cat and pol:
                cats.setdefault(cat, []).append(pol)
        terms = [
            (t.get("term", ""), "", t.get("polarity", ""), int(t.get("from", 0) or 0), int(t.get("to", 0) or 0))
            for t in sentence.iter("aspectTerm")
        ]
        out.append(
            AnnotatedSentence(
                text=text,
                aspects=[(c, merge_polarities(p)) for c, p in cats.items()],
                source="semeval2014",
                sentence_id=sentence.get("id", ""),
                terms=terms,
            )
        )
    return out


def parse_semeval2016(
    source: str | Path | bytes,
    *,
    mapping: Mapping[str, Sequence[str]] | None = None,
    include_out_of_scope: bool = False,
) -> list[AnnotatedSentence]:
    """Parse a SemEval-2016 Task 5 SB1 file.

    With ``mapping=None`` the aspects keep the raw ENTITY#ATTRIBUTE categories; otherwise each is mapped
    (to zero, one or several target categories) and polarities falling on one target are merged.
    OutOfScope sentences are skipped unless ``include_out_of_scope``.
    """
    out = []
    for sentence in _root(source).iter("sentence"):
        text = (sentence.findtext("text") or "").strip()
        oos = (sentence.get("OutOfScope") or "").upper() == "TRUE"
        if not text or (oos and not include_out_of_scope):
            continue
        cats: dict[str, list[str]] = {}
        terms = []
        for node in sentence.iter("Opinion"):
            cat, pol = node.get("category"), node.get("polarity")
            if not cat or not pol:
                continue
            targets = (cat,) if mapping is None else tuple(mapping.get(cat, ()))
            for target in targets:
                cats.setdefault(target, []).append(pol)
            target_term = node.get("target", "NULL")
            if target_term and target_term != "NULL":
                terms.append((target_term, cat, pol, int(node.get("from", 0) or 0), int(node.get("to", 0) or 0)))
        out.append(
            AnnotatedSentence(
                text=text,
                aspects=[(c, merge_polarities(p)) for c, p in cats.items()],
                source="semeval2016",
                sentence_id=sentence.get("id", ""),
                terms=terms,
                out_of_scope=oos,
            )
        )
    return out


def map_aspects(
    aspects: Iterable[tuple[str, str]], mapping: Mapping[str, Sequence[str]], taxonomy: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Map (category, polarity) pairs through ``mapping``; drop targets outside ``taxonomy``; merge collisions."""
    allowed = set(taxonomy) if taxonomy is not None else None
    cats: dict[str, list[str]] = {}
    for cat, pol in aspects:
        for target in mapping.get(cat, ()):
            if allowed is None or target in allowed:
                cats.setdefault(target, []).append(pol)
    return [(c, merge_polarities(p)) for c, p in cats.items()]


def semeval_paths(data_dir: str | Path) -> tuple[Path, Path]:
    data_dir = Path(data_dir)
    return (
        data_dir / "semeval2014_restaurants_train" / "Restaurants_Train_v2.xml",
        data_dir / "semeval2016_restaurants_train" / "ABSA16_Restaurants_Train_SB1_v2.xml",
    )


def load_semeval(data_dir: str | Path) -> tuple[list[AnnotatedSentence], list[AnnotatedSentence]]:
    """(2014 sentences with native categories, 2016 sentences with raw E#A categories); missing files -> []."""
    p14, p16 = semeval_paths(data_dir)
    s14 = parse_semeval2014(p14) if p14.exists() else []
    s16 = parse_semeval2016(p16) if p16.exists() else []
    return s14, s16


def to_semeval2014_scheme(sentence: AnnotatedSentence) -> list[tuple[str, str]]:
    """Aspects of any parsed sentence in the five 2014 categories (2016 sentences without opinion -> misc/neutral)."""
    if sentence.source == "semeval2014":
        return list(sentence.aspects)
    mapped = map_aspects(sentence.aspects, SEMEVAL16_TO_14)
    return mapped or [(MISC, "neutral")]


def to_semeval2016_scheme(sentence: AnnotatedSentence) -> list[tuple[str, str]] | None:
    """Aspects of a 2016 sentence in its own twelve E#A categories; None for a 2014 sentence (no E#A gold)."""
    if sentence.source != "semeval2016":
        return None
    return [(c, p) for c, p in sentence.aspects if c in SEMEVAL16_CATEGORIES]


def to_themes(sentence: AnnotatedSentence) -> list[tuple[str, str]]:
    """Aspects of any parsed sentence in the product themes (only the themes its source expresses exactly)."""
    if sentence.source == "themes":
        return [(c, p) for c, p in sentence.aspects if c in THEMES]
    mapping = SEMEVAL14_TO_THEMES if sentence.source == "semeval2014" else SEMEVAL16_TO_THEMES
    return map_aspects(sentence.aspects, mapping, THEMES)


def themes_known(sentence: AnnotatedSentence) -> frozenset[str]:
    """The themes whose presence or absence the sentence's gold states (``to_themes`` lists the present ones).

    2016 and theme annotations: the learned themes (not the cold-start ones, which no file annotates). 2014: also
    those behind its ambiguous categories when the sentence has none of them ("food" absent: no food-quality,
    menu or drinks mention)."""
    learned = frozenset(t for t in THEMES if t not in COLD_START_THEMES)
    if sentence.source != "semeval2014":
        return learned
    present = {c for c, _ in sentence.aspects}
    unknown = {t for c, themes in SEMEVAL14_AMBIGUOUS_THEMES.items() if c in present for t in themes}
    return learned - unknown


def near_duplicate_groups(texts: Sequence[str], *, cosine: float = 0.9) -> list[int]:
    """Group id per text: same ``group_key`` or word TF-IDF cosine >= ``cosine`` (union-find, transitive)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        key = group_key(text)
        if key in first:
            union(first[key], i)
        else:
            first[key] = i
    if len(texts) > 1:
        matrix = TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\b\w+\b").fit_transform(texts)
        for start in range(0, len(texts), 1000):
            sims = (matrix[start : start + 1000] @ matrix.T).toarray()
            rows, cols = np.nonzero(sims >= cosine)
            for r, c in zip(rows, cols):
                if start + r < c:
                    union(start + r, c)
    return [find(i) for i in range(len(texts))]


def leak_free_split(
    s14: Sequence[AnnotatedSentence],
    s16: Sequence[AnnotatedSentence],
    *,
    test_share: float = 0.2,
    seed: str = "aspects-v1",
    cosine: float = 0.9,
) -> tuple[dict[str, str], list[int]]:
    """Assign every normalised text of both files to "train" or "test", splitting by near-duplicate group.

    Returns ({normalised text: side}, group ids of the unique texts). A text shared by the 2014 and 2016 files is one
    unit; near-duplicates (``near_duplicate_groups``) share a side. Groups are ordered by a salted hash, so the split
    is fixed across runs and machines.
    """
    import hashlib

    unique: dict[str, str] = {}
    for sentence in list(s14) + list(s16):
        unique.setdefault(normalise(sentence.text), sentence.text)
    keys = list(unique)
    groups = near_duplicate_groups([unique[k] for k in keys], cosine=cosine)
    side: dict[str, str] = {}
    for key, group in zip(keys, groups):
        digest = hashlib.sha256(f"{seed}|{group_key(unique[keys[group]])}".encode()).digest()
        side[key] = "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_share else "train"
    return side, groups
