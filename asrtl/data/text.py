"""Text in a language's own script: CLDR strings from ``babel``, normalised into words.

Everything here is pure Python: the eSpeak filter (words eSpeak spells out letter by letter)
lives in :mod:`asrtl.data.embedded`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping

from asrtl.errors import UserError

# NFC keeps these Bengali-script letters decomposed (composition exclusions); eSpeak then
# spells the word out. Precompose them before synthesis.
_PRECOMPOSE = {
    "\u09af\u09bc": "\u09df",  # য় YYA
    "\u09a1\u09bc": "\u09dc",  # ড় RRA
    "\u09a2\u09bc": "\u09dd",  # ঢ় RHA
}
_TURKIC_LOWER = str.maketrans({"I": "ı", "İ": "i"})
_PLACEHOLDER = re.compile(r"\{\d+\}")
_ALLOWED_EXTRA = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: part of Indic spelling


def normalize(text: str, turkic: bool = False) -> str:
    """NFC-normalises, precomposes Bengali nukta letters and lower-cases ``text``.

    Args:
        text: any string.
        turkic: lower-case dotted/dotless I the Turkish way (``I`` -> ``ı``).

    Returns:
        The normalised string, whitespace collapsed.
    """
    text = unicodedata.normalize("NFC", text)
    for decomposed, composed in _PRECOMPOSE.items():
        text = text.replace(decomposed, composed)
    if turkic:
        text = text.translate(_TURKIC_LOWER)
    return " ".join(text.lower().split())


def char_script(ch: str) -> str:
    """The Unicode script of ``ch`` as the first word of its name (``"BENGALI"``, ``"LATIN"``)."""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


def in_script(word: str, script: str) -> bool:
    """True when every letter and mark of ``word`` belongs to ``script`` (e.g. ``"BENGALI"``)."""
    for ch in word:
        if ch in _ALLOWED_EXTRA:
            continue
        if unicodedata.category(ch)[0] not in "LM":
            return False
        if char_script(ch) != script:
            return False
    return bool(word)


def _strings(node: object) -> Iterator[str]:
    """Every string inside a (nested) babel locale data mapping."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


CLDR_FIELDS = ("languages", "territories", "scripts", "variants", "currency_names",
               "currency_names_plural", "months", "days", "quarters", "eras", "day_periods",
               "unit_display_names", "unit_patterns", "time_zones", "meta_zones", "date_fields",
               "measurement_systems")


def cldr_strings(locale: str) -> list[str]:
    """Display strings of a CLDR locale: names of languages, territories, currencies, units...

    Raises:
        ValueError: when babel has no such locale.
    """
    from babel import Locale, UnknownLocaleError

    try:
        loc = Locale.parse(locale)
    except (UnknownLocaleError, ValueError) as e:
        raise UserError(f"CLDR (babel) has no locale {locale!r}") from e
    out: list[str] = []
    for field in CLDR_FIELDS:
        out.extend(_strings(loc._data[field]) if field in loc._data else [])
    return out


def split_words(phrase: str, script: str, turkic: bool = False) -> list[str]:
    """Normalised words of ``phrase`` written entirely in ``script``.

    Punctuation, symbols and ``{0}`` placeholders split words; words holding digits or
    letters of other scripts are dropped.
    """
    phrase = _PLACEHOLDER.sub(" ", phrase)
    phrase = "".join(" " if unicodedata.category(c)[0] in "PSZN" else c for c in phrase)
    return [w for w in normalize(phrase, turkic).split() if in_script(w, script)]


def cldr_words(locale: str, script: str, turkic: bool = False) -> list[str]:
    """Distinct words in ``script`` from the CLDR data of ``locale``, in a stable sorted order."""
    words: set[str] = set()
    for phrase in cldr_strings(locale):
        words.update(split_words(phrase, script, turkic))
    return sorted(words)


def out_of_script(text: str, script: str) -> list[str]:
    """Characters of ``text`` (besides spaces, punctuation, digits) that are not in ``script``."""
    bad = []
    for ch in text:
        if ch.isspace() or ch in _ALLOWED_EXTRA or unicodedata.category(ch)[0] in "PSN":
            continue
        if char_script(ch) != script:
            bad.append(ch)
    return bad


def word_counts(texts: Iterable[str]) -> dict[str, int]:
    """Word frequencies over whitespace-split ``texts``."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in text.split():
            counts[w] = counts.get(w, 0) + 1
    return counts
