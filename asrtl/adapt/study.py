"""A speaker-adaptation study: each speaker adapted with k utterances for every k, WER/CER
before and after on the speaker's other utterances, and their spread over speakers."""

from __future__ import annotations

import copy
import logging
import statistics
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet

from asrtl.adapt.config import AdaptConfig
from asrtl.adapt.run import adapt, save_adapted, speaker_split, subset
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.train.checkpoint import Checkpoint
from asrtl.train.loop import dev_scores

log = logging.getLogger(__name__)

EVAL_BATCH_DURATION_S = 120.0  # seconds of audio per decoding batch


def wer_cer(model: CTCModel, vocab: Vocabulary, cuts: CutSet,
            device: torch.device) -> dict[str, float]:
    """Greedy WER and CER of ``model`` on ``cuts`` (fractions, 4 decimals): the validation
    scores of training (:func:`asrtl.train.loop.dev_scores`) without the loss."""
    scores = dev_scores(model.to(device), input_transform(model.cfg).to(device), vocab, cuts,
                        device, EVAL_BATCH_DURATION_S)
    return {"wer": round(scores["wer"], 4), "cer": round(scores["cer"], 4)}


def adapt_speakers(base: Checkpoint, cuts: CutSet, speakers: list[str], ks: list[int],
                   method: AdaptConfig, out_dir: Path, device: torch.device,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Adapts copies of ``base.model`` to each speaker with its first k pool utterances
    for each k, saving each adaptation in ``out_dir/<speaker>/k<k>/`` (see
    :func:`asrtl.adapt.run.save_adapted`).

    Each speaker's utterances are split once (:func:`asrtl.adapt.run.speaker_split`): a
    pool of ``max(ks)`` and the rest, which evaluate every k and are never adapted on.

    Args:
        ks: the adaptation utterance counts, ascending.

    Returns:
        One row per speaker and k: ``speaker, k, steps, before, after`` (WER/CER, see
        :func:`wer_cer`), ``eval_utts`` and ``dir`` (relative to ``out_dir``).

    Raises:
        ValueError: an unknown speaker, or one with ``max(ks)`` utterances or fewer.
    """
    rows = []
    for spk in speakers:
        pool, held = speaker_split(cuts, spk, ks[-1], seed)
        evaluation = subset(cuts, held)
        before = wer_cer(base.model, base.vocab, evaluation, device)
        for k in ks:
            model = copy.deepcopy(base.model)
            state = adapt(model, base.vocab, subset(cuts, pool[:k]), method.name, method,
                          device, seed)
            after = wer_cer(model, base.vocab, evaluation, device)
            out = out_dir / spk / f"k{k}"
            save_adapted(out, state, {"base_checkpoint": str(base.path),
                                      "method": method.name, "speaker": spk, "k": k,
                                      "layers": method.layers, "steps": state.steps,
                                      "adapt_ids": pool[:k], "eval_ids": held})
            rows.append({"speaker": spk, "k": k, "steps": state.steps, "before": before,
                         "after": after, "eval_utts": len(held),
                         "dir": str(out.relative_to(out_dir))})
            log.info("%s k=%d %s (%d steps): CER %.3f -> %.3f, WER %.3f -> %.3f", spk, k,
                     method.name, state.steps, before["cer"], after["cer"],
                     before["wer"], after["wer"])
    return rows


def spread(rows: list[dict[str, Any]], k: int, when: str, metric: str) -> dict[str, float]:
    """Mean (4 decimals), min and max over speakers of ``rows[when][metric]`` at ``k``
    (``when``: ``before`` or ``after``; ``metric``: ``wer`` or ``cer``).

    Raises:
        ValueError: no row at ``k``.
    """
    vals = [r[when][metric] for r in rows if r["k"] == k]
    if not vals:
        raise ValueError(f"no adaptation with k={k} to summarise")
    return {"mean": round(statistics.mean(vals), 4), "min": min(vals), "max": max(vals)}


def summary(rows: list[dict[str, Any]], ks: list[int]) -> dict[int, dict[str, Any]]:
    """Per k, the spread (:func:`spread`) of WER and CER over speakers, before and after."""
    return {k: {when: {m: spread(rows, k, when, m) for m in ("wer", "cer")}
                for when in ("before", "after")} for k in ks}
