"""Multilingual training: shared layers, one output layer per language.

    python recipes/multilingual.py languages=[assamese,thai,turkish]
    python recipes/multilingual.py languages=[assamese,thai,turkish] temperature=1 data.hours=0.6
    python recipes/transfer.py source=multilingual:assamese+thai+turkish target=bengali

Batches are one language's each, the language drawn with probability proportional to its
training hours to the power 1/temperature. Writes ``exp/multilingual/<a+b+c>/``: run.json,
log/, checkpoints/ (``kind: multilingual``: languages and each head's vocabulary),
metrics.jsonl (train loss and dev WER/CER per language), tensorboard/, and
results/<language>/<split>[-beam]/ scored with each language's head.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, print_scores, recipe
from asrtl.eval.config import DecodeConfig
from asrtl.multilingual.train import train_multilingual
from asrtl.records import MultilingualSummary
from asrtl.settings import checked
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig
from asrtl.train.model_card import write_model_card


@hydra.main(config_path="../conf", config_name="multilingual", version_base="1.3")
@recipe(distributed=True)
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    out = train_multilingual(run_dir, list(cfg.languages), cfg.data, cfg.model,
                             TrainConfig.from_dict(cfg.train), DecodeConfig.from_dict(cfg.decode),
                             checked("temperature", cfg.temperature, float),
                             resolve_device(cfg.device), cfg.seed,
                             OmegaConf.to_container(cfg, resolve=True), units=str(cfg.units))
    if out is None:  # a rank other than 0 of a torchrun: rank 0 scores and reports
        return
    MultilingualSummary(
        languages=list(cfg.languages), temperature=float(cfg.temperature),
        sampling=out["probs"], checkpoint=str(out["checkpoint"]), scores=out["scores"],
        steps=out["fit"]["steps"], wall_s=out["fit"]["train_wall_s"],
    ).save(run_dir / "summary.json")
    write_model_card(run_dir)
    for lang, by_split in out["scores"].items():
        print_scores(lang, by_split, f"multilingual {out['checkpoint'].name}")


if __name__ == "__main__":
    check_overrides("multilingual")
    main()
