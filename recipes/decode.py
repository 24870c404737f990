"""Re-score a checkpoint on a split, greedy or with beam search.

    python recipes/decode.py checkpoint=exp/pretrain/turkish decode=beam
    python recipes/decode.py checkpoint=exp/pretrain/turkish data=kaldi data.path=/corpora/x \
        language=english split=all

Writes ``results/<split>[-beam]/`` beside the checkpoint's run (for another corpus:
``results/<source>-<language>-<split>[-beam]/``), or, given ``exp_dir=E``, under
``E/decode/<model>/results/`` (``asrtl.layout.model_name``: ``turkish``,
``assamese-to-bengali-finetune``) (the checkpoint's directory is then only read). ``split=all``
reads every utterance of the corpus, however few: a user corpus is not split then.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import prepare_corpus
from asrtl.eval.config import check_search
from asrtl.eval.decode import lexicon_words
from asrtl.eval.evaluate import evaluate_split, results_dir
from asrtl.layout import RunLayout
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.device import resolve_device


def output_run_dir(run_dir: Path, checkpoint: str, exp_dir: str | None) -> Path:
    """Where results go: the checkpoint's run, or ``<exp_dir>/decode/<model>``
    (:func:`asrtl.layout.model_name` of ``checkpoint``)."""
    return run_dir if not exp_dir else RunLayout(exp_dir).model_output("decode", checkpoint)


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    search = check_search(cfg.decode)
    ckpt = load_checkpoint(cfg.checkpoint)
    run_dir = ckpt.path.parent.parent if ckpt.path.parent.name == "checkpoints" else ckpt.path
    own = cfg.get("data") is None
    data = ckpt.meta["config"]["data"] if own else cfg.data
    language = cfg.language or ckpt.language
    corpus = prepare_corpus(data, language, seed=ckpt.meta["config"].get("seed", cfg.seed),
                            hold_out=own or cfg.split != "all")
    cuts = corpus.cuts(cfg.split)
    name = cfg.split if own else f"{corpus.source}-{language}-{cfg.split}"
    out = results_dir(output_run_dir(run_dir, cfg.checkpoint, cfg.exp_dir), name, search)
    scores = evaluate_split(
        ckpt.model, ckpt.vocab, cuts, resolve_device(cfg.device), out, decode=search,
        lexicon=lexicon_words(cfg.lexicon, ckpt.meta) if search == "beam" else None,
        kenlm=cfg.kenlm, beam_size=cfg.beam_size,
        extra={"split": cfg.split, "checkpoint": str(ckpt.path), "corpus": str(corpus.dir)})
    print(f"{language} {cfg.split} {search}: WER {scores['wer_percent']:.1f}% "
          f"CER {scores['cer_percent']:.1f}% -> {out}")


if __name__ == "__main__":
    check_overrides("decode")
    main()
