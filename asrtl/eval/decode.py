"""CTC decoding: greedy (argmax, collapse, drop blanks) and beam search with torchaudio's
flashlight ``ctc_decoder`` (optional lexicon and KenLM n-gram)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet

from asrtl.data.manifest import cut_words
from asrtl.data.vocab import BLANK, SPACE, UNK, Vocabulary
from asrtl.errors import MissingInput, UserError


def greedy(log_probs: torch.Tensor, lens: torch.Tensor, vocab: Vocabulary) -> list[str]:
    """Best path per utterance.

    Args:
        log_probs: ``(B, T, V)``.
        lens: ``(B,)`` valid frames.

    Returns:
        ``B`` transcripts.
    """
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for b in range(best.shape[0]):
        ids = torch.unique_consecutive(best[b, : int(lens[b])])
        out.append(vocab.decode(i for i in ids.tolist() if i != 0))
    return out


def lexicon_words(lexicon: str | Path | Iterable[str] | None,
                  corpus: Mapping[str, Any] | None = None) -> list[str] | None:
    """Words that constrain a beam search.

    Args:
        lexicon: ``None`` or ``"none"`` (lexicon-free), ``"train"`` (the checkpoint's
            training words, read from its corpus manifest), a word-list file (one word per
            line) or the words themselves.
        corpus: for ``"train"``, the record of the corpus the checkpoint was trained on
            (``{"dir": ...}``: ``CheckpointMeta.training_corpus``).

    Raises:
        FileNotFoundError: the training manifest or the word list is missing, named.
    """
    if lexicon is None or lexicon == "none":
        return None
    if not isinstance(lexicon, (str, Path)):
        return list(lexicon)
    if lexicon == "train":
        corpus = corpus or {}
        cuts_file = Path(str(corpus.get("dir") or "")) / "train_cuts.jsonl.gz"
        if not corpus.get("dir") or not cuts_file.is_file():
            raise MissingInput(f"lexicon=train: the checkpoint's training manifest is gone "
                               f"({cuts_file}); give a word list, or lexicon=none for a "
                               f"lexicon-free search")
        return cut_words(CutSet.from_file(cuts_file))
    path = Path(lexicon).expanduser()
    if not path.is_file():
        raise MissingInput(f"lexicon word list not found: {path}")
    return [w for w in path.read_text(encoding="utf-8").split() if w]


def write_lexicon(words: Iterable[str], vocab: Vocabulary, path: Path,
                  spell: Mapping[str, Iterable[str]] | None = None) -> int:
    """Writes a flashlight lexicon (``word t1 t2 ... |``) of the words spellable in ``vocab``:
    by their letters, or for a phone model (``vocab.units == "phones"``) by their phones in
    ``spell`` (a pronunciation lexicon: :class:`asrtl.data.phones.Lexicon`'s ``words``).

    Returns:
        The number of words written.

    Raises:
        UserError: no word spellable; a phone model without pronunciations.
    """
    if vocab.units == "phones" and spell is None:
        raise UserError("a lexicon for a phone model needs the words' pronunciations")
    known = set(vocab.tokens)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for w in sorted(set(words)):
            tokens = list(spell.get(w) or ()) if vocab.units == "phones" else list(w)
            if w and tokens and all(t in known for t in tokens):
                f.write(f"{w} {' '.join(tokens)} {SPACE}\n")
                n += 1
    if n == 0:
        raise UserError("lexicon is empty: no word is spellable with the model's vocabulary")
    return n


class BeamDecoder:
    """Lexicon-constrained (or lexicon-free) beam search.

    Args:
        vocab: the model's vocabulary.
        words: lexicon words; ``None`` for lexicon-free search.
        kenlm: path to an ARPA or binary KenLM model, optional.
        beam_size, lm_weight, word_score: search settings.
        spell: a phone model's pronunciations of ``words`` (word -> phones): its hypotheses
            are then words, written as ``words`` are.
    """

    def __init__(self, vocab: Vocabulary, words: Iterable[str] | None = None,
                 kenlm: str | None = None, beam_size: int = 32, lm_weight: float = 1.0,
                 word_score: float = 0.0,
                 spell: Mapping[str, Iterable[str]] | None = None) -> None:
        from torchaudio.models.decoder import ctc_decoder

        self.vocab = vocab
        self.spell = spell if words is not None else None
        self._tmp = tempfile.TemporaryDirectory(prefix="asrtl-lexicon-")
        lexicon = None
        if words is not None:
            lexicon = Path(self._tmp.name) / "lexicon.txt"
            self.lexicon_size = write_lexicon(words, vocab, lexicon, spell)
        if kenlm is not None and not Path(kenlm).is_file():
            raise MissingInput(f"KenLM model not found: {kenlm}")
        try:
            self.decoder = ctc_decoder(
                lexicon=str(lexicon) if lexicon else None, tokens=list(vocab.tokens), lm=kenlm,
                beam_size=beam_size, lm_weight=lm_weight if kenlm else 0.0,
                word_score=word_score, blank_token=BLANK, sil_token=SPACE, unk_word=UNK)
        except RuntimeError as e:  # flashlight/KenLM report load errors as RuntimeError
            if kenlm is None:
                raise
            detail = str(e).strip().splitlines()[-1]
            raise UserError(f"cannot load KenLM model {kenlm}: {detail}") from None

    def __call__(self, log_probs: torch.Tensor, lens: torch.Tensor) -> list[str]:
        """``(B, T, V)`` log-probabilities -> ``B`` transcripts."""
        hyps = self.decoder(log_probs.float().cpu().contiguous(), lens.cpu().int())
        out = []
        for nbest in hyps:
            if not nbest:
                out.append("")
            elif nbest[0].words:
                out.append(" ".join(nbest[0].words))
            elif self.spell is not None:  # words out of phones: no word is no text
                out.append("")
            else:
                out.append(self.vocab.decode(t for t in nbest[0].tokens.tolist()))
        return out
