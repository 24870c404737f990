"""Speaker adaptation: a speaker-independent model adapted to one speaker from k utterances.

    python recipes/speaker_adapt.py checkpoint=exp/pretrain/turkish speaker=<id> utts=5 method=lhuc
    python recipes/speaker_adapt.py checkpoint=exp/pretrain/turkish speakers=all utts=[1,2,5,10] \
        method=finetune_lower
    python recipes/speaker_adapt.py checkpoint=... data=kaldi data.path=/path/to/kaldi/dir \
        split=test speaker=spk07 utts=5
    python recipes/speaker_adapt.py checkpoint=... data=kaldi data.path=/path/to/alice \
        split=all speaker=alice utts=[1,2,5]    # a Kaldi dir of one speaker's recordings

Each speaker's utterances are split once: a pool of max(utts) for adaptation (the first k
adapt with k) and the rest for evaluation, the same for every k and never adapted on. Writes
``exp/adapt/<model>/<method>/`` (``<model>``: the checkpoint's run dir under ``exp_dir``,
``pretrain/``/``transfer/`` dropped, slashes as ``-``: ``turkish``,
``assamese-to-bengali-finetune``, ``turkish-step-000400``; see
``asrtl.layout.model_name``): ``results.json`` (per speaker and k, WER/CER before and
after, and their spread over speakers) and ``<speaker>/k<k>/adapted.{safetensors,json}``: the
adapted parameters alone, loadable on the base checkpoint (``asrtl.adapt.run.load_adapted``).
A rerun reuses the adaptations already saved with the same settings; SIGTERM stops after the
one under way.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from asrtl.adapt.config import AdaptConfig
from asrtl.adapt.run import speakers_of
from asrtl.adapt.study import adapt_speakers, summary
from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import Corpus, data_cache_dir, prepare_corpus
from asrtl.data.phones import with_units
from asrtl.errors import MissingInput, UserError
from asrtl.io import write_json_atomic
from asrtl.layout import model_name
from asrtl.settings import checked
from asrtl.train.checkpoint import Checkpoint, load_checkpoint
from asrtl.train.device import resolve_device
from asrtl.train.run import claim_run_dir

OmegaConf.register_new_resolver("adapt_model_name", model_name, replace=True)  # hydra.run.dir


def corpus_of(cfg: DictConfig, base: Checkpoint) -> Corpus:
    """The corpus to adapt on: the checkpoint's own (embedded, no data.path) or ``data``;
    with ``split=all`` a user corpus is not split (every utterance, however few)."""
    if cfg.data.name == "embedded" and not cfg.data.get("path"):
        info = base.meta.corpus or {}
        if not info.get("dir") or not Path(info["dir"]).is_dir():
            raise MissingInput(f"the corpus of checkpoint {base.path} is gone "
                               f"({info.get('dir')}); give data=... data.path=...")
        return Corpus(base.language, info.get("source", "embedded"), Path(info["dir"]), {})
    return prepare_corpus(cfg.data, base.language, seed=cfg.seed, hold_out=cfg.split != "all")


@hydra.main(config_path="../conf", config_name="speaker_adapt", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    method = AdaptConfig.from_dict(cfg.method)  # a bad setting fails before any run dir
    # a rerun with other settings is refused once an adaptation is saved (nothing is lost)
    claim_run_dir(run_dir, OmegaConf.to_container(cfg, resolve=True), work="*/k*/adapted.json")
    device = resolve_device(cfg.device)
    base = load_checkpoint(cfg.checkpoint)
    cuts = with_units(corpus_of(cfg, base), base.vocab.units,  # a phone model: phone texts
                      data_cache_dir(cfg.data)).cuts(cfg.split)
    ks = sorted({checked("utts", k, int) for k in (cfg.utts if isinstance(cfg.utts, ListConfig)
                                                   else [cfg.utts])})
    if ks[0] < 1:
        raise UserError(f"utts must be >= 1, got {ks}")
    if (cfg.speaker is None) == (cfg.speakers is None):
        raise UserError("give speaker=<id> or speakers=all")
    if cfg.speakers not in (None, "all"):
        raise UserError(f"speakers must be all, got {cfg.speakers!r} (one: speaker=<id>)")
    speakers = list(speakers_of(cuts)) if cfg.speakers == "all" else [str(cfg.speaker)]
    rows = adapt_speakers(base, cuts, speakers, ks, method, run_dir, device, cfg.seed)
    spread = summary(rows, ks)
    write_json_atomic(run_dir / "results.json", {
        "checkpoint": str(base.path), "method": method.name, "settings": method.to_dict(),
        "split": cfg.split, "speakers": speakers, "utts": ks, "rows": rows, "summary": spread})
    for k in ks:
        b, a = spread[k]["before"], spread[k]["after"]
        print(f"{method.name} k={k} ({len(speakers)} speakers): WER "
              f"{100 * b['wer']['mean']:.1f}% -> {100 * a['wer']['mean']:.1f}%, CER "
              f"{100 * b['cer']['mean']:.1f}% -> {100 * a['cer']['mean']:.1f}%")


if __name__ == "__main__":
    check_overrides("speaker_adapt")
    main()
