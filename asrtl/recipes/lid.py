"""Language ID over the source languages, and the ranking of sources it gives a target.

    python recipes/lid.py sources=[bengali,assamese,thai,turkish]          # the LID matrix
    python recipes/lid.py sources=[assamese,thai,turkish] target=bengali   # rank sources
    python recipes/lid.py sources=[assamese,thai,turkish] target=/path/to/cuts.jsonl.gz \
        checkpoint=exp/lid/assamese+thai+turkish-to-bengali      # score with a trained model

A frame-level classifier is trained on the sources' training audio (``data.hours`` each;
``hours=`` is its deprecated alias, kept for one release with a warning) and
scored on held-out speakers (``score_split``). A source's score for a target is its posterior
averaged over all the target's frames (the reference study's score); the highest is the best
source to pretrain on. Writes ``exp/lid/<name>/``: checkpoints/, accuracy.json,
lid_matrix.{csv,json} (rows: input language, columns: predicted language), and with a target
ranking.json; without one, each language's leave-one-out ranking in
loo/<language>/ranking.json and all of them in rankings.json.
"""

import logging
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from lhotse import CutSet
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, recipe
from asrtl.data.features import FeatureConfig
from asrtl.data.manifest import audio_cuts, is_manifest_path, prepare_corpus
from asrtl.errors import UserError
from asrtl.io import write_json_atomic
from asrtl.lid.compat import deprecated_hours, upgrade_run_json
from asrtl.lid.model import LIDConfig, LIDModel, load_lid
from asrtl.lid.report import accuracy_summary, sampling_rates, target_ranking, write_matrix
from asrtl.lid.score import posteriors
from asrtl.lid.train import check_lid_train, train_lid
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig
from asrtl.train.run import claim_run_dir

log = logging.getLogger("lid")


def lid_config(cfg: DictConfig, languages: list[str]) -> LIDConfig:
    """The classifier's architecture (validated: a bad setting fails before any run dir)."""
    return LIDConfig.from_dict({**OmegaConf.to_container(cfg.lid), "languages": languages,
                                "features": FeatureConfig().to_dict()})


def classifier(run_dir: Path, cfg: DictConfig, languages: list[str],
               device: torch.device) -> LIDModel:
    """A LID model over ``languages`` trained (or resumed, or read back) in ``run_dir``."""
    train = {lang: prepare_corpus(cfg.data, lang, seed=cfg.seed).cuts("train")
             for lang in languages}
    return train_lid(run_dir, train, lid_config(cfg, languages),
                     TrainConfig.from_dict(cfg.train), device, cfg.seed, cfg.utterance_loss)


def held_out(cfg: DictConfig, language: str):
    """A language's ``score_split`` cuts (held-out speakers)."""
    corpus = prepare_corpus(cfg.data, language, seed=cfg.seed)
    return corpus.cuts(cfg.score_split)


def target_audio(cfg: DictConfig) -> tuple[str | None, CutSet | None]:
    """The target (a language's held-out speakers, or a manifest's audio), or none."""
    if cfg.target is None:
        return None, None
    target = str(cfg.target)
    try:
        return target, audio_cuts(target) if is_manifest_path(target) else held_out(cfg, target)
    except UserError as e:
        raise UserError(f"target {target}: {e}") from None


@hydra.main(config_path="../conf", config_name="lid", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    deprecated_hours(cfg)
    sources = [str(s) for s in cfg.sources]
    if len(sources) < 2:
        raise UserError(f"LID needs at least 2 source languages, got sources={sources}")
    lid_config(cfg, sources)
    check_lid_train(TrainConfig.from_dict(cfg.train))
    target, target_cuts = target_audio(cfg)  # bad input fails before any training
    upgrade_run_json(run_dir)
    claim_run_dir(run_dir, OmegaConf.to_container(cfg, resolve=True))
    device = resolve_device(cfg.device)
    if cfg.checkpoint:  # score with a classifier trained earlier
        model, meta = load_lid(cfg.checkpoint)
        if meta.languages != sources:
            raise UserError(f"LID checkpoint {cfg.checkpoint} knows {meta.languages}, "
                            f"not sources={sources}")
    else:
        model = classifier(run_dir, cfg, sources, device)

    held = {lang: held_out(cfg, lang) for lang in sources}  # read once, scored by each model
    rows = {lang: posteriors(model, held[lang], device) for lang in sources}
    acc = accuracy_summary(rows, cfg.score_split)
    write_json_atomic(run_dir / "accuracy.json", acc)
    log.info("LID utterance accuracy on %s: %.3f %s", cfg.score_split,
             acc["utterance_accuracy"], acc["per_language"])

    if target is not None:
        try:
            post = rows.get(target) or posteriors(model, target_cuts, device)
        except UserError as e:
            raise UserError(f"target {target}: {e}") from None
        rows.setdefault(Path(target).name if is_manifest_path(target) else target, post)
        result = target_ranking(post, target, cfg.bootstrap, cfg.seed)
        result["sampling_rates"] = sampling_rates(target_cuts)  # all resampled for the model
        write_json_atomic(run_dir / "ranking.json", result)
        print(f"best source for {target}: " + ", ".join(
            f"{r['source']} {r['score']:.3f}" for r in result["ranking"])
            + f" (top in {result['top_share_bootstrap'][result['best']]:.0%} of resamples)")
    elif cfg.leave_one_out and len(sources) >= 3:
        rankings = {}
        for lang in sources:  # a classifier that has never heard the target
            others = [s for s in sources if s != lang]
            loo_model = classifier(run_dir / "loo" / lang, cfg, others, device)
            rankings[lang] = target_ranking(posteriors(loo_model, held[lang], device), lang,
                                            cfg.bootstrap, cfg.seed)
            write_json_atomic(run_dir / "loo" / lang / "ranking.json", rankings[lang])
        write_json_atomic(run_dir / "rankings.json", rankings)
        for lang, r in rankings.items():
            print(f"leave-one-out, {lang}: " + " > ".join(x["source"] for x in r["ranking"]))
    write_matrix(run_dir, rows, sources)
    print(f"LID accuracy ({cfg.score_split}, held-out speakers): "
          f"{acc['utterance_accuracy']:.1%}; matrix in {run_dir / 'lid_matrix.csv'}")


if __name__ == "__main__":
    check_overrides("lid")
    main()
