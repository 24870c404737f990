"""One speaker's adaptation: the split of its utterances, the training steps, the saved
parameters (the adapted ones alone), and loading them back on top of the base checkpoint."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from safetensors.torch import load_file, save_file

from asrtl.adapt.methods import Adaptation, prepare
from asrtl.data.features import Fbank, FeatureConfig, SpecAugment
from asrtl.data.loader import BatchDataset
from asrtl.data.vocab import Vocabulary
from asrtl.eval.evaluate import ctc_loss
from asrtl.io import write_json_atomic
from asrtl.models.ctc import CTCModel
from asrtl.train.checkpoint import load_checkpoint


def speakers_of(cuts: CutSet) -> dict[str, list[str]]:
    """Cut ids per speaker, sorted."""
    out: dict[str, list[str]] = {}
    for c in cuts:
        out.setdefault(c.supervisions[0].speaker or "unknown", []).append(c.id)
    return {s: sorted(ids) for s, ids in sorted(out.items())}


def speaker_split(cuts: CutSet, speaker: str, k_max: int, seed: int = 0
                  ) -> tuple[list[str], list[str]]:
    """A speaker's adaptation pool (``k_max`` utterances, in a seeded order: the first k
    adapt with k) and evaluation utterances (all the others, the same for every k).

    Raises:
        ValueError: an unknown speaker (the known ones listed), or too few utterances.
    """
    by_speaker = speakers_of(cuts)
    if speaker not in by_speaker:
        known = ", ".join(list(by_speaker)[:12])
        raise ValueError(f"unknown speaker {speaker!r}; this split has: {known}"
                         + (" ..." if len(by_speaker) > 12 else ""))
    ids = list(by_speaker[speaker])
    random.Random(f"{seed}-{speaker}").shuffle(ids)
    if len(ids) <= k_max:
        raise ValueError(f"speaker {speaker!r} has {len(ids)} utterances: adapting on up to "
                         f"{k_max} needs at least {k_max + 1} (one to evaluate on)")
    return ids[:k_max], ids[k_max:]


def adapt(model: CTCModel, vocab: Vocabulary, cuts: CutSet, method: str, cfg: Any,
          device: torch.device, seed: int = 0) -> Adaptation:
    """Adapts ``model`` in place on ``cuts`` (a few utterances: one batch) for ``cfg.steps``
    steps of AdamW at ``cfg.lr``; returns what was trained.

    Args:
        cfg: ``steps``, ``lr``, ``layers`` (finetune_lower), ``kl_weight`` (kl),
            ``spec_augment``.
    """
    torch.manual_seed(seed)
    state = prepare(model, method, int(cfg.get("layers", 2)))
    model.to(device)
    if state.lhuc is not None:
        state.lhuc.to(device)
    if state.reference is not None:
        state.reference.to(device)
    fbank = Fbank(FeatureConfig(num_mel_bins=model.cfg.num_mel_bins)).to(device)
    specaug = SpecAugment().to(device) if cfg.get("spec_augment", True) else None
    batch = BatchDataset(cuts, [[c.id for c in cuts]], vocab)[0].to(device)
    optimizer = torch.optim.AdamW(state.parameters(), lr=float(cfg.lr), weight_decay=0.0)
    kl_weight = float(cfg.get("kl_weight", 0.0))
    model.train()
    for m in model.modules():  # a few utterances of one speaker must not move the batch-norm
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # statistics
            m.eval()
    for _ in range(int(cfg.steps)):
        feats, lens = fbank(batch.wavs, batch.wav_lens)
        x = specaug(feats) if specaug is not None else feats
        log_probs, out_lens = model(x, lens)
        loss = ctc_loss(log_probs, out_lens, batch.targets, batch.target_lens)
        if state.reference is not None and kl_weight > 0:
            with torch.no_grad():
                ref, _ = state.reference(x, lens)
            mask = (torch.arange(ref.shape[1], device=device)[None] < out_lens[:, None])
            kl = (ref.exp() * (ref - log_probs)).sum(-1)  # KL(SI || adapted) per frame
            loss = (1 - kl_weight) * loss + kl_weight * (kl * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(state.parameters()), 5.0)
        optimizer.step()
    model.eval()
    return state


def save_adapted(out_dir: Path, state: Adaptation, meta: dict[str, Any]) -> None:
    """``adapted.safetensors`` (the adapted parameters alone) and ``adapted.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {n: p.detach().cpu().contiguous() for n, p in state.params.items()}
    tmp = out_dir / ".adapted.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(out_dir / "adapted.safetensors")
    write_json_atomic(out_dir / "adapted.json", {
        **meta, "parameters": {n: list(t.shape) for n, t in tensors.items()},
        "num_parameters": sum(t.numel() for t in tensors.values())})


def load_adapted(out_dir: str | Path) -> tuple[CTCModel, Vocabulary, dict[str, Any]]:
    """The base checkpoint named in ``adapted.json`` with the speaker's parameters on top
    (LHUC scales hooked in, or the adapted layers' weights replaced).

    Raises:
        FileNotFoundError: no adaptation in ``out_dir``.
        ValueError: parameters that do not fit the base model.
    """
    out_dir = Path(out_dir)
    if not (out_dir / "adapted.json").is_file():
        raise FileNotFoundError(f"no speaker adaptation (adapted.json) in {out_dir}")
    meta = json.loads((out_dir / "adapted.json").read_text())
    base = load_checkpoint(meta["base_checkpoint"])
    tensors = load_file(str(out_dir / "adapted.safetensors"))
    state = prepare(base.model, meta["method"], int(meta.get("layers", 2)))
    for name, value in tensors.items():
        if name not in state.params or state.params[name].shape != value.shape:
            raise ValueError(f"{out_dir}: adapted parameter {name} does not fit the base "
                             f"model {meta['base_checkpoint']}")
        with torch.no_grad():
            state.params[name].copy_(value)
    base.model.eval()  # LHUC scales live on in the hooks that hold them
    return base.model, base.vocab, meta


def subset(cuts: CutSet, ids: list[str]) -> CutSet:
    """The cuts whose ids are ``ids``."""
    keep = set(ids)
    return CutSet.from_cuts(c for c in cuts if c.id in keep)
