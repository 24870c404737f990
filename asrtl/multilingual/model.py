"""A multilingual CTC model: one shared ``frontend`` and ``encoder``, one head per language,
or (phones: ``units=phones``) one head shared by every language, over the union of their
phone inventories: a universal phone recogniser (``heads.all``).

The shared layers carry the :class:`~asrtl.models.ctc.CTCModel` names, so a checkpoint's
shared tensors copy into a monolingual model by name; ``heads.<language>`` are the output
layers. Two views turn it into plain CTC models: :func:`language_model` (one language's head,
parameters shared, for decoding) and :func:`union_model` (a head over the union of the
languages' vocabularies, a transfer source).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asrtl.data.vocab import BLANK, SPACE, UNK, Vocabulary
from asrtl.errors import UserError
from asrtl.models.attributes import AttributeHead
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.models.encoder import Conv2dSubsampling, Encoder
from asrtl.train.checkpoint import (
    Checkpoint,
    CheckpointMeta,
    load_checkpoint,
    load_weights,
    read_meta,
    resolve_checkpoint,
)

KIND = "multilingual"
SHARED = "all"  # the name of the one head of a shared-head (phone) model


class MultilingualCTC(nn.Module):
    """Features ``(B, T, F)`` of one language -> its CTC log-probabilities ``(B, T/4, V_l)``.

    Args:
        cfg: the shared layers' architecture (``vocab_size`` unused: 0; ``head``: the kind of
            head, ``attributes`` for a shared phone head only).
        vocabs: each language's vocabulary, in a fixed order.
        shared_head: one head, ``heads.all``, for every language (their vocabularies must
            be one and the same: the union phone inventory).
    """

    def __init__(self, cfg: ModelConfig, vocabs: dict[str, Vocabulary],
                 shared_head: bool = False) -> None:
        super().__init__()
        if len(vocabs) < 2:
            raise UserError(f"a multilingual model needs at least 2 languages, got "
                            f"{list(vocabs)}")
        if shared_head and len({tuple(v.tokens) for v in vocabs.values()}) != 1:
            raise ValueError("a shared head needs one vocabulary for every language")
        if cfg.head != "linear" and not shared_head:
            raise UserError(f"model.head={cfg.head} is for the shared phone head "
                            f"(units=phones), not one head per language")
        self.cfg = replace(cfg, vocab_size=0)
        self.vocabs = dict(vocabs)
        self.shared_head = shared_head
        self.frontend = Conv2dSubsampling(cfg.num_mel_bins, cfg.dim, cfg.subsampling_channels)
        self.encoder = Encoder(cfg.encoder, cfg.dim, cfg.num_layers, cfg.heads, cfg.ffn_dim,
                               cfg.conv_kernel, cfg.dropout)
        if shared_head:
            vocab = next(iter(vocabs.values()))
            head = (AttributeHead(cfg.dim, len(vocab)) if cfg.head == "attributes"
                    else nn.Linear(cfg.dim, len(vocab)))
            self.heads = nn.ModuleDict({SHARED: head})
        else:
            self.heads = nn.ModuleDict({lang: nn.Linear(cfg.dim, len(v))
                                        for lang, v in vocabs.items()})

    @property
    def languages(self) -> list[str]:
        return list(self.vocabs)

    def head_of(self, language: str) -> nn.Module:
        """The head ``language`` is decoded with.

        Raises:
            UserError: a language the model was not trained on.
        """
        if language not in self.vocabs:
            raise UserError(f"no head for language {language!r}; this model has "
                            f"{', '.join(self.vocabs)}")
        return self.heads[SHARED if self.shared_head else language]

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor, language: str
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(log_probs (B, T', V_language), out_lens (B,))``.

        Raises:
            ValueError: a language without a head.
        """
        head = self.head_of(language)
        x, lens = self.frontend(feats, feat_lens)
        x = self.encoder(x, lens)
        return head(x).log_softmax(dim=-1), lens

    def layer_names(self) -> list[str]:
        """``frontend``, ``encoder.layers.N``, then ``heads.<language>``."""
        return ["frontend", *(f"encoder.layers.{i}" for i in range(len(self.encoder.layers))),
                *(f"heads.{lang}" for lang in self.heads)]


def _view(model: MultilingualCTC, head: nn.Module) -> CTCModel:
    """A :class:`CTCModel` over ``model``'s shared layers (the same modules) and ``head``."""
    view = CTCModel.__new__(CTCModel)
    nn.Module.__init__(view)
    view.cfg = replace(model.cfg, vocab_size=head.out_features,
                       head="attributes" if isinstance(head, AttributeHead) else "linear")
    view.frontend, view.encoder, view.head = model.frontend, model.encoder, head
    return view


def language_model(model: MultilingualCTC, language: str) -> CTCModel:
    """One language's CTC model; its parameters *are* ``model``'s (training one trains both)."""
    return _view(model, model.head_of(language))


def union_vocabulary(vocabs: dict[str, Vocabulary]) -> Vocabulary:
    """Blank, ``<unk>``, ``|``, then every language's tokens, sorted."""
    tokens = {t for v in vocabs.values() for t in v.tokens} - {BLANK, UNK, SPACE}
    return Vocabulary([BLANK, UNK, SPACE, *sorted(tokens)])


def union_model(model: MultilingualCTC) -> tuple[CTCModel, Vocabulary]:
    """A standalone CTC model (copied layers) whose head covers every language's tokens: a
    token's row and bias are the mean over the heads that have it (a shared head: itself)."""
    if model.shared_head:
        shared = copy.deepcopy(model)
        return _view(shared, shared.heads[SHARED]), next(iter(model.vocabs.values()))
    vocab = union_vocabulary(model.vocabs)
    head = nn.Linear(model.cfg.dim, len(vocab))
    rows: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for lang, v in model.vocabs.items():
        h = model.heads[lang]
        for i, tok in enumerate(v.tokens):
            rows.setdefault(tok, []).append((h.weight[i].detach(), h.bias[i].detach()))
    with torch.no_grad():
        for j, tok in enumerate(vocab.tokens):
            head.weight[j] = torch.stack([w for w, _ in rows[tok]]).mean(0)
            head.bias[j] = torch.stack([b for _, b in rows[tok]]).mean()
    shared = copy.deepcopy(model)
    return _view(shared, head), vocab


def checkpoint_meta(vocabs: dict[str, Vocabulary], shared_head: bool = False
                    ) -> dict[str, Any]:
    """What a multilingual checkpoint records besides the common metadata."""
    units = {v.units for v in vocabs.values()}
    return {"kind": KIND, "languages": list(vocabs),
            "vocabs": {lang: v.tokens for lang, v in vocabs.items()},
            "language": "+".join(vocabs), "units": units.pop() if len(units) == 1 else "chars",
            **({"shared_head": True} if shared_head else {})}


def load_multilingual(path: str | Path) -> tuple[MultilingualCTC, CheckpointMeta, Path]:
    """A multilingual checkpoint (a checkpoint or run dir): ``(model, meta, checkpoint dir)``.

    Raises:
        FileNotFoundError: nothing loadable at ``path``.
        ValueError: a checkpoint of another kind, or weights that do not fit.
    """
    ckpt = resolve_checkpoint(path)
    meta = read_meta(ckpt)
    if meta.kind != KIND:
        raise UserError(f"checkpoint {ckpt} is a {meta.kind} model, not a multilingual one")
    vocabs = {lang: Vocabulary(list((meta.vocabs or {})[lang]), meta.units)
              for lang in meta.languages or []}
    model = MultilingualCTC(ModelConfig.from_dict(meta.architecture), vocabs,
                            bool(meta.extra.get("shared_head")))
    load_weights(model, ckpt)
    return model, meta, ckpt


def load_source(path: str | Path) -> Checkpoint:
    """A transfer source: a CTC checkpoint as it is, or a multilingual one as its
    :func:`union_model` (shared layers, a head over the union of the vocabularies)."""
    ckpt = resolve_checkpoint(path)
    if read_meta(ckpt).kind != KIND:
        return load_checkpoint(ckpt)
    model, meta, ckpt = load_multilingual(ckpt)
    union, vocab = union_model(model)
    return Checkpoint(path=ckpt, model=union, vocab=vocab, meta=meta)
