"""The language registry: lowercase English name -> eSpeak NG voice, CLDR locale, script, ISO.

Covers every eSpeak NG language whose CLDR data (via ``babel``) gives at least 1,000 distinct
words that eSpeak reads natively (scanned with ``tools/scan_languages.py``). Real corpora may
use any label; the registry is for the embedded corpus and for resolving names.
"""

from __future__ import annotations

from dataclasses import dataclass

from asrtl.errors import UserError


@dataclass(frozen=True)
class Language:
    """One language of the embedded corpus.

    Attributes:
        name: lowercase English name, the key users type (``bengali``).
        iso: ISO 639 code (``bn``), stored in manifests and checkpoint metadata.
        voice: eSpeak NG voice (``bn``); a variant is appended as ``bn+f3``.
        locale: CLDR locale read through babel (``bn``).
        script: Unicode script of its words, as in character names (``BENGALI``).
    """

    name: str
    iso: str
    voice: str
    locale: str
    script: str

    @property
    def turkic_casing(self) -> bool:
        """Whether ``I`` lower-cases to dotless ``ı`` (Turkish, Azerbaijani)."""
        return self.iso in ("tr", "az")


def _lang(name: str, iso: str, voice: str, script: str) -> Language:
    return Language(name=name, iso=iso, voice=voice, locale=iso, script=script)


LANGUAGES: dict[str, Language] = {lang.name: lang for lang in (
    _lang('afrikaans', 'af', 'af', 'LATIN'),
    _lang('albanian', 'sq', 'sq', 'LATIN'),
    _lang('amharic', 'am', 'am', 'ETHIOPIC'),
    _lang('arabic', 'ar', 'ar', 'ARABIC'),
    _lang('armenian', 'hy', 'hy', 'ARMENIAN'),
    _lang('assamese', 'as', 'as', 'BENGALI'),
    _lang('azerbaijani', 'az', 'az', 'LATIN'),
    _lang('basque', 'eu', 'eu', 'LATIN'),
    _lang('belarusian', 'be', 'be', 'CYRILLIC'),
    _lang('bengali', 'bn', 'bn', 'BENGALI'),
    _lang('bosnian', 'bs', 'bs', 'LATIN'),
    _lang('bulgarian', 'bg', 'bg', 'CYRILLIC'),
    _lang('burmese', 'my', 'my', 'MYANMAR'),
    _lang('catalan', 'ca', 'ca', 'LATIN'),
    _lang('chuvash', 'cv', 'cv', 'CYRILLIC'),
    _lang('croatian', 'hr', 'hr', 'LATIN'),
    _lang('czech', 'cs', 'cs', 'LATIN'),
    _lang('danish', 'da', 'da', 'LATIN'),
    _lang('dutch', 'nl', 'nl', 'LATIN'),
    _lang('english', 'en', 'en-us', 'LATIN'),
    _lang('esperanto', 'eo', 'eo', 'LATIN'),
    _lang('estonian', 'et', 'et', 'LATIN'),
    _lang('finnish', 'fi', 'fi', 'LATIN'),
    _lang('french', 'fr', 'fr', 'LATIN'),
    _lang('georgian', 'ka', 'ka', 'GEORGIAN'),
    _lang('german', 'de', 'de', 'LATIN'),
    _lang('greek', 'el', 'el', 'GREEK'),
    _lang('gujarati', 'gu', 'gu', 'GUJARATI'),
    _lang('haitian creole', 'ht', 'ht', 'LATIN'),
    _lang('hebrew', 'he', 'he', 'HEBREW'),
    _lang('hindi', 'hi', 'hi', 'DEVANAGARI'),
    _lang('hungarian', 'hu', 'hu', 'LATIN'),
    _lang('icelandic', 'is', 'is', 'LATIN'),
    _lang('indonesian', 'id', 'id', 'LATIN'),
    _lang('interlingua', 'ia', 'ia', 'LATIN'),
    _lang('irish', 'ga', 'ga', 'LATIN'),
    _lang('italian', 'it', 'it', 'LATIN'),
    _lang('kannada', 'kn', 'kn', 'KANNADA'),
    _lang('kazakh', 'kk', 'kk', 'CYRILLIC'),
    _lang('konkani', 'kok', 'kok', 'DEVANAGARI'),
    _lang('korean', 'ko', 'ko', 'HANGUL'),
    _lang('kurdish', 'ku', 'ku', 'LATIN'),
    _lang('kyrgyz', 'ky', 'ky', 'CYRILLIC'),
    _lang('latvian', 'lv', 'lv', 'LATIN'),
    _lang('lithuanian', 'lt', 'lt', 'LATIN'),
    _lang('luxembourgish', 'lb', 'lb', 'LATIN'),
    _lang('macedonian', 'mk', 'mk', 'CYRILLIC'),
    _lang('malay', 'ms', 'ms', 'LATIN'),
    _lang('malayalam', 'ml', 'ml', 'MALAYALAM'),
    _lang('maltese', 'mt', 'mt', 'LATIN'),
    _lang('maori', 'mi', 'mi', 'LATIN'),
    _lang('marathi', 'mr', 'mr', 'DEVANAGARI'),
    _lang('nepali', 'ne', 'ne', 'DEVANAGARI'),
    _lang('norwegian', 'nb', 'nb', 'LATIN'),
    _lang('odia', 'or', 'or', 'ORIYA'),
    _lang('persian', 'fa', 'fa', 'ARABIC'),
    _lang('polish', 'pl', 'pl', 'LATIN'),
    _lang('portuguese', 'pt', 'pt', 'LATIN'),
    _lang('punjabi', 'pa', 'pa', 'GURMUKHI'),
    _lang('quechua', 'qu', 'qu', 'LATIN'),
    _lang('romanian', 'ro', 'ro', 'LATIN'),
    _lang('russian', 'ru', 'ru', 'CYRILLIC'),
    _lang('scottish gaelic', 'gd', 'gd', 'LATIN'),
    _lang('serbian', 'sr', 'sr', 'CYRILLIC'),
    _lang('sindhi', 'sd', 'sd', 'ARABIC'),
    _lang('sinhala', 'si', 'si', 'SINHALA'),
    _lang('slovak', 'sk', 'sk', 'LATIN'),
    _lang('slovenian', 'sl', 'sl', 'LATIN'),
    _lang('spanish', 'es', 'es', 'LATIN'),
    _lang('swahili', 'sw', 'sw', 'LATIN'),
    _lang('swedish', 'sv', 'sv', 'LATIN'),
    _lang('tamil', 'ta', 'ta', 'TAMIL'),
    _lang('tatar', 'tt', 'tt', 'CYRILLIC'),
    _lang('telugu', 'te', 'te', 'TELUGU'),
    _lang('thai', 'th', 'th', 'THAI'),
    _lang('tigrinya', 'ti', 'ti', 'ETHIOPIC'),
    _lang('turkish', 'tr', 'tr', 'LATIN'),
    _lang('turkmen', 'tk', 'tk', 'LATIN'),
    _lang('ukrainian', 'uk', 'uk', 'CYRILLIC'),
    _lang('urdu', 'ur', 'ur', 'ARABIC'),
    _lang('uyghur', 'ug', 'ug', 'ARABIC'),
    _lang('uzbek', 'uz', 'uz', 'LATIN'),
    _lang('welsh', 'cy', 'cy', 'LATIN'),
)}

# Languages eSpeak NG cannot speak, with the closest one it can:
# name -> (stand-in, why, detail).
UNAVAILABLE: dict[str, tuple[str, str, str]] = {
    "lao": ("thai", "eSpeak NG has no Lao voice", "it reads Lao script letter by letter"),
}

# What a report on the embedded corpus says: about its speech, and about some languages.
SYNTHETIC_SPEECH = ("Embedded corpus: speech synthesised by eSpeak NG, one synthetic speaker "
                    "set for every language.")
LANGUAGE_CAVEATS: dict[str, tuple[str, ...]] = {
    "thai": ("Thai CLDR text has no spaces between words, so a Thai 'word' is a whole name "
             "and Thai WER counts phrases: read its CER.",),
}

_ALIASES = {"bangla": "bengali", "farsi": "persian", "oriya": "odia", "myanmar": "burmese"}


def known_languages() -> list[str]:
    """Sorted names of every language the embedded corpus can synthesise."""
    return sorted(LANGUAGES)


def get_language(name: str) -> Language:
    """Resolves a language name (or ISO code) to its :class:`Language`.

    Raises:
        ValueError: for an unknown name, listing the known ones; for a language eSpeak NG
            cannot speak (such as ``lao``), naming its closest available relative and how to
            bring a real corpus.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in LANGUAGES:
        return LANGUAGES[key]
    for lang in LANGUAGES.values():
        if lang.iso == key:
            return lang
    if key in UNAVAILABLE:
        stand_in, why, detail = UNAVAILABLE[key]
        raise UserError(
            f"language {key!r} is not in the embedded corpus: {why} ({detail}); its closest "
            f"available relative is {stand_in!r} (language={stand_in}), or bring a real {key} "
            f"corpus with data=babel|kaldi|commonvoice|lhotse data.path=...")
    raise UserError(f"unknown language {name!r}; known: {', '.join(known_languages())}")


def caveats(languages: list[str]) -> list[str]:
    """What a study of ``languages`` on the embedded corpus must say about its results, in
    order: the speech is synthetic; then, per language (names or ISO codes, each once), the
    language it stands in for (thai for lao) and what its numbers mean (Thai WER).

    >>> caveats(["bengali", "turkish"])  # doctest: +ELLIPSIS
    ['Embedded corpus: speech synthesised by eSpeak NG, ...']
    >>> caveats(["bengali", "thai"])[1]
    'thai stands in for lao (eSpeak NG has no Lao voice).'

    Raises:
        ValueError: a language not in the embedded corpus (see :func:`get_language`).
    """
    notes, seen = [SYNTHETIC_SPEECH], set()
    for name in languages:
        lang = get_language(name).name
        if lang in seen:
            continue
        seen.add(lang)
        notes += [f"{lang} stands in for {missing} ({why})."
                  for missing, (stand_in, why, _) in UNAVAILABLE.items() if stand_in == lang]
        notes += LANGUAGE_CAVEATS.get(lang, ())
    return notes
