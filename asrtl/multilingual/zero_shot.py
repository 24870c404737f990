"""Zero-shot phone recognition: a universal phone model (``recipes/multilingual.py
units=phones``) decoding a language it never heard, told only the language's phone
inventory, which eSpeak NG's G2P gives from text alone (its CLDR words: no audio).

- A linear head can only emit the phones it was trained on: the inventory *masks* the
  others out (phones of the language the model never saw stay out of reach).
- An attribute-composed head (``model.head=attributes``) gets a head *over the language's
  inventory*: each phone's row composed from its features by the trained vectors, the
  phones it never saw included.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from asrtl.data.languages import get_language
from asrtl.data.phones import language_lexicon
from asrtl.data.text import cldr_words
from asrtl.data.vocab import BLANK, SPACE, UNK, Vocabulary
from asrtl.errors import UserError
from asrtl.models.attributes import SPECIAL, AttributeHead
from asrtl.models.ctc import CTCModel

NEVER = -1e4  # the logit of a token the language cannot have


def language_inventory(language: str, cache_dir: Path | str) -> set[str]:
    """The phones of ``language`` by eSpeak NG's G2P of its CLDR words (text only; cached
    with the language's lexicon).

    Raises:
        UserError: a language eSpeak cannot phonemise, or an empty inventory.
    """
    lang = get_language(language)
    words = cldr_words(lang.locale, lang.script, turkic=lang.name in ("turkish", "azerbaijani"))
    lex = language_lexicon(lang.name, words, cache_dir)
    inventory = set(lex.inventory)
    if not inventory:
        raise UserError(f"an empty phone inventory for {language}: eSpeak NG voice "
                        f"{lex.voice!r} pronounces none of its {len(words)} CLDR words")
    return inventory


class MaskedHead(nn.Module):
    """A head whose tokens outside ``keep`` never win: ``(B, T, D) -> (B, T, V)``."""

    def __init__(self, head: nn.Module, keep: torch.Tensor) -> None:
        super().__init__()
        self.head = head
        self.in_features, self.out_features = head.in_features, head.out_features
        self.register_buffer("keep", keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x).masked_fill(~self.keep, NEVER)


def with_head(model: CTCModel, head: nn.Module) -> CTCModel:
    """A view of ``model`` (the same frontend and encoder) with another head."""
    view = copy.copy(model)
    view._modules = dict(model._modules)
    view.head = head
    view.cfg = replace(model.cfg, vocab_size=head.out_features)
    return view


def zero_shot_model(model: CTCModel, vocab: Vocabulary, inventory: set[str] | None
                    ) -> tuple[CTCModel, Vocabulary, dict[str, list[str]]]:
    """``model`` (a phone model over ``vocab``) made for a language of phone ``inventory``.

    Returns:
        ``(model, vocabulary, {"seen": inventory phones the model was trained on, "unseen":
        the others})``. Without an inventory: the model itself. With one, a linear head is
        masked to the seen phones; an attribute head is rebuilt over the whole inventory
        (rows composed from features; free rows taken by token).

    Raises:
        UserError: a model of characters.
    """
    if vocab.units != "phones":
        raise UserError(f"zero-shot decoding is for phone models (units=phones), not "
                        f"{vocab.units}")
    known = set(vocab.tokens[SPECIAL:])
    split = {"seen": sorted(inventory & known) if inventory else sorted(known),
             "unseen": sorted(inventory - known) if inventory else []}
    if inventory is None:
        return model, vocab, split
    if not isinstance(model.head, AttributeHead):
        keep = torch.tensor([i < SPECIAL or tok in inventory
                             for i, tok in enumerate(vocab.tokens)])
        return with_head(model, MaskedHead(model.head, keep)), vocab, split
    target = Vocabulary([BLANK, UNK, SPACE, *sorted(inventory)], "phones")
    src: AttributeHead = model.head
    head = AttributeHead(src.in_features, len(target))
    head.set_vocab(target)
    index = vocab.index
    with torch.no_grad():
        for name in ("plus", "minus", "phone", "plus_bias", "minus_bias", "phone_bias"):
            getattr(head, name).copy_(getattr(src, name))
        for i, tok in enumerate(target.tokens):
            j = index.get(tok)
            if j is not None:
                head.free.weight[i] = src.free.weight[j]
                head.free.bias[i] = src.free.bias[j]
            elif not head.composed[i]:  # a new phone PanPhon cannot read: no row to give it
                head.free.weight[i] = 0
                head.free.bias[i] = NEVER
    return with_head(model, head), target, split
