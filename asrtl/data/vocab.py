"""Grapheme vocabulary for CTC: blank = 0, ``<unk>`` = 1, word boundary ``|``, then the
characters (Unicode NFC code points) of the training text.

    >>> v = Vocabulary.from_texts(["ab ba"])
    >>> v.tokens
    ['<blank>', '<unk>', '|', 'a', 'b']
    >>> v.encode("ab c")
    [3, 4, 2, 1]
    >>> v.decode([3, 4, 2, 4])
    'ab b'
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from asrtl.errors import UserError

BLANK, UNK, SPACE = "<blank>", "<unk>", "|"


@dataclass(frozen=True)
class Vocabulary:
    """An ordered list of tokens; index 0 is the CTC blank."""

    tokens: list[str]

    def __post_init__(self) -> None:
        if self.tokens[:3] != [BLANK, UNK, SPACE]:
            raise UserError(f"vocabulary must start with {BLANK}, {UNK}, {SPACE}")
        if len(set(self.tokens)) != len(self.tokens):
            raise UserError("vocabulary has duplicate tokens")

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        """Builds the vocabulary of ``texts`` (training text only, never dev/test)."""
        chars = {c for t in texts for c in unicodedata.normalize("NFC", t) if not c.isspace()}
        if not chars:
            raise UserError("cannot build a vocabulary from empty text")
        return cls([BLANK, UNK, SPACE, *sorted(chars)])

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; spaces become ``|``, unknown characters ``<unk>``."""
        idx = self.index
        text = " ".join(unicodedata.normalize("NFC", text).split())
        return [idx[SPACE] if c == " " else idx.get(c, 1) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (no CTC collapsing: see :func:`asrtl.eval.decode.greedy`)."""
        out = []
        for i in ids:
            tok = self.tokens[int(i)]
            if tok == SPACE:
                out.append(" ")
            elif tok not in (BLANK, UNK):
                out.append(tok)
        return " ".join("".join(out).split())
