"""IPA phone targets from eSpeak NG's G2P (``units=phones``).

Every word of a transcript is phonemised on its own by eSpeak NG for the corpus's language
(``espeak_TextToPhonemes`` with IPA output and a separator between phones), giving a
pronunciation lexicon; a transcript becomes its *phone text*: the phones separated by spaces,
words separated by ``|``::

    "merhaba dünya" -> "m ɛ r h a b a | d ø n j a"

What is kept of eSpeak's IPA: the segments, with length (``ː``) and secondary articulations
(``ʰ``, ``ʲ``...) attached to their phone; stress marks and tone numbers are dropped (the
units are segments; tones would need their own tier); the few non-IPA symbols eSpeak writes
are replaced by their IPA (:data:`ALTERNATES`: ``g`` -> ``ɡ``, ``ɚ`` -> ``ə˞``...). A word
eSpeak spells out in another language (``(en)``) or that phonemises to nothing has no
pronunciation: an utterance holding one is dropped from the phone corpus and counted.

The lexicon of each language is cached as JSON under the cache dir
(``phones/<language>/lexicon-<eSpeak version>.json``) with its phone inventory beside it.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lhotse import CutSet
from lhotse.utils import fastcopy

from asrtl.data.espeak import Espeak, spells_out
from asrtl.data.languages import get_language
from asrtl.data.manifest import Corpus, cut_texts
from asrtl.data.vocab import UNITS
from asrtl.errors import UserError
from asrtl.io import write_json_atomic

log = logging.getLogger(__name__)

IPA_OUTPUT = 0x02  # espeak_TextToPhonemes phonememode bit 1: IPA as UTF-8
SEPARATOR = "_"    # between phones, in phonememode bits 8-23
WORD = "|"         # the word boundary of a phone text (the vocabulary's space token)
_DROP = re.compile(r"[ˈˌ0-9‿.]")  # stress, tone numbers, links between words, syllable breaks
# eSpeak writes a few symbols outside the IPA (or in a form PanPhon does not read): the IPA
ALTERNATES = str.maketrans({"ε": "ɛ", "g": "ɡ", "ʦ": "ts", "ᵻ": "ɨ", "ɚ": "ə˞", "ɝ": "ɜ˞"})
LEXICON_VERSION = 2  # bump whenever split_phones or ALTERNATES change what a word gives
ORTHOGRAPHY = "orthography"  # a phone cut's supervision keeps its written text here


def orthography(cut: Any) -> str:
    """The written transcript of a cut (of a phone corpus: the text before G2P)."""
    sup = cut.supervisions[0]
    return (sup.custom or {}).get(ORTHOGRAPHY, sup.text)


def written_words(cuts: Iterable[Any]) -> list[str]:
    """The distinct written words of the cuts, sorted (a decoding lexicon)."""
    return sorted({w for c in cuts for w in orthography(c).split()})


def pronunciations(corpus: Any) -> dict[str, tuple[str, ...]] | None:
    """A phone corpus's lexicon (word -> phones); None for a corpus of characters."""
    return corpus.lexicon.words if isinstance(corpus, PhoneCorpus) else None


def phone_voice(language: str) -> str:
    """The eSpeak NG voice that phonemises ``language`` (a name or ISO code of the registry).

    Raises:
        UserError: a language eSpeak cannot phonemise, naming it.
    """
    try:
        return get_language(language).voice
    except UserError as e:
        raise UserError(f"units=phones: eSpeak NG cannot phonemise {language!r} ({e})") from None


def split_phones(ipa_word: str) -> tuple[str, ...]:
    """eSpeak's separated IPA of one word as phones (stress and tones dropped, empty parts
    skipped).

    >>> split_phones("tʃ_ˈɜː_tʃ")
    ('tʃ', 'ɜː', 'tʃ')
    >>> split_phones("s_a5_w"), split_phones("r._ʲ_a"), split_phones("g_ɚ")
    (('s', 'a', 'w'), ('rʲ', 'a'), ('ɡ', 'ə˞'))
    """
    out: list[str] = []
    for part in ipa_word.split(SEPARATOR):
        p = unicodedata.normalize("NFC", _DROP.sub("", part)).translate(ALTERNATES)
        if p and out and all(unicodedata.category(c) in ("Lm", "Mn", "Sk") for c in p):
            out[-1] += p  # a modifier on its own (ʲ, ʰ, ː) belongs to the phone before it
        elif p:
            out.append(p)
    return tuple(out)


def phonemise_word(word: str, voice: str, engine: Espeak | None = None) -> tuple[str, ...]:
    """The phones of ``word`` read by eSpeak voice ``voice``; ``()`` when eSpeak spells it
    out in another language or gives nothing."""
    engine = engine or Espeak.get()
    ipa = engine.phonemes(word, voice, IPA_OUTPUT | (ord(SEPARATOR) << 8)).strip()
    if not ipa or spells_out(ipa):
        return ()
    return tuple(p for chunk in ipa.split() for p in split_phones(chunk))


@dataclass
class Lexicon:
    """Word -> phones for one language (``()``: no pronunciation), with its inventory."""

    language: str
    voice: str
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, words: Iterable[str]) -> int:
        """Phonemises the words not yet in the lexicon; returns how many were new."""
        new = sorted({w for w in words if w not in self.words})
        if new:
            engine = Espeak.get()
            for w in new:
                self.words[w] = phonemise_word(w, self.voice, engine)
        return len(new)

    def phone_text(self, text: str) -> str | None:
        """``text`` as phone text; None when a word has no pronunciation."""
        out: list[str] = []
        for w in text.split():
            phones = self.words.get(w)
            if not phones:
                return None
            out += [*([WORD] if out else []), *phones]
        return " ".join(out)

    @property
    def inventory(self) -> Counter:
        """How often each phone occurs over the lexicon's words (each word once)."""
        return Counter(p for phones in self.words.values() for p in phones)

    @property
    def unpronounced(self) -> list[str]:
        return sorted(w for w, p in self.words.items() if not p)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"lexicon_version": LEXICON_VERSION, "language": self.language,
                                 "voice": self.voice, "espeak": espeak_version(),
                                 "words": {w: " ".join(p) for w, p in sorted(self.words.items())},
                                 "inventory": dict(sorted(self.inventory.items()))})

    @classmethod
    def load(cls, path: Path, language: str, voice: str) -> Lexicon:
        """The cached lexicon at ``path``; an empty one when there is none (or it is of
        another version or voice: it is rebuilt)."""
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(language, voice)
        if d.get("lexicon_version") != LEXICON_VERSION or d.get("voice") != voice:
            return cls(language, voice)
        return cls(language, voice, {w: tuple(p.split()) for w, p in d["words"].items()})


def espeak_version() -> str:
    """The eSpeak NG data version (its G2P decides every pronunciation)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("espeakng-loader")
    except PackageNotFoundError:
        return "unknown"


def lexicon_path(cache_dir: Path | str, language: str) -> Path:
    return Path(cache_dir) / "phones" / language / f"lexicon-{espeak_version()}.json"


def language_lexicon(language: str, texts: Iterable[str], cache_dir: Path | str) -> Lexicon:
    """The lexicon of every word of ``texts`` in ``language``, read from and added to the
    cache."""
    voice = phone_voice(language)
    path = lexicon_path(cache_dir, language)
    lex = Lexicon.load(path, language, voice)
    if lex.add(w for t in texts for w in t.split()):
        lex.save(path)
    return lex


@dataclass
class PhoneCorpus:
    """A :class:`Corpus` whose transcripts are phone texts (``units=phones``; the written
    text kept: :func:`orthography`); utterances with a word eSpeak cannot pronounce are left
    out (``dropped`` per split)."""

    corpus: Corpus
    lexicon: Lexicon
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def language(self) -> str:
        return self.corpus.language

    @property
    def source(self) -> str:
        return self.corpus.source

    @property
    def dir(self) -> Path:
        return self.corpus.dir

    @property
    def summary(self) -> dict:
        return self.corpus.summary

    @property
    def splits(self) -> list[str]:
        return self.corpus.splits

    def cuts(self, split: str) -> CutSet:
        """The split's cuts with phone texts.

        Raises:
            UserError: every utterance of the split has a word without a pronunciation.
        """
        kept, dropped = [], 0
        for c in self.corpus.cuts(split):
            phones = self.lexicon.phone_text(c.supervisions[0].text)
            if phones is None:
                dropped += 1
                continue
            sup = c.supervisions[0]
            custom = {**(sup.custom or {}), ORTHOGRAPHY: sup.text}
            kept.append(fastcopy(c, supervisions=[fastcopy(sup, text=phones, custom=custom),
                                                  *c.supervisions[1:]]))
        if dropped and self.dropped.get(split) != dropped:
            log.warning("units=phones: %d of %d %s utterances of %s dropped (a word eSpeak NG "
                        "spells out or cannot pronounce)", dropped, dropped + len(kept), split,
                        self.language)
        self.dropped[split] = dropped
        if not kept:
            raise UserError(f"units=phones: no {split} utterance of {self.language} can be "
                            f"phonemised by eSpeak NG voice {self.lexicon.voice!r} (every one "
                            f"holds a word it spells out, e.g. "
                            f"{self.lexicon.unpronounced[:3]})")
        return CutSet.from_cuts(kept)


def check_units(units: str, language: str) -> None:
    """``units`` is known and, for phones, eSpeak NG can phonemise ``language`` (checked
    before any work).

    Raises:
        UserError: naming the bad value or the language.
    """
    if units not in UNITS:
        raise UserError(f"units: {units!r} is not one of {list(UNITS)}")
    if units == "phones":
        phone_voice(language)


def with_units(corpus: Corpus, units: str, cache_dir: Path | str) -> Corpus | PhoneCorpus:
    """``corpus`` with the targets ``units`` asks for: itself (``chars``), or its phone
    corpus (``phones``; the lexicon covers every split's words, cached).

    Raises:
        UserError: unknown ``units``, or a language eSpeak cannot phonemise.
    """
    check_units(units, corpus.language)
    if units == "chars":
        return corpus
    texts = [t for s in corpus.splits for t in cut_texts(corpus.cuts(s))]
    lex = language_lexicon(corpus.language, texts, cache_dir)
    inv = lex.inventory
    if not inv:
        raise UserError(f"units=phones: eSpeak NG voice {lex.voice!r} gives no phone for any "
                        f"word of {corpus.language} (an empty inventory)")
    log.info("units=phones: %s lexicon %d words (%d without a pronunciation), %d phones",
             corpus.language, len(lex.words), len(lex.unpronounced), len(inv))
    return PhoneCorpus(corpus, lex)
