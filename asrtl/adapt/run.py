"""One speaker's adaptation: the split of its utterances, the training steps, the saved
parameters (the adapted ones alone), and loading them back on top of the base checkpoint."""

from __future__ import annotations

import copy
import logging
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from safetensors.torch import load_file, save_file

from asrtl.adapt.config import AdaptConfig
from asrtl.adapt.methods import Adaptation, prepare
from asrtl.data.features import SpecAugment
from asrtl.data.loader import BatchDataset
from asrtl.data.vocab import Vocabulary
from asrtl.errors import MissingInput, UserError
from asrtl.eval.evaluate import ctc_loss
from asrtl.io import read_json, write_json_atomic
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)


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
        raise UserError(f"unknown speaker {speaker!r}; this split has: {known}"
                         + (" ..." if len(by_speaker) > 12 else ""))
    ids = list(by_speaker[speaker])
    random.Random(f"{seed}-{speaker}").shuffle(ids)
    if len(ids) <= k_max:
        raise UserError(f"speaker {speaker!r} has {len(ids)} utterances: adapting on up to "
                        f"{k_max} needs at least {k_max + 1} (one to evaluate on)")
    return ids[:k_max], ids[k_max:]


def adapt(model: CTCModel, vocab: Vocabulary, cuts: CutSet, method: str,
          cfg: AdaptConfig | Mapping[str, Any], device: torch.device,
          seed: int = 0) -> Adaptation:
    """Adapts ``model`` in place on ``cuts`` (a few utterances: one batch) with AdamW at
    ``cfg.lr``; returns what was trained (``steps`` taken included).

    With ``cfg.early_stop`` and two or more utterances, the number of steps is chosen first:
    a copy adapts on all but the last utterance for up to ``cfg.steps`` steps, its CTC loss
    on the last one checked every ``cfg.eval_every`` steps; the best count (0: adaptation
    does not help) then adapts on all of them. One utterance adapts for ``cfg.steps``.

    Args:
        method: the method's name (``cfg.name``, when ``cfg`` names one, must agree).
        cfg: an :class:`AdaptConfig`, or the settings of one (a ``method`` node: unset
            ones keep their defaults).

    Raises:
        ValueError: a bad setting (see :meth:`AdaptConfig.from_dict`).
    """
    cfg = AdaptConfig.from_dict(cfg.to_dict() if isinstance(cfg, AdaptConfig) else cfg,
                                name=method)
    ids = [c.id for c in cuts]
    ok = feasible(model, vocab, cuts, device)
    if not all(ok.values()):
        log.warning("%d of %d adaptation utterances are too fast for the model's frame rate "
                    "(more labels than output frames): CTC cannot align them, they teach "
                    "nothing", sum(not v for v in ok.values()), len(ok))
    steps = cfg.steps
    usable = [i for i in ids if ok[i]]
    if cfg.early_stop and len(ids) >= 2 and usable:
        held = usable[-1]  # the held-out utterance must be alignable, or its loss says nothing
        trial = copy.deepcopy(model)
        trial_state = prepare(trial, method, cfg.layers)
        losses = _train(trial, trial_state, vocab, cuts, [i for i in ids if i != held], cfg,
                        steps, device, seed, held=[held])
        steps = min(losses, key=lambda n: (losses[n], n))
    state = prepare(model, method, cfg.layers)
    _train(model, state, vocab, cuts, ids, cfg, steps, device, seed)
    state.steps = steps
    return state


@torch.no_grad()
def feasible(model: CTCModel, vocab: Vocabulary, cuts: CutSet, device: torch.device
             ) -> dict[str, bool]:
    """Per cut id: can CTC align its transcript with the model's output frames (enough
    frames for the labels and the blanks between repeats)?"""
    model.to(device).eval()
    fbank = input_transform(model.cfg).to(device)
    data = BatchDataset(cuts, [[c.id] for c in cuts], vocab)  # one utterance a batch: no padding
    out = {}
    for i in range(len(data)):
        b = data[i].to(device)
        _, out_lens = model(*fbank(b.wavs, b.wav_lens))
        t = b.targets[0, :int(b.target_lens[0])]
        repeats = int((t[1:] == t[:-1]).sum()) if len(t) > 1 else 0
        out[b.ids[0]] = int(out_lens[0]) >= len(t) + repeats
    return out


def _train(model: CTCModel, state: Adaptation, vocab: Vocabulary, cuts: CutSet,
           ids: list[str], cfg: AdaptConfig, steps: int, device: torch.device, seed: int,
           held: list[str] | None = None) -> dict[int, float]:
    """``steps`` AdamW steps on the utterances ``ids`` (one batch); with ``held``, their CTC
    loss every ``cfg.eval_every`` steps (and before the first): ``{steps: loss}``."""
    torch.manual_seed(seed)
    model.to(device)
    if state.lhuc is not None:
        state.lhuc.to(device)
    if state.reference is not None:
        state.reference.to(device)
    fbank = input_transform(model.cfg).to(device)
    # raw-waveform models (wav2vec 2.0) mask in time themselves: SpecAugment is for fbank
    specaug = (SpecAugment().to(device) if cfg.spec_augment and not model.cfg.raw_waveform
               else None)
    batch = BatchDataset(cuts, [ids], vocab)[0].to(device)
    check = BatchDataset(cuts, [held], vocab)[0].to(device) if held else None
    optimizer = torch.optim.AdamW(state.parameters(), lr=cfg.lr, weight_decay=0.0)
    kl_weight = cfg.kl_weight
    every = cfg.eval_every
    losses: dict[int, float] = {}
    for step in range(steps + 1):
        if check is not None and step % every == 0:
            model.eval()
            with torch.no_grad():
                log_probs, out_lens = model(*fbank(check.wavs, check.wav_lens))
                loss = float(ctc_loss(log_probs, out_lens, check.targets, check.target_lens))
                losses[step] = loss if math.isfinite(loss) else math.inf
        if step == steps:
            break
        model.train()
        for m in model.modules():  # a few utterances of one speaker must not move the
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):  # batch-norm statistics
                m.eval()
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
    return losses


def save_adapted(out_dir: Path, state: Adaptation, meta: dict[str, Any]) -> None:
    """``adapted.safetensors`` (the adapted parameters alone) and ``adapted.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # adapted.json last, and none beside weights being replaced: a kill in between leaves
    # weights without their description, which a rerun adapts anew
    (out_dir / "adapted.json").unlink(missing_ok=True)
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
        raise MissingInput(f"no speaker adaptation (adapted.json) in {out_dir}")
    meta = read_json(out_dir / "adapted.json", "speaker adaptation record")
    base = load_checkpoint(meta["base_checkpoint"])
    tensors = load_file(str(out_dir / "adapted.safetensors"))
    state = prepare(base.model, meta["method"], int(meta.get("layers", AdaptConfig.layers)))
    for name, value in tensors.items():
        if name not in state.params or state.params[name].shape != value.shape:
            raise UserError(f"{out_dir}: adapted parameter {name} does not fit the base "
                            f"model {meta['base_checkpoint']}")
        with torch.no_grad():
            state.params[name].copy_(value)
    base.model.eval()  # LHUC scales live on in the hooks that hold them
    return base.model, base.vocab, meta


def subset(cuts: CutSet, ids: list[str]) -> CutSet:
    """The cuts whose ids are ``ids``."""
    keep = set(ids)
    return CutSet.from_cuts(c for c in cuts if c.id in keep)
