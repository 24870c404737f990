"""Word timestamps: a transcript forced-aligned to the CTC output it was decoded from
(torchaudio's ``forced_align``), its tokens grouped into words at the ``|`` boundaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torchaudio.functional import forced_align, merge_tokens

from asrtl.data.vocab import SPACE, Vocabulary
from asrtl.errors import UserError

WordTimes = list[tuple[str, float, float]]


def word_timestamps(log_probs: torch.Tensor, text: str, vocab: Vocabulary, frame_s: float,
                    duration_s: float | None = None,
                    spell: Mapping[str, Iterable[str]] | None = None) -> WordTimes:
    """Start and end of each word of ``text`` in one utterance.

    Output frame ``t`` is taken to cover ``[t * frame_s, (t + 1) * frame_s)``; a word spans
    its tokens' frames, from the first frame of its first token to the end of its last.

    Args:
        log_probs: ``(T, V)`` CTC log-probabilities of the utterance (valid frames only).
        text: the transcript to align (words separated by spaces), e.g. a decoder's output.
        vocab: the model's vocabulary (blank = 0, ``|`` the word boundary).
        frame_s: seconds per output frame (the feature hop times the subsampling).
        duration_s: the audio's duration; times are clipped to it.
        spell: a phone model's pronunciations, when ``text`` is words it wrote through
            them (the lexicon beam search); without it a phone model's ``text`` is a phone
            text, whose words are the phones between two ``|``.

    Returns:
        ``[(word, start_s, end_s), ...]`` in order, one per word of ``text`` (empty for an
        empty text); starts and ends never decrease.

    Raises:
        ValueError: ``text`` needs more frames than ``log_probs`` has.
    """
    if spell is not None:  # words out of a phone model: aligned through their phones
        words = text.split()
        tokens = [t for w in words for t in [*vocab.encode(" ".join(spell.get(w) or ())),
                                              vocab.index[SPACE]]][:-1]
    elif vocab.units == "phones":  # a phone text: its words are the phones between |
        words = [" ".join(w.split()) for w in text.split(SPACE) if w.strip()]
        tokens = vocab.encode(f" {SPACE} ".join(words))
    else:
        words = text.split()
        tokens = vocab.encode(" ".join(words))
    if not words:
        return []
    repeats = sum(a == b for a, b in zip(tokens, tokens[1:], strict=False))
    if log_probs.shape[0] < len(tokens) + repeats:
        raise UserError(f"cannot align {len(tokens)} tokens to {log_probs.shape[0]} frames: "
                        f"the text is longer than the audio allows")
    frames, scores = forced_align(log_probs[None].float().cpu().contiguous(),
                                  torch.tensor([tokens], dtype=torch.int32), blank=0)
    spans = merge_tokens(frames[0], scores[0].exp())
    space = vocab.index[SPACE]
    end_s = float("inf") if duration_s is None else duration_s
    out: WordTimes = []
    start = None
    for i, span in enumerate(spans):
        if span.token != space and start is None:
            start = span.start
        last = i + 1 == len(spans) or spans[i + 1].token == space
        if span.token != space and last:
            word = words[len(out)]
            out.append((word, min(start * frame_s, end_s), min(span.end * frame_s, end_s)))
            start = None
    return out
