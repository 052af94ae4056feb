"""Comment topics are found on lemmas: an inflected form of a term, as simplemma's own dictionary
data lists it (nl "wachten": "wachtte", "gewacht"; fr "attendre": "attendu", "attendait"), anywhere
in a comment and in any case, tags the comment with the term's topic; a comment without the terms
gets no topic. Phrases match as consecutive words; accents and case do not matter."""

from __future__ import annotations

from functools import cache

from hoera_events.common import Language
from hoera_events.organisation import CommentTopic, Labels, TopicTerms
from hoera_survey.topics import tag
from hypothesis import given, settings
from hypothesis import strategies as st
from simplemma.strategies.dictionaries import DEFAULT_DICTIONARY_FACTORY


def _topic(code: str, nl: list[str], fr: list[str], en: list[str]) -> CommentTopic:
    return CommentTopic(
        code=code, labels=Labels(nl=code, fr=code, en=code), terms=TopicTerms(nl=nl, fr=fr, en=en)
    )


# The demo organisation's topics (services/intake/rules/templates/*/organisation.json), as an operator
# writes them: dictionary forms, a phrase among them.
TOPICS = [
    _topic("waiting", ["wachten", "wachttijd", "lang duren"], ["attendre", "attente", "durer"], ["wait"]),
    _topic("payment", ["terugbetaling", "betalen", "factuur"], ["rembourser", "payer", "facture"], ["pay"]),
    _topic("attitude", ["onvriendelijk", "luisteren"], ["impoli", "désagréable", "écouter"], ["rude"]),
    _topic("reachability", ["bereikbaar", "telefoon"], ["joindre", "rappeler", "téléphone"], ["phone"]),
]

FILLER = {
    Language.nl: [
        *("ik", "heb", "de", "medewerker", "gisteren", "over", "mijn", "dossier", "een", "vraag"),
        *("gesteld", "en", "het", "was", "echt", "goed"),
    ],
    Language.fr: [
        *("j'ai", "posé", "hier", "une", "question", "sur", "mon", "dossier", "au", "conseiller"),
        *("et", "c'était", "vraiment", "très", "bien"),
    ],
}
"""Words of a comment that name no topic."""


@cache
def inflected_forms(language: Language) -> list[tuple[str, str]]:
    """(topic code, form) for every form simplemma's dictionary lists with a single-word term of the
    topics as its lemma, other than the term itself."""
    lemma_of = DEFAULT_DICTIONARY_FACTORY.get_dictionary(language.value)
    topic_of = {
        term: topic.code
        for topic in TOPICS
        for term in getattr(topic.terms, language.value)
        if " " not in term
    }
    return sorted(
        (topic_of[lemma], form)
        for form, lemma in lemma_of.items()
        if lemma in topic_of and form != lemma and form.isalpha() and form.islower()
    )


def test_the_dictionary_data_has_the_inflected_forms_customers_write() -> None:
    dutch, french = set(inflected_forms(Language.nl)), set(inflected_forms(Language.fr))
    assert {("waiting", "wachtte"), ("waiting", "gewacht"), ("payment", "betaald")} <= dutch
    assert {("waiting", "attendu"), ("waiting", "attendait"), ("payment", "remboursé")} <= french
    assert len(dutch) > 30 and len(french) > 100


def _sentence(words: list[str], form: str, at: int) -> str:
    at = min(at, len(words))
    return " ".join([*words[:at], form, *words[at:]]) + "."


@st.composite
def comments_with_a_term(draw: st.DrawFn) -> tuple[Language, str, str]:
    language = draw(st.sampled_from([Language.nl, Language.fr]))
    code, form = draw(st.sampled_from(inflected_forms(language)))
    cased = draw(st.sampled_from([str.lower, str.capitalize, str.upper]))(form)
    words = draw(st.lists(st.sampled_from(FILLER[language]), max_size=12))
    return language, code, _sentence(words, cased, draw(st.integers(0, 12)))


@settings(max_examples=300, deadline=None)
@given(comments_with_a_term())
def test_an_inflected_form_of_a_term_tags_the_comment_with_its_topic(case: tuple[Language, str, str]) -> None:
    language, code, comment = case
    assert code in tag(comment, TOPICS, language), comment


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Language.nl, Language.fr]).flatmap(
        lambda language: st.tuples(
            st.just(language), st.lists(st.sampled_from(FILLER[language]), max_size=20)
        )
    )
)
def test_a_comment_without_the_terms_gets_no_topic(case: tuple[Language, list[str]]) -> None:
    language, words = case
    assert tag(" ".join(words), TOPICS, language) == []


def test_a_phrase_matches_its_words_in_a_row_in_any_inflection() -> None:
    assert tag("Het heeft zo lang geduurd.", TOPICS, Language.nl) == ["waiting"]
    assert tag("Het was lang, en het bleef maar duren.", TOPICS, Language.nl) == []


def test_case_and_accents_do_not_matter_and_the_tenants_order_is_kept() -> None:
    comment = (
        "Impossible de vous joindre par TELEPHONE, et le conseiller était desagreable; j'ai payé deux fois."
    )
    assert tag(comment, TOPICS, Language.fr) == ["payment", "attitude", "reachability"]


def test_an_elided_word_and_the_answers_language_count() -> None:
    assert tag("L'attente était longue.", TOPICS, Language.fr) == ["waiting"]
    assert tag("J'attendais votre appel.", TOPICS, Language.fr) == ["waiting"]
    # Terms are the answer's language's: a Dutch comment is not searched for English words.
    assert tag("I waited for ages", TOPICS, Language.en) == ["waiting"]
    assert tag("I waited for ages", TOPICS, Language.nl) == []


def test_no_comment_or_no_topics_tags_nothing() -> None:
    assert tag(None, TOPICS, Language.nl) == []
    assert tag("", TOPICS, Language.nl) == []
    assert tag("Ik wachtte een uur.", [], Language.nl) == []
