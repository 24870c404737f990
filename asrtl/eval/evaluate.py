"""Run a model over a split: loss, decoded hypotheses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet

from asrtl.data.features import Fbank
from asrtl.data.loader import BatchDataset, eval_batches, make_loader
from asrtl.data.phones import orthography
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.decode import BeamDecoder, greedy
from asrtl.eval.score import write_results
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform


@dataclass
class Decoded:
    ids: list[str]
    refs: list[str]
    hyps: list[str]
    loss: float
    audio_s: float


def ctc_loss(log_probs: torch.Tensor, out_lens: torch.Tensor, targets: torch.Tensor,
             target_lens: torch.Tensor) -> torch.Tensor:
    """Mean CTC loss per target token: ``log_probs`` ``(B, T, V)``, ``targets`` ``(B, L)``."""
    loss = torch.nn.functional.ctc_loss(
        log_probs.float().transpose(0, 1), targets, out_lens, target_lens, blank=0,
        reduction="sum", zero_infinity=True)
    return loss / target_lens.sum().clamp(min=1)


@torch.no_grad()
def decode_cuts(model: CTCModel, fbank: Fbank, vocab: Vocabulary, cuts: CutSet,
                device: torch.device, batch_duration_s: float = 120.0,
                decoder: Callable[[torch.Tensor, torch.Tensor], list[str]] | None = None,
                num_workers: int = 0) -> Decoded:
    """Decodes every cut (greedy unless ``decoder`` is given) and averages the CTC loss."""
    model.eval()
    loader = make_loader(BatchDataset(cuts, eval_batches(cuts, batch_duration_s), vocab),
                         num_workers=num_workers)
    ids, refs, hyps, total, tokens, audio = [], [], [], 0.0, 0, 0.0
    for batch in loader:
        batch = batch.to(device)
        feats, feat_lens = fbank(batch.wavs, batch.wav_lens)
        log_probs, out_lens = model(feats, feat_lens)
        n = int(batch.target_lens.sum())
        total += float(ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens)) * n
        tokens += n
        hyps += decoder(log_probs, out_lens) if decoder else greedy(log_probs, out_lens, vocab)
        ids += batch.ids
        refs += batch.texts
        audio += batch.duration_s
    return Decoded(ids, refs, hyps, total / max(tokens, 1), audio)


def results_dir(run_dir: Path, name: str, decode: str, checkpoint: str | None = None) -> Path:
    """``run_dir/results/<name>`` for greedy decoding, ``<name>-<decode>`` otherwise.

    Args:
        checkpoint: a checkpoint of the run other than its own best one (``step-000400``):
            its results go to ``run_dir/results/<checkpoint>/<name>[-<decode>]``, apart from
            the run's own.
    """
    root = run_dir / "results" / checkpoint if checkpoint else run_dir / "results"
    return root / (name if decode == "greedy" else f"{name}-{decode}")


def evaluate_split(model: CTCModel, vocab: Vocabulary, cuts: CutSet, device: torch.device,
                   out_dir: Path, decode: str = "greedy", lexicon: list[str] | None = None,
                   kenlm: str | None = None, beam_size: int = 32,
                   extra: dict[str, Any] | None = None,
                   spell: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """Decodes ``cuts`` and writes ``hyps.txt``, ``errs.txt``, ``scores.json`` to ``out_dir``.

    Args:
        decode: ``greedy`` or ``beam`` (torchaudio ``ctc_decoder``).
        lexicon: words constraining the beam search (``None``: lexicon-free).
        kenlm: optional KenLM model for the beam search.
        extra: added to ``scores.json`` (split, checkpoint...).
        spell: a phone model's pronunciations of the ``lexicon`` words: the beam search then
            writes words, scored against the written transcripts (WER and CER of words).

    Returns:
        The scores, with the real-time factor of decoding.
    """
    if decode not in ("greedy", "beam"):
        raise UserError(f"decode must be greedy or beam, got {decode!r}")
    decoder = (BeamDecoder(vocab, lexicon, kenlm=kenlm, beam_size=beam_size, spell=spell)
               if decode == "beam" else None)
    to_words = decoder is not None and vocab.units == "phones" and lexicon is not None
    fbank = input_transform(model.cfg).to(device)
    model.to(device)
    t0 = time.perf_counter()
    out = decode_cuts(model, fbank, vocab, cuts, device, decoder=decoder)
    wall = time.perf_counter() - t0
    info = {"decode": decode, "rtf": round(wall / max(out.audio_s, 1e-9), 4),
            "loss": round(out.loss, 4), **(extra or {})}
    if decode == "beam":
        info.update(lexicon_words=getattr(decoder, "lexicon_size", 0), beam_size=beam_size,
                    kenlm=kenlm)
    if to_words:  # phones in, words out: scored on the written text
        written = {c.id: orthography(c) for c in cuts}
        info["units"] = "words from phones"
        return write_results(out_dir, out.ids, [written[i] for i in out.ids], out.hyps, info)
    return write_results(out_dir, out.ids, out.refs, out.hyps, info, vocab.units)
