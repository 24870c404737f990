"""Zero-shot phones: a universal phone recogniser decoding languages it never heard.

    python bench/zero_shot.py                    # 12 seen, 6 unseen languages, 3 seeds (hours)
    python bench/zero_shot.py --smoke            # 2 seen, 1 unseen, 1 seed, 2 epochs (minutes)

For each seed and each head (``shared``: one linear phone head; ``attributes``: phone rows
composed from PanPhon features, ``model.head=attributes``):
1. ``recipes/multilingual.py units=phones`` on the seen languages (embedded corpus, the same
   hours each): the seen languages' test PER, each with the shared head.
2. Each unseen language's test split decoded with nothing of that language but its phone
   inventory from eSpeak NG's G2P of its CLDR words (``asrtl.multilingual.zero_shot``): the
   linear head masked to the inventory, the attribute head rebuilt over it; and without
   the inventory (the model's own phones), for both. Then to words: the lexicon beam
   search over its CLDR words spelled by their G2P phones (word CER/WER; the embedded
   corpus reads CLDR words, so the lexicon holds every test word).
3. (``--few-shot``) each unseen language's phone transfer at 0.01 h and 0.1 h from the
   universal model against scratch (the summaries' ``cer``: the phone error rate).

The unseen languages' transcripts only score (their phone texts, by the same G2P); no audio
of theirs is trained on. Writes ``bench/results/zero_shot.json`` (keys:
``../shared/BENCH_RESULTS.md``): ``unseen.<head>.per`` and ``seen.<head>.per`` (means over
languages and seeds), ``unseen.<head>.per_seeds``, ``languages.{seen,unseen}``, and every
language's figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEEN = ["turkish", "hindi", "spanish", "russian", "swahili", "indonesian", "german", "arabic",
        "tamil", "finnish", "greek", "korean"]
UNSEEN = ["bengali", "polish", "amharic", "malayalam", "hungarian", "georgian"]
HEADS = {"shared": "linear", "attributes": "attributes"}
SCALE = ["model=tiny", "train.epochs=20", "train.batch_duration_s=30", "decode.beam=false",
         "train.num_workers=0"]
SMOKE = ["model=tiny", "train.epochs=2", "train.batch_duration_s=30", "decode.beam=false",
         "train.num_workers=0"]


def run(recipe: str, *args: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, f"recipes/{recipe}.py", *args], cwd=REPO,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{recipe} {' '.join(args)}: {res.stderr.strip().splitlines()[-1]}")
    return round(time.perf_counter() - t0, 1)


def unseen_per(run_dir: Path, languages: list[str], data: dict, cache: Path) -> dict:
    """Each unseen language's test PER with and without its inventory."""
    import torch

    from asrtl.data.languages import get_language
    from asrtl.data.manifest import prepare_corpus
    from asrtl.data.phones import language_lexicon, with_units
    from asrtl.data.text import cldr_words
    from asrtl.eval.evaluate import evaluate_split
    from asrtl.multilingual.model import load_multilingual, union_model
    from asrtl.multilingual.zero_shot import language_inventory, zero_shot_model

    model, _, _ = load_multilingual(run_dir)
    base, vocab = union_model(model)
    base.eval()
    out = {}
    for lang in languages:
        cuts = with_units(prepare_corpus(data, lang), "phones", cache).cuts("test")
        inventory = language_inventory(lang, cache)
        row: dict = {"test_utts": len(cuts), "inventory": len(inventory)}
        for how, inv in (("inventory", inventory), ("no_inventory", None)):
            zs, zs_vocab, split = zero_shot_model(base, vocab, inv)
            scores = evaluate_split(zs, zs_vocab, cuts, torch.device("cpu"),
                                    run_dir / "results" / "zero-shot" / lang / how)
            row[how] = round(scores["per"], 4)
            if inv is not None:
                row["seen_phones"], row["unseen_phones"] = len(split["seen"]), split["unseen"]
                # words: the lexicon beam search over the language's CLDR words, spelled by
                # their G2P phones (the embedded corpus reads CLDR words: no word is OOV)
                info = get_language(lang)
                words = cldr_words(info.locale, info.script,
                                   turkic=info.name in ("turkish", "azerbaijani"))
                spell = language_lexicon(info.name, words, cache).words
                w = evaluate_split(zs, zs_vocab, cuts, torch.device("cpu"),
                                   run_dir / "results" / "zero-shot" / lang / "words",
                                   decode="beam", lexicon=words, spell=spell, beam_size=32)
                row["words"] = {"wer": round(w["wer"], 4), "cer": round(w["cer"], 4),
                                "lexicon_words": w["lexicon_words"]}
        out[lang] = row
        print(f"  {lang}: PER {row['inventory']:.3f} with its inventory, "
              f"{row['no_inventory']:.3f} without ({len(row['unseen_phones'])} of its "
              f"{len(inventory)} phones never trained); words CER {row['words']['cer']:.3f} "
              f"WER {row['words']['wer']:.3f} ({row['words']['lexicon_words']} words)",
              flush=True)
    return out


def few_shot(run_dir: Path, languages: list[str], budgets: list[float], head: str, seed: int,
             scale: list[str], cache: Path, walls: dict, tag: str) -> dict:
    """Per unseen language and budget: test PER of a phone transfer from the universal model
    (``source_checkpoint`` = the multilingual run: its shared head) and from scratch."""
    out: dict = {}
    for lang in languages:
        for budget in budgets:
            row = {}
            for source, args in (("universal", [f"source_checkpoint={run_dir}"]),
                                 ("scratch", ["source=none"])):
                d = run_dir / "few-shot" / f"{lang}-{budget:g}h" / source
                if not (d / "summary.json").is_file():
                    walls[f"{tag} few-shot {lang} {budget:g}h {source}"] = run(
                        "transfer", *args, f"target={lang}", "units=phones",
                        f"model.head={head}", f"target_hours={budget}",
                        f"data.cache_dir={cache}", f"seed={seed}", *scale,
                        f"hydra.run.dir={d}")
                row[source] = round(json.loads((d / "summary.json").read_text())["cer"], 4)
            out.setdefault(lang, {})[f"{budget:g}h"] = row
            print(f"  {lang} {budget:g} h: PER {row['universal']:.3f} from the universal "
                  f"model, {row['scratch']:.3f} from scratch", flush=True)
    return out


def mean(values: list[float]) -> float:
    return round(statistics.mean(values), 4)


def summarise(runs: dict, seen: list[str], unseen: list[str], seeds: list[int]) -> dict:
    """The BENCH_RESULTS keys from every (head, seed) run."""
    out: dict = {"seen": {}, "unseen": {}}
    for head, by_seed in runs.items():
        done = [s for s in seeds if str(s) in by_seed]
        if not done:
            continue
        per_seed = {s: mean([by_seed[str(s)]["unseen"][u]["inventory"] for u in unseen])
                    for s in done}
        out["unseen"][head] = {
            "per": mean(list(per_seed.values())), "per_seeds": list(per_seed.values()),
            "per_no_inventory": mean([by_seed[str(s)]["unseen"][u]["no_inventory"]
                                      for s in done for u in unseen]),
            "words_cer": mean([by_seed[str(s)]["unseen"][u]["words"]["cer"]
                               for s in done for u in unseen]),
            "words_wer": mean([by_seed[str(s)]["unseen"][u]["words"]["wer"]
                               for s in done for u in unseen])}
        out["seen"][head] = {"per": mean([by_seed[str(s)]["seen"][lang]
                                          for s in done for lang in seen])}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seen", nargs="+", default=SEEN)
    p.add_argument("--unseen", nargs="+", default=UNSEEN)
    p.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS))
    p.add_argument("--hours", type=float, default=0.1, help="per seen language")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--smoke", action="store_true", help="2 seen, 1 unseen, 1 seed, 2 epochs")
    p.add_argument("--few-shot", type=float, nargs="*", default=[0.01, 0.1],
                   help="target budgets (h) of the universal model as a transfer source "
                        "against scratch, per unseen language (none: skip)")
    p.add_argument("--exp", default="/tmp/zero-shot-bench")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "zero_shot.json"))
    a = p.parse_args()
    if set(a.seen) & set(a.unseen):
        p.error(f"a language both seen and unseen: {sorted(set(a.seen) & set(a.unseen))}")
    scale = SCALE
    if a.smoke:
        a.seen, a.unseen, a.seeds, scale = a.seen[:2], a.unseen[:1], a.seeds[:1], SMOKE
        a.few_shot = a.few_shot[:1]
    exp, cache = Path(a.exp), Path(a.exp) / "cache"
    data = {"name": "embedded", "hours": a.hours, "cache_dir": str(cache)}
    doc: dict = {"bench": "zero_shot", "smoke": a.smoke, "hours": a.hours, "scale": scale,
                 "languages": {"seen": a.seen, "unseen": a.unseen}, "seeds": a.seeds,
                 "runs": {}, "wall_s": {}}
    for seed in a.seeds:
        for head in a.heads:
            tag = f"{head}-seed{seed}"
            run_dir = exp / tag
            if not (run_dir / "summary.json").is_file():
                doc["wall_s"][tag] = run(
                    "multilingual", f"languages=[{','.join(a.seen)}]", "units=phones",
                    f"model.head={HEADS[head]}", f"data.hours={a.hours}",
                    f"data.cache_dir={cache}", f"seed={seed}", *scale,
                    f"hydra.run.dir={run_dir}")
            summary = json.loads((run_dir / "summary.json").read_text())
            seen = {lang: round(summary["scores"][lang]["test"]["per"], 4) for lang in a.seen}
            print(f"{tag}: seen PER " + ", ".join(f"{k} {v:.3f}" for k, v in seen.items()),
                  flush=True)
            t0 = time.perf_counter()
            unseen = unseen_per(run_dir, a.unseen, data, cache)
            doc["wall_s"][f"{tag} zero-shot"] = round(time.perf_counter() - t0, 1)
            few = few_shot(run_dir, a.unseen, a.few_shot, HEADS[head], seed, scale, cache,
                           doc["wall_s"], tag)
            doc["runs"].setdefault(head, {})[str(seed)] = {"seen": seen, "unseen": unseen,
                                                         "few_shot": few}
            doc.update(summarise(doc["runs"], a.seen, a.unseen, a.seeds))
            Path(a.out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: doc[k] for k in ("seen", "unseen")}, indent=1))


if __name__ == "__main__":
    main()
