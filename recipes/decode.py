"""Re-score a checkpoint on a split, greedy or with beam search.

    python recipes/decode.py checkpoint=exp/pretrain/turkish decode=beam
    python recipes/decode.py checkpoint=exp/pretrain/turkish data=kaldi data.path=/corpora/x \
        language=english split=all

Writes ``results/<split>[-beam]/`` beside the checkpoint's run (for another corpus:
``results/<source>-<language>-<split>[-beam]/``), or, given ``exp_dir=E``, under
``E/decode/<run name>/results/`` (the checkpoint's directory is then only read). ``split=all``
reads every utterance of the corpus, however few: a user corpus is not split then.
"""

from pathlib import Path

import hydra
from lhotse import CutSet
from omegaconf import DictConfig

from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import cut_words, prepare_corpus
from asrtl.eval.evaluate import evaluate_split, results_dir
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.device import resolve_device


def output_run_dir(run_dir: Path, exp_dir: str | None) -> Path:
    """Where results go: the checkpoint's run, or ``<exp_dir>/decode/<run name>``."""
    return run_dir if not exp_dir else Path(exp_dir) / "decode" / (run_dir.name or "run")


def lexicon_words(setting: str, ckpt_meta: dict) -> list[str] | None:
    """Words for the beam search: the checkpoint's training words, none, or a word list."""
    if setting == "none":
        return None
    if setting == "train":
        corpus_dir = Path(ckpt_meta.get("corpus", {}).get("dir", ""))
        cuts_file = corpus_dir / "train_cuts.jsonl.gz"
        if not cuts_file.is_file():
            raise FileNotFoundError(f"lexicon=train: the checkpoint's training manifest is gone "
                                    f"({cuts_file}); give lexicon=<word list> or lexicon=none")
        return cut_words(CutSet.from_file(cuts_file))
    path = Path(setting)
    if not path.is_file():
        raise FileNotFoundError(f"lexicon word list not found: {path}")
    return [w.strip() for w in path.read_text(encoding="utf-8").split() if w.strip()]


@hydra.main(config_path="../conf", config_name="decode", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    ckpt = load_checkpoint(cfg.checkpoint)
    run_dir = ckpt.path.parent.parent if ckpt.path.parent.name == "checkpoints" else ckpt.path
    own = cfg.get("data") is None
    data = ckpt.meta["config"]["data"] if own else cfg.data
    language = cfg.language or ckpt.language
    corpus = prepare_corpus(data, language, seed=ckpt.meta["config"].get("seed", cfg.seed),
                            hold_out=own or cfg.split != "all")
    cuts = corpus.cuts(cfg.split)
    name = cfg.split if own else f"{corpus.source}-{language}-{cfg.split}"
    out = results_dir(output_run_dir(run_dir, cfg.exp_dir), name, cfg.decode)
    scores = evaluate_split(
        ckpt.model, ckpt.vocab, cuts, resolve_device(cfg.device), out, decode=cfg.decode,
        lexicon=lexicon_words(cfg.lexicon, ckpt.meta) if cfg.decode == "beam" else None,
        kenlm=cfg.kenlm, beam_size=cfg.beam_size,
        extra={"split": cfg.split, "checkpoint": str(ckpt.path), "corpus": str(corpus.dir)})
    print(f"{language} {cfg.split} {cfg.decode}: WER {scores['wer_percent']:.1f}% "
          f"CER {scores['cer_percent']:.1f}% -> {out}")


if __name__ == "__main__":
    check_overrides("decode")
    main()
