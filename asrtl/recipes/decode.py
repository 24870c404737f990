"""Re-score a checkpoint on a split, greedy or with beam search.

    python recipes/decode.py checkpoint=exp/pretrain/turkish decode=beam
    python recipes/decode.py checkpoint=exp/pretrain/turkish data=kaldi data.path=/corpora/x \
        language=english split=all
    python recipes/decode.py checkpoint=exp/pretrain/turkish data.cache_dir=/scratch/asrtl

Writes ``results/<split>[-beam]/`` beside the checkpoint's run (for another corpus:
``results/<source>-<language>-<split>[-beam]/``) when the checkpoint is the run's own best one
(``checkpoints/best.json``, else ``latest.json``: ``checkpoint=<run>`` or its best step dir).
Any other checkpoint of the run (``checkpoint=<run>/checkpoints/step-000400``) writes
``results/step-000400/<split>[-beam]/`` instead: nothing but the run itself overwrites its own
results (which its ``MODEL_CARD.md`` quotes). Given ``exp_dir=E``, results go under
``E/decode/<model>/results/`` (``asrtl.layout.model_name``: ``turkish``,
``turkish-step-000400``, ``assamese-to-bengali-finetune``) and the checkpoint's directory is
only read. Where the results would go is checked before any work: a read-only run fails at
once, naming the directory (give ``exp_dir=``). ``split=all`` reads every utterance of the
corpus, however few: a user corpus is not split then.

Without ``data=<source>`` the checkpoint's own corpus is decoded, read from (or rebuilt in)
the cache it was built in, or in ``data.cache_dir`` when given.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from asrtl.cli import check_overrides, recipe, unwritable
from asrtl.data.manifest import data_cache_dir, prepare_corpus
from asrtl.data.phones import language_lexicon, with_units
from asrtl.errors import UserError
from asrtl.eval.config import check_search
from asrtl.eval.decode import lexicon_words
from asrtl.eval.evaluate import evaluate_split, results_dir
from asrtl.layout import RunLayout
from asrtl.train.checkpoint import load_checkpoint, pointer_name
from asrtl.train.device import resolve_device


def output_run_dir(run_dir: Path, checkpoint: str, exp_dir: str | None) -> Path:
    """Where results go: the checkpoint's run, or ``<exp_dir>/decode/<model>``
    (:func:`asrtl.layout.model_name` of ``checkpoint``)."""
    return run_dir if not exp_dir else RunLayout(exp_dir).model_output("decode", checkpoint)


def checkpoint_run(ckpt: Path) -> tuple[Path, str | None]:
    """The run directory of the checkpoint directory ``ckpt``, and ``ckpt``'s name when it is
    not the run's own best checkpoint (``checkpoints/best.json``, else ``latest.json``; None
    when it is, or when ``ckpt`` is no run's): the results of such a checkpoint go to
    ``<run>/results/<name>/``, never over the run's own."""
    if ckpt.parent.name != "checkpoints":
        return ckpt, None
    run_dir = ckpt.parent.parent
    for pointer in ("best.json", "latest.json"):
        f = ckpt.parent / pointer
        if f.is_file():
            try:
                best = pointer_name(f)
            except UserError:
                break  # unreadable: which one is the run's own is unknown
            return run_dir, None if best == ckpt.name else ckpt.name
    return run_dir, ckpt.name


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    search = check_search(cfg.decode)
    ckpt = load_checkpoint(cfg.checkpoint)
    run_dir, other = checkpoint_run(ckpt.path)
    own = cfg.data.get("name") is None  # no data=<source>: the checkpoint's own corpus
    language = cfg.language or ckpt.language
    name = cfg.split if own else f"{cfg.data.name}-{language}-{cfg.split}"
    out = results_dir(output_run_dir(run_dir, cfg.checkpoint, cfg.exp_dir), name, search,
                      checkpoint=None if cfg.exp_dir else other)
    problem = unwritable(out)
    if problem:
        hint = ("give exp_dir=<a writable directory> (results then go to "
                "<exp_dir>/decode/<model>/results)" if not cfg.exp_dir else "give another exp_dir")
        raise UserError(f"cannot write the results to {out}: {problem}; {hint}")
    data = cfg.data
    if own:  # its own corpus, in the cache it was built in unless data.cache_dir says
        data = {**ckpt.meta.data, **({"cache_dir": cfg.data.cache_dir}
                                     if cfg.data.cache_dir else {})}
    corpus = with_units(prepare_corpus(data, language,
                                       seed=(ckpt.meta.config or {}).get("seed", cfg.seed),
                                       hold_out=own or cfg.split != "all"),
                        ckpt.vocab.units, data_cache_dir(data))
    cuts = corpus.cuts(cfg.split)
    words = (lexicon_words(cfg.lexicon, ckpt.meta.training_corpus(
        language, cfg.data.cache_dir if own else None)) if search == "beam" else None)
    spell = None
    if words is not None and ckpt.vocab.units == "phones":  # words through their phones
        spell = language_lexicon(corpus.language, words, data_cache_dir(data)).words
    scores = evaluate_split(
        ckpt.model, ckpt.vocab, cuts, resolve_device(cfg.device), out, decode=search,
        lexicon=words, kenlm=cfg.kenlm, beam_size=cfg.beam_size, spell=spell,
        extra={"split": cfg.split, "checkpoint": str(ckpt.path), "corpus": str(corpus.dir)})
    rate = "PER" if scores.get("units") == "phones" else "CER"
    print(f"{language} {cfg.split} {search}: WER {scores['wer_percent']:.1f}% "
          f"{rate} {scores['cer_percent']:.1f}% -> {out}")


if __name__ == "__main__":
    check_overrides("decode")
    main()
