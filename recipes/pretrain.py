"""Pretrain a CTC acoustic model on one language.

    python recipes/pretrain.py language=turkish
    python recipes/pretrain.py language=turkish data.hours=1 model=small device=cuda train.epochs=30

Writes ``exp/pretrain/<language>/``: run.json (resolved config), checkpoints/, metrics.jsonl,
tensorboard/, results/<split>/{hyps.txt,errs.txt,scores.json} (greedy) and <split>-beam/.
A rerun resumes from the last checkpoint.
"""

import logging
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, recipe
from asrtl.data.features import FeatureConfig
from asrtl.data.manifest import cut_texts, cut_words, prepare_corpus
from asrtl.data.vocab import Vocabulary
from asrtl.eval.evaluate import evaluate_split, results_dir
from asrtl.models.ctc import CTCModel, ModelConfig, num_parameters
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig, fit
from asrtl.train.run import claim_run_dir

log = logging.getLogger("pretrain")


@hydra.main(config_path="../conf", config_name="pretrain", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    claim_run_dir(run_dir, config)
    device = resolve_device(cfg.device)
    corpus = prepare_corpus(cfg.data, cfg.language, seed=cfg.seed)
    train_cuts, dev_cuts = corpus.cuts("train"), corpus.cuts("dev")
    vocab = Vocabulary.from_texts(cut_texts(train_cuts))
    torch.manual_seed(cfg.seed)
    model = CTCModel(ModelConfig.from_dict({**cfg.model, "vocab_size": len(vocab)}))
    log.info("model %s: %.2f M parameters, %d tokens, device %s", model.cfg.name,
             num_parameters(model) / 1e6, len(vocab), device)
    meta = {"language": corpus.language, "vocab": vocab.tokens, "parent": None,
            "features": FeatureConfig(num_mel_bins=model.cfg.num_mel_bins).to_dict(),
            "corpus": {"source": corpus.source, "dir": str(corpus.dir)}, "config": config}
    result = fit(model, vocab, train_cuts, dev_cuts, TrainConfig.from_dict(cfg.train), run_dir,
                 device, cfg.seed, meta)
    best = load_checkpoint(run_dir)
    words = cut_words(train_cuts)
    for split in cfg.decode.splits:
        cuts = corpus.cuts(split)
        for decode in ("greedy", "beam") if cfg.decode.beam else ("greedy",):
            scores = evaluate_split(
                best.model, vocab, cuts, device,
                results_dir(run_dir, split, decode),
                decode=decode, lexicon=words, beam_size=cfg.decode.beam_size,
                extra={"split": split, "checkpoint": str(best.path),
                       "train_wall_s": result["train_wall_s"], "device": str(device)})
            print(f"{corpus.language} {split} {decode}: WER {scores['wer_percent']:.1f}% "
                  f"CER {scores['cer_percent']:.1f}% ({best.path.name})")


if __name__ == "__main__":
    check_overrides("pretrain")
    main()
