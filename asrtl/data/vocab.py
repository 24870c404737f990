"""CTC vocabulary: blank = 0, ``<unk>`` = 1, word boundary ``|``, then the units of the
training text: its characters (Unicode NFC code points; ``units="chars"``), or its phones
(``units="phones"``: a phone text, ``m ɛ r | d ø n``, from :mod:`asrtl.data.phones`).

    >>> v = Vocabulary.from_texts(["ab ba"])
    >>> v.tokens
    ['<blank>', '<unk>', '|', 'a', 'b']
    >>> v.encode("ab c")
    [3, 4, 2, 1]
    >>> v.decode([3, 4, 2, 4])
    'ab b'
    >>> p = Vocabulary.from_texts(["tʃ a | a"], units="phones")
    >>> p.tokens, p.encode("a tʃ | x")
    (['<blank>', '<unk>', '|', 'a', 'tʃ'], [3, 4, 2, 1])
    >>> p.decode([4, 3, 2, 2, 3])
    'tʃ a | a'
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from asrtl.errors import UserError

BLANK, UNK, SPACE = "<blank>", "<unk>", "|"
UNITS = ("chars", "phones")


@dataclass(frozen=True)
class Vocabulary:
    """An ordered list of tokens; index 0 is the CTC blank; ``units``: what a token is."""

    tokens: list[str]
    units: str = "chars"

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise UserError(f"units: {self.units!r} is not one of {list(UNITS)}")
        if self.tokens[:3] != [BLANK, UNK, SPACE]:
            raise UserError(f"vocabulary must start with {BLANK}, {UNK}, {SPACE}")
        if len(set(self.tokens)) != len(self.tokens):
            raise UserError("vocabulary has duplicate tokens")

    @classmethod
    def from_texts(cls, texts: Iterable[str], units: str = "chars") -> Vocabulary:
        """Builds the vocabulary of ``texts`` (training text only, never dev/test)."""
        if units == "phones":
            found = {p for t in texts for p in unicodedata.normalize("NFC", t).split()} - {SPACE}
        else:
            found = {c for t in texts for c in unicodedata.normalize("NFC", t)
                     if not c.isspace()}
        if not found:
            raise UserError("cannot build a vocabulary from empty text")
        return cls([BLANK, UNK, SPACE, *sorted(found)], units)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; spaces (phones: ``|``) become ``|``, unknown units
        ``<unk>``."""
        idx = self.index
        if self.units == "phones":
            return [idx.get(p, 1) for p in unicodedata.normalize("NFC", text).split()]
        text = " ".join(unicodedata.normalize("NFC", text).split())
        return [idx[SPACE] if c == " " else idx.get(c, 1) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (no CTC collapsing: see :func:`asrtl.eval.decode.greedy`)."""
        if self.units == "phones":
            toks = [self.tokens[int(i)] for i in ids]
            words = " ".join(t for t in toks if t not in (BLANK, UNK)).split(SPACE)
            return f" {SPACE} ".join(" ".join(w.split()) for w in words if w.strip())
        out = []
        for i in ids:
            tok = self.tokens[int(i)]
            if tok == SPACE:
                out.append(" ")
            elif tok not in (BLANK, UNK):
                out.append(tok)
        return " ".join("".join(out).split())
