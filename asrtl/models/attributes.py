"""The attribute-composed output layer (``model.head=attributes``, phone models only).

A linear CTC head has one free row per token, so a phone never seen in training has none.
Here each phone's row is composed from its articulatory features (PanPhon's 24: syllabic,
sonorant, consonantal, continuant, ..., voice, ..., high, low, back, round, ...), each
``+``/``-`` value having its own learned vector (as Allophant composes phone embeddings from
PanPhon attributes)::

    w_p = w_phone + sum_a [f_pa > 0] f_pa * plus_a + [f_pa < 0] |f_pa| * minus_a

(and the bias alike), so any IPA phone PanPhon describes has a row, trained or not. The
rows of blank, ``<unk>``, ``|`` and of phones PanPhon cannot read stay free (a linear
head's rows). A phone of several PanPhon segments (a diphthong, a geminate, an affricate
written without a tie bar) takes the mean of its segments' features.

The features of the vocabulary are a buffer saved with the weights: a checkpoint loads
without PanPhon; PanPhon is needed to build a head for a new vocabulary (``set_vocab``).
"""

from __future__ import annotations

import logging
import unicodedata
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError

log = logging.getLogger(__name__)

NUM_ATTRIBUTES = 24  # PanPhon's feature set (panphon.FeatureTable().names)
SPECIAL = 3  # blank, <unk>, | lead every vocabulary (asrtl.data.vocab)
TIE = "\u0361"


@lru_cache(maxsize=1)
def _table() -> Any:
    try:
        import panphon
    except ImportError:
        raise UserError("model.head=attributes needs PanPhon: pip install 'asrtl[phones]' "
                        "(or pip install panphon)") from None
    table = panphon.FeatureTable()
    if len(table.names) != NUM_ATTRIBUTES:
        raise RuntimeError(f"PanPhon has {len(table.names)} features, asrtl expects "
                           f"{NUM_ATTRIBUTES}")
    return table


def phone_features(phone: str) -> list[float] | None:
    """PanPhon's features of ``phone`` (-1, 0 or +1 each; the mean over its segments when it
    has several); None when PanPhon cannot read all of it.

    >>> phone_features("m")[:3]  # syllabic, sonorant, consonantal
    [-1.0, 1.0, 1.0]
    >>> phone_features("X") is None
    True
    """
    table = _table()
    several = None
    for form in (phone, phone[0] + TIE + phone[1:]) if len(phone) > 1 else (phone,):
        segs = table.ipa_segs(form)
        if not segs or _nfd("".join(segs)) != _nfd(form):
            continue  # PanPhon skipped a part it cannot read
        if len(segs) == 1:
            return [float(v) for v in table.fts(segs[0]).numeric()]
        several = several or segs
    if several is None:
        return None
    vecs = [table.fts(s).numeric() for s in several]
    return [sum(float(v[a]) for v in vecs) / len(vecs) for a in range(NUM_ATTRIBUTES)]


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def vocab_features(vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(features (V, A), composed (V,) bool, phones PanPhon cannot read)`` of a phone
    vocabulary.

    Raises:
        UserError: a vocabulary of characters (the head composes phones).
    """
    if vocab.units != "phones":
        raise UserError(f"model.head=attributes composes phones from their features: it needs "
                        f"units=phones, not units={vocab.units}")
    feats = torch.zeros(len(vocab), NUM_ATTRIBUTES)
    composed = torch.zeros(len(vocab), dtype=torch.bool)
    unknown = []
    for i, tok in enumerate(vocab.tokens[SPECIAL:], SPECIAL):
        f = phone_features(tok)
        if f is None:
            unknown.append(tok)
        else:
            feats[i] = torch.tensor(f)
            composed[i] = True
    return feats, composed, unknown


class AttributeHead(nn.Module):
    """``(B, T, dim) -> (B, T, vocab_size)`` logits, phone rows composed from features.

    Attributes:
        features: ``(V, A)`` buffer, each token's PanPhon features (zeros: not composed).
        composed: ``(V,)`` bool buffer, the rows built from features.
        plus, minus: ``(A, dim)`` vectors of each feature's + and - values; phone: ``(dim,)``
            shared by every composed row; free: the linear rows of the others.
    """

    def __init__(self, dim: int, vocab_size: int) -> None:
        super().__init__()
        self.in_features, self.out_features = dim, vocab_size
        self.register_buffer("features", torch.zeros(vocab_size, NUM_ATTRIBUTES))
        self.register_buffer("composed", torch.zeros(vocab_size, dtype=torch.bool))
        # about 20 of the 24 features are non-zero: rows of a linear head's scale
        scale = (dim * 20) ** -0.5
        self.plus = nn.Parameter(torch.empty(NUM_ATTRIBUTES, dim).uniform_(-scale, scale))
        self.minus = nn.Parameter(torch.empty(NUM_ATTRIBUTES, dim).uniform_(-scale, scale))
        self.phone = nn.Parameter(torch.zeros(dim))
        self.plus_bias = nn.Parameter(torch.zeros(NUM_ATTRIBUTES))
        self.minus_bias = nn.Parameter(torch.zeros(NUM_ATTRIBUTES))
        self.phone_bias = nn.Parameter(torch.zeros(1))
        self.free = nn.Linear(dim, vocab_size)

    def set_vocab(self, vocab: Vocabulary) -> list[str]:
        """Reads ``vocab``'s phone features (PanPhon) into the buffers; returns the phones it
        could not read (their rows stay free), warning about them."""
        if len(vocab) != self.out_features:
            raise ValueError(f"vocabulary of {len(vocab)} tokens for a head of "
                             f"{self.out_features}")
        feats, composed, unknown = vocab_features(vocab)
        self.features.copy_(feats)
        self.composed.copy_(composed)
        if unknown:
            log.warning("model.head=attributes: PanPhon cannot read %d phone(s) %s: their rows "
                        "are free (learned per phone, as a linear head's)", len(unknown),
                        unknown)
        return unknown

    def _compose(self, plus: torch.Tensor, minus: torch.Tensor, phone: torch.Tensor
                 ) -> torch.Tensor:
        f = self.features
        return phone + f.clamp(min=0) @ plus + (-f).clamp(min=0) @ minus

    @property
    def weight(self) -> torch.Tensor:
        """``(V, dim)``: the rows the logits use."""
        rows = self._compose(self.plus, self.minus, self.phone)
        return torch.where(self.composed[:, None], rows, self.free.weight)

    @property
    def bias(self) -> torch.Tensor:
        rows = self._compose(self.plus_bias[:, None], self.minus_bias[:, None],
                             self.phone_bias)[:, 0]
        return torch.where(self.composed, rows, self.free.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


def check_head(head: Any, units: str) -> None:
    """An attribute-composed head needs phone units (checked before any work).

    Raises:
        UserError: ``model.head=attributes`` with ``units`` other than phones.
    """
    if str(head or "linear") == "attributes" and units != "phones":
        raise UserError(f"model.head=attributes composes phones from their features: it needs "
                        f"units=phones, not units={units}")


def attach_vocab(model: nn.Module, vocab: Vocabulary) -> None:
    """Gives an attribute-composed head (``model.head``, or ``model`` itself a head) its
    vocabulary's features; a no-op for a linear head.

    Raises:
        UserError: an attribute head for a vocabulary of characters.
    """
    head = getattr(model, "head", model)
    if isinstance(head, AttributeHead):
        head.set_vocab(vocab)
