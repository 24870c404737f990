"""Copy chosen layers of a source checkpoint into a freshly built target model.

Layers are the model's named units (``frontend``, ``encoder.layers.N``, ``head``). Every
tensor is copied by name with its shape checked (nothing is dropped silently). The head is
special: the target vocabulary differs, so it is mapped row by row (see
:func:`map_head`); its coverage of the target's symbols and text goes in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch

from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.attributes import AttributeHead
from asrtl.models.ctc import CTCModel
from asrtl.models.layers import resolve_layers


@dataclass
class HeadMapping:
    """How the target head was initialised from the source head.

    Attributes:
        mapped: target tokens that take the source's row and bias.
        new: target tokens absent from the source vocabulary (initialised by ``init``).
        init: ``mean`` (mean of the source rows) or ``random`` (the target's own init).
        token_coverage: share of target tokens mapped (blank, ``<unk>``, ``|`` included).
        text_coverage: share of the target training text's tokens (word boundaries aside)
            that are mapped.
    """

    mapped: list[str]
    new: list[str]
    init: str
    token_coverage: float
    text_coverage: float | None


@dataclass
class CopyReport:
    """What the transfer did, by tensor name."""

    copied: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    head: HeadMapping | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        line = (f"copied {len(self.copied)} tensors ({', '.join(self.layers) or 'none'}), "
                f"re-initialised {len(self.reinitialised)}, frozen {len(self.frozen)}")
        if self.head is not None:
            text = (f", text {self.head.text_coverage:.1%}"
                    if self.head.text_coverage is not None else "")
            line += (f"; head: {len(self.head.mapped)} tokens mapped, {len(self.head.new)} new "
                     f"({self.head.init}), coverage: tokens {self.head.token_coverage:.1%}{text}")
        return line


def text_coverage(target_vocab: Vocabulary, source_tokens: set[str],
                  target_texts: Iterable[str]) -> float:
    """Share of the target texts' tokens (as the target model emits them: NFC, word
    boundaries aside) that the source head has, so that :func:`map_head` maps them."""
    tokens = target_vocab.tokens
    counts = Counter(tokens[i] for t in target_texts for i in target_vocab.encode(t))
    counts.pop("|", None)
    total = sum(counts.values())
    return sum(n for c, n in counts.items() if c in source_tokens) / total if total else 0.0


def map_head(source: CTCModel, source_vocab: Vocabulary, target: CTCModel,
             target_vocab: Vocabulary, init: str = "mean",
             target_texts: Iterable[str] | None = None) -> HeadMapping:
    """Initialises ``target.head`` from ``source.head`` by token identity.

    Target tokens present in the source vocabulary take the source's weight row and bias;
    new ones take the mean of the source rows (``init="mean"``) or keep the target's random
    initialisation (``init="random"``). Attribute-composed heads
    (:class:`~asrtl.models.attributes.AttributeHead`) share their composition whole, so a
    new phone's row is composed from its features by the source's vectors (``init``
    ``attributes``); only their free rows (blank, ``<unk>``, ``|``, phones PanPhon cannot
    read) are mapped by token.

    Raises:
        ValueError: for an unknown ``init``, heads of different widths or kinds.
    """
    if init not in ("mean", "random"):
        raise UserError(f"transfer.head_init must be mean or random, got {init!r}")
    composed = isinstance(target.head, AttributeHead)
    if composed != isinstance(source.head, AttributeHead):
        raise UserError(f"model.head differs: source {type(source.head).__name__}, target "
                        f"{type(target.head).__name__}")
    src, tgt = (source.head.free, target.head.free) if composed else (source.head, target.head)
    sw, sb = src.weight.detach(), src.bias.detach()
    if sw.shape[1] != tgt.weight.shape[1]:
        raise UserError(f"head input width differs: source {sw.shape[1]}, target "
                        f"{tgt.weight.shape[1]}")
    src_index = source_vocab.index
    mapped, new = [], []
    with torch.no_grad():
        if composed:
            for name in ("plus", "minus", "phone", "plus_bias", "minus_bias", "phone_bias"):
                getattr(target.head, name).copy_(getattr(source.head, name))
        for i, tok in enumerate(target_vocab.tokens):
            j = src_index.get(tok)
            if j is not None:
                tgt.weight[i] = sw[j]
                tgt.bias[i] = sb[j]
                mapped.append(tok)
            else:
                new.append(tok)
                if composed and target.head.composed[i]:
                    continue  # its row comes from its features
                if init == "mean":  # of the rows in use (an attribute head's free ones: the
                    used = ~source.head.composed if composed else slice(None)  # uncomposed)
                    tgt.weight[i] = sw[used].mean(0)
                    tgt.bias[i] = sb[used].mean()
    text_cov = (None if target_texts is None
                else text_coverage(target_vocab, set(src_index), target_texts))
    return HeadMapping(mapped=mapped, new=new, init="attributes" if composed else init,
                       token_coverage=len(mapped) / len(target_vocab), text_coverage=text_cov)


def copy_layers(source: CTCModel, target: CTCModel, layers: Iterable[str] | None = None,
                source_vocab: Vocabulary | None = None, target_vocab: Vocabulary | None = None,
                head_init: str = "mean", target_texts: Iterable[str] | None = None
                ) -> CopyReport:
    """Copies the named layers of ``source`` into ``target`` (in place).

    Args:
        source: the pretrained model.
        target: a freshly built model for the target language.
        layers: layer names (``frontend``, ``encoder.layers.N``, ``head``); default every
            layer the source has (all of them, or all but the head of a pretrained SSL
            encoder, whose head is then new). The
            head is vocabulary-mapped when both vocabularies are given, else it must have the
            same shape.
        source_vocab, target_vocab: vocabularies for the head mapping.
        head_init: initialisation of target tokens the source lacks (``mean``/``random``).
        target_texts: target training transcripts, for the head's text coverage.

    Returns:
        The :class:`CopyReport`.

    Raises:
        ValueError: an unknown layer (listing valid ones), a layer the source lacks, or a
            tensor whose shape differs (naming it and both shapes).
    """
    if layers is None:  # every layer the source has (a pretrained encoder has no head)
        layers = [n for n in target.layer_names() if n in source.layer_names()]
    chosen = resolve_layers(target, layers)
    src_state = source.state_dict()
    report = CopyReport(layers=chosen)
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            layer = next((n for n in chosen if name == n or name.startswith(n + ".")), None)
            if layer is None or layer == "head" and source_vocab and target_vocab:
                report.reinitialised.append(name)
                continue
            if name not in src_state:
                raise UserError(f"source model has no tensor {name!r} (layer {layer!r}); its "
                                f"layers: {', '.join(source.layer_names())}")
            if src_state[name].shape != tensor.shape:
                raise UserError(f"shape mismatch for {name!r}: source "
                                f"{tuple(src_state[name].shape)}, target {tuple(tensor.shape)}")
            tensor.copy_(src_state[name])
            report.copied.append(name)
    if "head" in chosen and source_vocab is not None and target_vocab is not None:
        report.head = map_head(source, source_vocab, target, target_vocab, head_init,
                               target_texts)
        report.reinitialised = [n for n in report.reinitialised if not n.startswith("head.")]
        report.copied += (["head composition (whole)", "head.free (vocab-mapped)"]
                          if isinstance(target.head, AttributeHead)
                          else ["head.weight (vocab-mapped)", "head.bias (vocab-mapped)"])
    return report
