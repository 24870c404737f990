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
from asrtl.errors import UserError
from asrtl.io import read_json
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.train.checkpoint import Checkpoint, weights_sha256
from asrtl.train.loop import dev_scores
from asrtl.train.signals import Interrupted, stop_requests

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
    :func:`asrtl.adapt.run.save_adapted`) with its scores.

    Each speaker's utterances are split once (:func:`asrtl.adapt.run.speaker_split`): a
    pool of ``max(ks)`` and the rest, which evaluate every k and are never adapted on.

    Resumable: an adaptation already in ``out_dir`` with the same base checkpoint (path and
    weights), settings, seed and utterances is reused, not redone; SIGTERM or SIGINT stops
    after the current one (the same call again goes on from there).

    Args:
        ks: the adaptation utterance counts, ascending.

    Returns:
        One row per speaker and k: ``speaker, k, steps, before, after`` (WER/CER, see
        :func:`wer_cer`), ``eval_utts`` and ``dir`` (relative to ``out_dir``).

    Raises:
        ValueError: an unknown speaker, or one with ``max(ks)`` utterances or fewer.
        Interrupted: on a stop signal, after saving the adaptation under way.
    """
    rows = []
    base_weights = weights_sha256(base.model)  # a run retrained in place is another base
    with stop_requests() as stop:
        for spk in speakers:
            pool, held = speaker_split(cuts, spk, ks[-1], seed)
            evaluation = subset(cuts, held)
            before = None
            for k in ks:
                out = out_dir / spk / f"k{k}"
                meta = {"base_checkpoint": str(base.path), "base_weights_sha256": base_weights,
                        "method": method.name,
                        "settings": method.to_dict(), "seed": seed, "speaker": spk, "k": k,
                        "layers": method.layers, "adapt_ids": pool[:k], "eval_ids": held}
                row = _finished(out, meta)
                if row is None:
                    if before is None:  # scored once per speaker
                        before = wer_cer(base.model, base.vocab, evaluation, device)
                    model = copy.deepcopy(base.model)
                    state = adapt(model, base.vocab, subset(cuts, pool[:k]), method.name,
                                  method, device, seed)
                    after = wer_cer(model, base.vocab, evaluation, device)
                    row = {"steps": state.steps, "before": before, "after": after}
                    save_adapted(out, state, {**meta, **row})
                    verb = "adapted"
                else:
                    verb = "reused"
                before = row["before"]
                rows.append({"speaker": spk, "k": k, **row, "eval_utts": len(held),
                             "dir": str(out.relative_to(out_dir))})
                log.info("%s k=%d %s (%d steps, %s): CER %.3f -> %.3f, WER %.3f -> %.3f", spk,
                         k, method.name, row["steps"], verb, row["before"]["cer"],
                         row["after"]["cer"], row["before"]["wer"], row["after"]["wer"])
                if stop.signum and len(rows) < len(speakers) * len(ks):
                    raise Interrupted(stop.signum, (
                        f"interrupted by {stop.name} after {len(rows)} of "
                        f"{len(speakers) * len(ks)} adaptations (in {out_dir}); run the same "
                        f"command again to resume"))
    return rows


def _finished(out: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """``{"steps", "before", "after"}`` of the adaptation saved in ``out`` when it was made
    as ``meta`` says (same base, settings, seed and utterances), else None."""
    f = out / "adapted.json"
    if not f.is_file() or not (out / "adapted.safetensors").is_file():
        return None
    saved = read_json(f, "speaker adaptation record")
    if any(saved.get(k) != v for k, v in meta.items()) or "after" not in saved:
        return None
    return {k: saved[k] for k in ("steps", "before", "after")}


def spread(rows: list[dict[str, Any]], k: int, when: str, metric: str) -> dict[str, float]:
    """Mean (4 decimals), min and max over speakers of ``rows[when][metric]`` at ``k``
    (``when``: ``before`` or ``after``; ``metric``: ``wer`` or ``cer``).

    Raises:
        ValueError: no row at ``k``.
    """
    vals = [r[when][metric] for r in rows if r["k"] == k]
    if not vals:
        raise UserError(f"no adaptation with k={k} to summarise")
    return {"mean": round(statistics.mean(vals), 4), "min": min(vals), "max": max(vals)}


def summary(rows: list[dict[str, Any]], ks: list[int]) -> dict[int, dict[str, Any]]:
    """Per k, the spread (:func:`spread`) of WER and CER over speakers, before and after."""
    return {k: {when: {m: spread(rows, k, when, m) for m in ("wer", "cer")}
                for when in ("before", "after")} for k in ks}
