"""WER and CER with jiwer; per-split results a person can check by hand.

``results/<split>/``: ``hyps.txt`` (``id<TAB>hyp``), ``errs.txt`` (per utterance reference,
hypothesis and word alignment, worst first), ``scores.json`` (``wer``/``cer`` as fractions,
``wer_percent``/``cer_percent`` as percentages, counts).

Phone texts (``units="phones"``: ``m ɛ r | d ø n``) are scored on their words and their
phones: ``wer`` counts phonemic words (the phones between two ``|``; right only when every
phone is), ``cer`` is the phone error rate (``per``, also written as such): the unit error
rate, as ``cer`` is for characters.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import jiwer

from asrtl.errors import UserError
from asrtl.io import write_json_atomic


def _nfc(texts: list[str]) -> list[str]:
    return [unicodedata.normalize("NFC", t) for t in texts]


def _phone_views(texts: list[str]) -> tuple[list[str], list[str]]:
    """Phone texts as (words: each word's phones joined, phones: the phones alone)."""
    words = [" ".join("_".join(w.split()) for w in t.split("|") if w.strip()) for t in texts]
    phones = [" ".join(p for p in t.split() if p != "|") for t in texts]
    return words, phones


def score(refs: list[str], hyps: list[str], units: str = "chars") -> dict[str, Any]:
    """Corpus-level WER and CER (fractions and percentages) of ``hyps`` against ``refs``;
    for phone texts (``units="phones"``) the phonemic-word and phone error rates.

    Both sides are compared in Unicode NFC: the models emit NFC tokens, while transcripts
    may hold other forms (the embedded corpus precomposes Bengali য় for eSpeak, which NFC
    decomposes).
    """
    if len(refs) != len(hyps):  # a caller's bug, not the user's
        raise ValueError(f"need as many hypotheses as references, got {len(hyps)}/{len(refs)}")
    if not refs:
        raise UserError("nothing to score: no utterances (an empty split?)")
    refs = [r if r.strip() else "<empty>" for r in _nfc(refs)]
    hyps = _nfc(hyps)
    if units == "phones":
        (ref_w, ref_p), (hyp_w, hyp_p) = _phone_views(refs), _phone_views(hyps)
        words = jiwer.process_words(ref_w, hyp_w)
        phones = jiwer.process_words(ref_p, hyp_p)
        return {"wer": words.wer, "cer": phones.wer, "per": phones.wer,
                "wer_percent": round(100 * words.wer, 2),
                "cer_percent": round(100 * phones.wer, 2),
                "per_percent": round(100 * phones.wer, 2), "units": "phones",
                "num_utts": len(refs), "num_words": sum(len(r.split()) for r in ref_w),
                "num_phones": sum(len(r.split()) for r in ref_p)}
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {"wer": words.wer, "cer": chars.cer, "wer_percent": round(100 * words.wer, 2),
            "cer_percent": round(100 * chars.cer, 2), "num_utts": len(refs),
            "num_words": sum(len(r.split()) for r in refs),
            "num_chars": sum(len(r) for r in refs)}


def write_results(out_dir: Path, ids: list[str], refs: list[str], hyps: list[str],
                  extra: dict[str, Any] | None = None, units: str = "chars") -> dict[str, Any]:
    """Writes ``hyps.txt``, ``errs.txt`` and ``scores.json`` into ``out_dir``; returns scores
    (``units``: see :func:`score`; ``errs.txt`` aligns the phones of phone texts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = {**score(refs, hyps, units), **(extra or {})}
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    (out_dir / "hyps.txt").write_text("".join(f"{ids[i]}\t{hyps[i]}\n" for i in order),
                                      encoding="utf-8")
    rows = []
    refs, hyps = _nfc(refs), _nfc(hyps)
    for i in order:
        ref = refs[i] if refs[i].strip() else "<empty>"
        m = jiwer.process_words(ref, hyps[i])
        errors = m.substitutions + m.deletions + m.insertions
        vis = jiwer.visualize_alignment(m, show_measures=False, skip_correct=False)
        lines = [ln for ln in vis.splitlines() if ln.strip() and not ln.startswith("===")]
        rows.append((errors, ids[i], "\n".join(lines)))
    rows.sort(key=lambda r: (-r[0], r[1]))
    unit, rate = ("phone", "PER") if units == "phones" else ("word", "CER")
    text = [f"%WER {scores['wer_percent']:.2f} %{rate} {scores['cer_percent']:.2f} "
            f"[{scores['num_utts']} utterances]\n"]
    for errors, uid, vis in rows:
        text.append(f"\n{uid} ({errors} {unit} errors)\n{vis}\n")
    (out_dir / "errs.txt").write_text("".join(text), encoding="utf-8")
    write_json_atomic(out_dir / "scores.json", scores)
    return scores
