"""Tagging a customer's comment with the tenant's comment topics (Organisation.feedback.topics).

Why lemmas: the operator writes a topic's terms once, in their dictionary form ("wachten",
"attendre", "lang duren"), and customers write them inflected ("ik wachtte", "gewacht", "j'ai
attendu", "ça a duré"). A plain word match would miss most of them, and a list of every form per
term is more than an operator can keep. simplemma lemmatizes nl, fr and en from dictionaries it ships
itself (nothing fetched at run time; the frugal dictionary backend keeps a replica small).

How a term matches: the comment is cut into word tokens, and each token stands for its surface form
and its lemma; a term (a word or a phrase) stands for its words' surface forms and lemmas; a term
matches where its words match consecutive tokens of the comment, each on its surface form or its
lemma. Both sides are compared lower-case and without accents ("telephone" finds "téléphone"), and
without the joins the dictionaries write in separable verbs ("terug_bellen"). A term matches on its
own lemma as well as on its own form because a dictionary form can be ambiguous: "wachten" is the
verb and the plural of "wacht", and must find "wachtte" as much as "wachten".

Only the codes of the topics found leave this module (they go into SurveyAnswered); the words stay.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from hoera_events.common import Language
from hoera_events.organisation import CommentTopic
from simplemma import Lemmatizer
from simplemma.strategies import DefaultStrategy

_LEMMATIZER = Lemmatizer(lemmatization_strategy=DefaultStrategy(low_memory=True))
_WORD = re.compile(r"\w(?:[\w\-]|['’](?=\w))*")
"""A word: letters and digits, joined by hyphens and apostrophes (l'attente, e-mail)."""
_APOSTROPHES = "'’"


def _fold(text: str) -> str:
    """Lower-case, without accents or the joins of compound and separable words."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("_", "").replace("-", "")


def _lemma(word: str, language: Language) -> str:
    return _LEMMATIZER.lemmatize(word, language.value)


@lru_cache(maxsize=65536)
def _keys(word: str, language: Language) -> frozenset[str]:
    """What one word of a comment or of a term may match on: its folded form and lemmas. After an
    elision (l'attente, j'attendais) the word after the apostrophe counts too."""
    forms = {word, word.lower()}
    for apostrophe in _APOSTROPHES:
        if apostrophe in word:
            forms.add(word.rsplit(apostrophe, 1)[1])
    keys: set[str] = set()
    for form in forms:
        if not form:
            continue
        keys.add(_fold(form))
        keys.add(_fold(_lemma(form, language)))
    keys.discard("")
    return frozenset(keys)


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text))


@dataclass(frozen=True)
class _Term:
    topic: str
    words: tuple[frozenset[str], ...]
    """Per word of the term, the keys it matches on."""


def _terms(topics: Iterable[CommentTopic], language: Language) -> list[_Term]:
    terms = []
    for topic in topics:
        for term in getattr(topic.terms, language.value):
            words = _words(term)
            if words:
                terms.append(_Term(topic.code, tuple(_keys(w, language) for w in words)))
    return terms


def tag(comment: str | None, topics: Sequence[CommentTopic], language: Language) -> list[str]:
    """The codes of the topics whose terms (in the comment's language) the comment contains, in the
    order the tenant lists its topics; none for no comment."""
    if not comment or not topics:
        return []
    found = _found(comment, _terms(topics, language), language)
    return [topic.code for topic in topics if topic.code in found]


def _found(comment: str, terms: list[_Term], language: Language) -> set[str]:
    tokens = [_keys(word, language) for word in _words(comment)]
    found: set[str] = set()
    for term in terms:
        if term.topic in found:
            continue
        size = len(term.words)
        for start in range(len(tokens) - size + 1):
            if all(term.words[i] & tokens[start + i] for i in range(size)):
                found.add(term.topic)
                break
    return found
