"""Linguistic patterns of suggestions and advice (pure Python + regex, no Django, no tagger).

A suggestion either proposes an improvement ("They should open earlier", "Would be nice to have decaf",
"Please add oat milk") or advises other customers ("Book ahead", "Don't miss the soufflé", "If you go, ask
for the corner booth"). What marks it is structure, not topic: modals with a business or "you" as subject,
an imperative at the start of a clause, wishes and hopes about what others do, "please", "make sure",
first-person "I'd recommend". Each pattern has its look-alikes, handled here:

- "Love this place", "Loved the food", "Thanks to Sarah": emotion verbs and past forms are not imperatives.
- "I would definitely come back", "It must be the best pizza", "You could taste the freshness", "I should have
  known better", "We had to wait": modals about the writer's own experience or an evaluation, not a proposal.
- "Don't get me wrong", "Keep up the good work", "Let me tell you", "Please note this review...": fixed phrases.

``pattern_matrix`` turns sentences into these cues as numeric columns for a learner; ``shape_text`` gives a
content-free view of a sentence (function words kept, other words reduced to a word class) so that a learner
trained on forum text leans on structure that transfers to reviews instead of forum topic words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)?|[?!]")
_NO_APOSTROPHE = {"dont": "don't", "doesnt": "doesn't", "cant": "can't", "wont": "won't", "id": "i'd", "im": "i'm"}

# Base-form verbs that open advice or a request to a business ("Try the tacos", "Add a kids menu"), including the
# forum's requests ("Enable", "Allow", "Provide"). Emotion and thanking verbs are left out on purpose.
IMPERATIVE_VERBS = frozenset(
    """add allow ask avoid book bring buy call change charge check choose clean come consider contact continue
    create cut dim do download drop enable expect expose extend fix follow get give go grab head hire implement
    improve include install introduce invest keep label leave let limit look lower make move offer open opt order
    park pay pick plan play prepare provide put raise read reduce register remember remove replace request reserve
    return run save sell send serve share show sign sit skip start stay stick stop support switch take tell tip
    train try turn update upgrade use visit wait walk wash watch wear""".split()
)
# Function words kept as themselves in the shape view; every other word is reduced to its class.
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any more most less all every each no not never n't
    i me my we us our you your yourself they them their he she it its his her one someone anyone everyone
    is are was were be been being am do does did done have has had having will would shall should can could may
    might must ought need needs needed to of in on at for with from by about into than then so if when while
    unless because but and or also just only really definitely maybe perhaps probably please thanks thank
    there here what why how who which where instead rather better best nice great good worth
    i'd i'll i'm i've you'd you'll you're you've they'd they'll they're it'd it'll it's that's there's let's
    don't doesn't didn't won't wouldn't can't couldn't shouldn't isn't wasn't aren't weren't haven't hasn't
    wish hope hopefully recommend recommended suggest suggestion advice advise tip like love loved want wanted
    sure next time again back ? !""".split()
)
_FEELING_START = re.compile(
    r"^\W*(love[sd]?|loving|like[sd]?|enjoy(ed)?|hate[sd]?|adore[sd]?|miss(ed)?|thanks?|thank you|kudos|cheers"
    r"|congrats|shout out|hats off|big thanks)\b"
)
_LEAD_IN = re.compile(
    r"^\W*((so|and|also|then|just|definitely|seriously|honestly|oh|but|ps|p\.s\.|please|pls|plz|really|always|next time"
    r"|(just )?a heads up|in the future|otherwise"
    r"|(my |one |a )?(advice|tip|suggestion|recommendation)\s*[:,\-]|pro tip\s*[:,\-]?|bottom line\s*[:,\-])[\s,:]+)*"
)
_NOT_IMPERATIVE = re.compile(
    r"^(\w+\s*:|(let me|let's|let us just|keep (it )?up|go figure|go team|remember when|clean \w+(?=,)"
    r"|look at (the|that|this) \w+ of|try as|make no mistake"
    r"|mark my words|check ?(out|in)? (was|is|were)|say what|guess what|imagine|picture|talk about|mind you"
    r"|believe me|trust me|ask me)\b)"
)
_NEGATIVE_IMPERATIVE = re.compile(r"^(don'?t|do not|never|dont)\s+(?!get me|know|think|even|let the|judge|wanna)\w+")
_CLAUSE_BREAK = re.compile(r"[,;:\u2013\u2014-]\s+(?:and\s+|then\s+|but\s+|so\s+|or\s+)?|\s+(?:and|then|but)\s+")

_PATTERNS: dict[str, re.Pattern] = {
    # a business, a product or "you" told what to do through a modal
    "modal_proposal": re.compile(
        r"\b(they|management|the (hotel|restaurant|owners?|staff|manager|company|app|shop|store|kitchen|servers?|"
        r"manufacturer|website|bar|cafe)|it|this|someone|you|microsoft|we)\s+(really\s+|definitely\s+|seriously\s+)?"
        r"(should|ought to|needs? to|must|could|might want to|have to|has to|gotta)\s+(?!have\s+(been|known|had))"
        r"(?!be (proud|applauded|ashamed|noted|lucky))(?!taste|tell|see|hear|barely|not have|never)"
    ),
    "noun_should": re.compile(
        r"\b(the|their|this|these|your|our) \w+( \w+)? (should|ought to|needs? to|has to|have to)\s+"
        r"(really\s+|definitely\s+)?(?!have been|be (proud|applauded|fine|noted|ok|lucky))"
    ),
    "passive_proposal": re.compile(
        r"\b(should|could|needs? to|must|ought to)\s+(really\s+|definitely\s+|easily\s+)?be\s+(\w+ed|better|bigger|"
        r"cheaper|cleaner|faster|longer|larger|warmer|hotter|more|less|made|done|taken|given|shown|sold|open)\b"
        r"(?!\s+(by|than) (the best|any))"
    ),
    "should_start": re.compile(r"^\W*(should|could|would|can|will) (you|they|we|microsoft|it)\b.*\?"),
    "could_use": re.compile(
        r"\b(could|would) (really |definitely )?(use|do with|benefit from)\b|\bwould go a long way\b"
        r"|\b(are|is) (badly |really |definitely |sorely )?needed\b|\bheads up\b|\bbetter off\b"
    ),
    # any subject + a modal of obligation + an action verb: "Sony should redesign it", "HP needs to stop"
    "modal_action": re.compile(
        r"(?<!\ba )\b(should|ought to|needs? to|must|could)\s+(really |definitely |just |seriously |at least |also |"
        r"consider |think about )?("
        + "|".join(sorted(IMPERATIVE_VERBS - {"do", "come", "go", "run", "look", "let"}))
        + r"|redesign|rethink|hire|invest|renovate|refurbish|repaint|simplify|lower|stock|listen|focus)\b"
    ),
    "would_be_nice": re.compile(
        r"\b(would|'d|it'd|will|might)\s+(be|make)\s+(really |so |very |even |a lot |much )?"
        r"(nice|great|good|better|helpful|useful|awesome|ideal|perfect|lovely|welcome|cool|handy|easier|"
        r"a (big |huge |nice |great |welcome )?(plus|improvement|help|bonus|addition|difference))\b"
        r"(?!.*\b(date|gift|spot|place for)\b)"
    ),
    "would_have_made": re.compile(
        r"\bwould (have )?(made|make|help|improve|have been) (it |this |things |a lot |a big difference|the \w+ )?"
        r"(perfect|better|nicer|great|ideal|easier|a lot|much|so much)?"
    ),
    "if_i_were": re.compile(r"\bif (i were|i was|i owned|i ran)\b|\bif (they|the \w+) [^.?!]*\b(would|could)\b"),
    "wish_hope_other": re.compile(
        r"\b(wish|hope|hopefully|fingers crossed)\b(?!\s+(i|we|to|you enjoy|me|this review|this helps))"
        r"(?!.*\b(i could|lived|had (found|bought|known)|sooner)\b)"
    ),
    "would_love_prefer": re.compile(
        r"\b(i'd|i would|we'd|we would|would)\s+(love|like|prefer|appreciate)\s+"
        r"(to see|it if|if|a|an|some|more|the option)\b"
    ),
    "please_request": re.compile(
        r"\b(please|pls|plz)\b(?!\s*,?\s*(note|excuse|wait to be seated|keep it down|and thank))"
    ),
    "recommend_first_person": re.compile(
        r"\b(i|we)\s+(would\s+|'d\s+|'d |highly\s+|strongly\s+|definitely\s+|also\s+|really\s+)*"
        r"(recommend|suggest|advise)\b(?!\s+it\?)|\b(advise|recommend|warn) against\b"
    ),
    "advice_noun": re.compile(r"\b(my|one|a|pro|quick|top)\s+(advice|tip|suggestion|recommendation)\b|^\W*tip\s*[:\-]"),
    "make_sure": re.compile(
        r"\b(make sure|be sure|remember to|don't forget|do not forget|be careful|be prepared|be aware|beware)\b"
    ),
    "dont_miss": re.compile(
        r"\b(don'?t|do not) (miss|bother|waste|buy|order|go|get(?! me)|expect|stay|skip|forget|eat|park)\b"
    ),
    "avoid_stay_away": re.compile(r"\b(avoid|stay away|steer clear|skip|look elsewhere|go somewhere else)\b"),
    "if_you": re.compile(
        r"\b(if|when|unless) you('re| are| want| have| go| plan| need| can| like| order| buy| visit)?\b"
    ),
    "you_should": re.compile(
        r"\byou\s+(really\s+|definitely\s+|absolutely\s+)?(should|must|have to|need to|gotta|might want to|may want to|"
        r"ought to|'d better|better)\s+(?!see|have seen|taste|be (lucky|proud))"
    ),
    "worth_it": re.compile(
        r"\b(it's|it is|is) (well )?worth (paying|getting|ordering|the extra|trying|booking)\b|^\W*best to\b"
        r"|\b(it's|it is|is) (much |far |always )?(better|best|wiser|smarter|cheaper) to\b"
        r"|^\W*(definitely |well |really )?worth (\w+ing)\b|^\W*(highly )?recommend (\w+ing|the)\b"
    ),
    "consider": re.compile(r"\b(consider|why not|how about|what about|instead of|rather than|in advance|ahead)\b"),
    "need_more": re.compile(
        r"\b(needs?|could use|requires?)\s+(a |an |some |more |better |less |bigger |new |proper |to be )"
    ),
    "comparative_would": re.compile(
        r"\b(more|less|bigger|smaller|better|cheaper|longer|shorter|faster)\b.*\b(would|could)\b"
    ),
    "next_time": re.compile(r"\bnext time\b(?!.*\b(i|we|i'm|we're|i'll|we'll)\b)"),
    "question": re.compile(r"\?\s*$"),
    "second_person": re.compile(r"\b(you|your|you'll|you're|yourself)\b"),
    # look-alikes: an experience or an evaluation told with a modal, a need, a wish about oneself
    "own_experience_modal": re.compile(
        r"\b(i|we|i'd|we'd)\s+(would|will|'ll|could|might|must|should)?\s*(definitely |probably |never |not |happily |"
        r"certainly |totally )?(come|be|go|stay|buy|eat|order|return|give|rate|say|pay|have (known|ordered|read|"
        r"listened|bought|stayed)|admit|add|mention)\b"
    ),
    # "should be fine", "must be the best", "what a cafe should be": an evaluation, not a proposal
    "modal_evaluation": re.compile(
        r"\b(should|must|might|could|can)\s+(be\s+(fine|ok|okay|good enough|proud|applauded|illegal|like|lucky|worse|"
        r"doing|noted|mentioned|said)|last|arrive|get an award|taste)\b|\b(what|how)\b[^.?!]*\b(should|must)\b"
        r"|\ba must\b"
    ),
    "past_obligation": re.compile(r"\b(had to|needed|were told|was told|asked (us|me) to|told (us|me) to)\b"),
    "must_be_evaluation": re.compile(
        r"\b(must|has to|have to|should|could|can|might)\s+(be|have been)\s+(the|one of|a|an)\b"
    ),
    "cannot_wait": re.compile(
        r"\b(can'?t wait|could not (be|have)|couldn't (be|have)|can'?t go wrong|won't (be )?disappoint"
        r"|can'?t say enough)"
    ),
    "you_can_perceive": re.compile(
        r"\byou\s+(can|could|would)\s+(taste|tell|see|hear|feel|smell|never guess|barely)\b"
    ),
}
PATTERN_NAMES = (
    *_PATTERNS,
    "imperative_start",
    "imperative_clause",
    "negative_imperative",
    "feeling_start",
    "past_start",
)


# Cues that on their own make a sentence a suggestion, and look-alikes that cancel one of them.
RULE_CUES = (
    "imperative_start",
    "imperative_clause",
    "negative_imperative",
    "please_request",
    "would_be_nice",
    "modal_proposal",
    "noun_should",
    "passive_proposal",
    "should_start",
    "could_use",
    "recommend_first_person",
    "make_sure",
    "dont_miss",
    "wish_hope_other",
    "would_love_prefer",
    "advice_noun",
    "you_should",
    "avoid_stay_away",
    "need_more",
    "worth_it",
    "modal_action",
    "would_have_made",
    "if_i_were",
)
RULE_BLOCKERS = (
    "own_experience_modal",
    "past_obligation",
    "must_be_evaluation",
    "modal_evaluation",
    "cannot_wait",
    "you_can_perceive",
    "feeling_start",
    "past_start",
)
_CUE_COLUMNS = [PATTERN_NAMES.index(name) for name in RULE_CUES]
_BLOCKER_COLUMNS = [PATTERN_NAMES.index(name) for name in RULE_BLOCKERS]


def normalise(sentence: str) -> str:
    """Lower-case with straight apostrophes and collapsed whitespace (the patterns read this form)."""
    return " ".join(sentence.translate(_APOSTROPHES).lower().split())


def tokens(sentence: str) -> list[str]:
    return [_NO_APOSTROPHE.get(token, token) for token in _TOKEN.findall(normalise(sentence))]


def _opens_with_imperative(clause: str) -> bool:
    clause = _LEAD_IN.sub("", clause)
    if not clause or _NOT_IMPERATIVE.match(clause) or _FEELING_START.match(clause):
        return False
    words = _TOKEN.findall(clause)
    if not words:
        return False
    if words[0] == "be" and len(words) > 1 and words[1] in {"sure", "careful", "prepared", "aware", "ready", "warned"}:
        return True
    # "Check out was at 11": the verb-looking word is the subject of a finite verb.
    if any(word in {"was", "were", "is", "are", "has", "had"} for word in words[1:3]):
        return False
    return words[0] in IMPERATIVE_VERBS


def imperative_start(sentence: str) -> bool:
    return _opens_with_imperative(normalise(sentence))


def imperative_clause(sentence: str) -> bool:
    """An imperative opening a later clause: "If you go, ask for the corner booth", "Get the pho, skip the rolls"."""
    clauses = _CLAUSE_BREAK.split(normalise(sentence))[1:]
    return any(_opens_with_imperative(clause) for clause in clauses)


def negative_imperative(sentence: str) -> bool:
    text = _LEAD_IN.sub("", normalise(sentence))
    return bool(_NEGATIVE_IMPERATIVE.match(text)) or any(
        _NEGATIVE_IMPERATIVE.match(clause) for clause in _CLAUSE_BREAK.split(text)[1:]
    )


def pattern_row(sentence: str) -> list[float]:
    text = normalise(sentence)
    row = [1.0 if pattern.search(text) else 0.0 for pattern in _PATTERNS.values()]
    first = (_TOKEN.findall(_LEAD_IN.sub("", text)) or [""])[0]
    row += [
        float(_opens_with_imperative(text)),
        float(imperative_clause(text)),
        float(negative_imperative(text)),
        float(bool(_FEELING_START.match(text))),
        float(
            first.endswith("ed") or first in {"went", "got", "had", "came", "took", "bought", "made", "found", "left"}
        ),
    ]
    return row


def pattern_matrix(sentences: Sequence[str]) -> np.ndarray:
    """One row per sentence, one 0/1 column per name in PATTERN_NAMES."""
    return np.array([pattern_row(sentence) for sentence in sentences], dtype=np.float64).reshape(
        len(sentences), len(PATTERN_NAMES)
    )


def _margin(patterns: np.ndarray) -> np.ndarray:
    cues = patterns[:, _CUE_COLUMNS].sum(axis=1)
    blockers = patterns[:, _BLOCKER_COLUMNS].sum(axis=1)
    return np.where(cues > 0, cues - blockers, -1.0)


def rule_margin(sentences: Sequence[str]) -> np.ndarray:
    """Cues minus look-alikes when a cue fires, else -1: the rule says "suggestion" at a margin of 1 or more."""
    return _margin(pattern_matrix(sentences))


def pattern_features(sentences: Sequence[str]) -> np.ndarray:
    """The pattern columns plus the rule's verdict (a cue that no look-alike cancels), for a learner."""
    patterns = pattern_matrix(sentences)
    return np.hstack([patterns, (_margin(patterns) >= 1).astype(np.float64)[:, None]])


def _word_class(word: str) -> str:
    if word[0].isdigit():
        return "NUM"
    if word in IMPERATIVE_VERBS:
        return "VB"
    for suffix, name in (("ing", "W_ING"), ("ed", "W_ED"), ("ly", "W_LY"), ("s", "W_S")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return name
    return "W"


def shape_text(sentence: str) -> str:
    """ "Please add more staff on Fridays." -> "BOS please VB more W on W_S"; topic words leave no trace."""
    shaped = ["BOS"]
    for word in tokens(sentence):
        shaped.append(word if word in FUNCTION_WORDS else _word_class(word))
    return " ".join(shaped)
