"""A run: one stable directory, resumed rather than clobbered; training then scoring."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from asrtl.data.manifest import Corpus, cut_texts, data_cache_dir, prepare_corpus
from asrtl.data.phones import check_units, pronunciations, with_units, written_words
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.config import DecodeConfig
from asrtl.eval.evaluate import evaluate_split, results_dir
from asrtl.io import read_json, write_json_atomic
from asrtl.models.attributes import attach_vocab, check_head
from asrtl.models.ctc import CTCModel, ModelConfig, num_parameters
from asrtl.models.factory import build_model, features_meta
from asrtl.train import distributed
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.loop import TrainConfig, fit, one_language
from asrtl.train.model_card import write_model_card

log = logging.getLogger(__name__)


# Settings that may change between a run and its resumption (budgets, hardware, decoding).
RESUMABLE_CHANGES = ("train.epochs", "train.stop_cer", "device", "decode", "train.num_workers",
                     "train.compile", "exp_dir")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


_HELD: dict[Path, int] = {}  # run dirs this process holds -> the open lock file


def hold_run_dir(run_dir: Path) -> None:
    """Takes ``run_dir/.lock`` (an exclusive ``flock``, released by the kernel when this
    process ends, however it ends: a killed run leaves no stale lock).

    Raises:
        ValueError: another live process holds it, naming that process.
    """
    key = run_dir.resolve()
    if key in _HELD:
        return
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UserError(f"{run_dir} is in use by a live run ({holder}); wait for it or use "
                        f"another exp_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
    _HELD[key] = fd


def claim_run_dir(run_dir: Path, config: dict[str, Any],
                  work: str = "checkpoints/latest.json") -> bool:
    """Records ``config`` in ``run_dir/run.json``, or checks it against a previous run's.

    The directory is held (:func:`hold_run_dir`) until this process ends. An earlier run
    that failed before saving any work (no file matching the glob ``work``: its first
    checkpoint) does not count: its ``run.json`` is replaced.

    Returns:
        True when the directory holds an earlier run of the same configuration (resume).
        Settings the earlier run did not have (added to asrtl since) are taken to match.

    Raises:
        ValueError: when the directory holds a run of another configuration, naming the
            settings that differ (a rerun resumes; it never clobbers), or a live run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main():
        hold_run_dir(run_dir)
    f = run_dir / "run.json"
    if not f.is_file():
        write_json_atomic(f, config)
        return False
    if not any(run_dir.glob(work)):
        # the earlier run stopped before it saved anything: nothing of it to resume
        log.info("%s: the earlier run saved nothing (%s); starting over", run_dir, work)
        write_json_atomic(f, config)
        return False
    old, new = _flatten(read_json(f, "run config")), _flatten(config)
    added = sorted(set(new) - set(old))  # settings a newer asrtl knows: their defaults held
    if added:
        log.info("%s: settings new since this run began: %s", run_dir,
                 ", ".join(f"{k}={new[k]!r}" for k in added))
    diff = sorted(k for k in set(old) | set(new) if k not in added and old.get(k) != new.get(k)
                  and not k.startswith(RESUMABLE_CHANGES))
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:4])
        raise UserError(f"{run_dir} holds a run with other settings ({shown}); use another "
                        f"exp_dir or remove it")
    write_json_atomic(f, config)
    return True


def train_and_score(run_dir: Path, corpus: Corpus, vocab: Vocabulary, model: CTCModel,
                    train_cfg: TrainConfig, decode_cfg: DecodeConfig | Mapping[str, Any],
                    device: torch.device, seed: int, meta: dict[str, Any],
                    **fit_kwargs: Any) -> dict[str, Any] | None:
    """Trains (or resumes) ``model`` on ``corpus`` and scores its best checkpoint.

    Writes ``results/<split>/`` (greedy) and ``results/<split>-beam/`` (lexicon: the training
    words) for each of ``decode_cfg.splits``.

    Args:
        decode_cfg: the scoring; a ``decode:`` mapping is converted
            (:meth:`DecodeConfig.from_dict`).

    Returns:
        ``{"fit": fit's result, "checkpoint": path, "scores": {"<split>[-beam]": scores}}``;
        None on ranks other than 0 of a distributed run (rank 0 scores).

    Raises:
        ValueError: a bad ``decode`` setting, or a split to score the corpus lacks (before
            training).
    """
    decode_cfg = DecodeConfig.from_dict(decode_cfg)
    check_splits(corpus, decode_cfg)
    train_cuts = corpus.cuts("train")
    data = one_language(vocab, train_cuts, corpus.cuts("dev"), train_cfg, seed, device)
    result = fit(model, data, train_cfg, run_dir, device, seed, meta, **fit_kwargs)
    if not distributed.is_main():
        return None
    best = load_checkpoint(run_dir)
    scores = score_splits(run_dir, "", best.model, vocab, corpus, written_words(train_cuts),
                          decode_cfg, device, {"checkpoint": str(best.path),
                                               "train_wall_s": result["train_wall_s"],
                                               "device": str(device)})
    return {"fit": result, "checkpoint": best.path, "scores": scores}


def check_splits(corpus: Corpus, decode_cfg: DecodeConfig) -> None:
    """Every split ``decode_cfg`` scores exists in ``corpus`` (checked before training).

    Raises:
        ValueError: naming the missing split(s), the corpus and the splits it has.
    """
    missing = [s for s in decode_cfg.splits if s != "all" and s not in corpus.splits]
    if missing:
        raise UserError(f"decode.splits: corpus {corpus.dir} has no split(s) {missing} "
                        f"(has {corpus.splits})")


def score_splits(run_dir: Path, prefix: str, model: CTCModel, vocab: Vocabulary,
                 corpus: Corpus, words: list[str], decode_cfg: DecodeConfig | Mapping[str, Any],
                 device: torch.device, extra: dict[str, Any]) -> dict[str, Any]:
    """Decodes each of ``decode_cfg.splits`` greedily (and with the lexicon beam search when
    ``decode_cfg.beam``) into ``results/<prefix><split>[-beam]/``. A phone model's beam
    search spells ``words`` by their pronunciations and writes words, scored against the
    written transcripts.

    Returns:
        ``{"<split>[-beam]": scores}``.
    """
    decode_cfg = DecodeConfig.from_dict(decode_cfg)
    scores = {}
    for split in decode_cfg.splits:
        for decode in ("greedy", "beam") if decode_cfg.beam else ("greedy",):
            out = results_dir(run_dir, f"{prefix}{split}", decode)
            scores[out.name] = evaluate_split(
                model, vocab, corpus.cuts(split), device, out, decode=decode, lexicon=words,
                beam_size=decode_cfg.beam_size, extra={"split": split, **extra},
                spell=pronunciations(corpus))
    return scores


def pretrain_language(run_dir: Path, language: str, data_cfg: Any, model_cfg: Any,
                      train_cfg: TrainConfig | Mapping[str, Any],
                      decode_cfg: DecodeConfig | Mapping[str, Any], device: torch.device,
                      seed: int, config: dict[str, Any], units: str = "chars",
                      ) -> dict[str, Any] | None:
    """Pretraining from scratch on one language: corpus, vocabulary, model, training,
    scoring. Used by ``recipes/pretrain.py`` and by the transfer recipe for a missing source.

    Args:
        train_cfg, decode_cfg: the settings, or ``train:``/``decode:`` mappings (converted
            here, before any work).
        units: ``chars``, or ``phones``: IPA phone targets (:mod:`asrtl.data.phones`).

    Raises:
        ValueError: a bad ``train`` or ``decode`` setting, or a run directory in use.
    """
    train_cfg = as_train_config(train_cfg)
    decode_cfg = DecodeConfig.from_dict(decode_cfg)
    check_units(units, language)
    check_head(model_cfg.get("head"), units)
    distributed.init(device)
    claim_run_dir(run_dir, config)
    with distributed.main_first():
        corpus = with_units(prepare_corpus(data_cfg, language, seed=seed), units,
                            data_cache_dir(data_cfg))
    vocab = Vocabulary.from_texts(cut_texts(corpus.cuts("train")), units)
    torch.manual_seed(seed)
    model = build_model(ModelConfig.from_dict({**model_cfg, "vocab_size": len(vocab)}))
    attach_vocab(model, vocab)
    log.info("pretraining %s: model %s, %.2f M parameters, %d tokens, device %s",
             corpus.language, model.cfg.name, num_parameters(model) / 1e6, len(vocab), device)
    out = train_and_score(run_dir, corpus, vocab, model, train_cfg, decode_cfg, device, seed,
                          run_meta(corpus, vocab, model, config))
    if out is not None:
        write_model_card(run_dir)
    return out


def as_train_config(train_cfg: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    """``train_cfg`` as a :class:`TrainConfig` (a ``train:`` mapping is converted)."""
    return train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)


def run_meta(corpus: Corpus, vocab: Vocabulary, model: CTCModel, config: dict[str, Any],
             parent: str | None = None) -> dict[str, Any]:
    """The metadata every checkpoint of a run carries."""
    return {"language": corpus.language, "vocab": vocab.tokens, "units": vocab.units,
            "parent": parent,
            "features": features_meta(model.cfg),
            "corpus": {"source": corpus.source, "dir": str(corpus.dir)}, "config": config}
