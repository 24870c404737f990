"""Which source, on recorded speech? bench/ranking.py's matrix and rankers on a pool of
recorded corpora (issue 25): Asterisk's telephone prompts (english, spanish, french, italian,
russian: 8 kHz, one voice each, english and spanish the same voice), Fish Fillets' game
dialogue (czech, dutch) and the Malayalam recordings of ``../shared/realspeech``.

    python bench/real_transfer.py all [--seeds 0 1 2] [--exp /tmp/real-transfer]
    python bench/real_transfer.py all --pool italian spanish french --seeds 0   # a smoke run
    python bench/real_transfer.py judge

Every language pretrained once on all its training audio (``--source-hours``, default 2: more
than any corpus has, so all of it), then each as the target on 0.1 h with every other one as a
candidate source, ``finetune``, and from scratch, over ``--seeds``; each language's corpus
chosen with ``lang.<iso>.data=...`` as a user would. Then ``recipes/rank.py`` per target and
every ranker judged against the measured WER (rho, tau, top-1, NDCG@3, regret), as in
bench/ranking.py. Writes ``bench/results/real_transfer.json``. The Debian packages are fetched
on the first run (about 260 MB).

What the pool confounds: the Asterisk languages are one voice each and english and spanish
share theirs, so a source can help through the speaker rather than the language; their
prompts are translations of one list, so sources and targets say the same things.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from ranking import JOBS, Setup, run_bench  # noqa: E402 (bench/ on the path first)

CSV = REPO.parent / "shared" / "realspeech" / "manifest.csv"
# language: (iso, lang.<iso> overrides)
CORPORA = {"english": ("en", ["data=asterisk"]), "spanish": ("es", ["data=asterisk"]),
           "french": ("fr", ["data=asterisk"]), "italian": ("it", ["data=asterisk"]),
           "russian": ("ru", ["data=asterisk"]), "czech": ("cs", ["data=fillets"]),
           "dutch": ("nl", ["data=fillets"]),
           "malayalam": ("ml", ["data=csv", f"path={CSV}"])}


def corpus_overrides(pool: list[str]) -> list[str]:
    """``lang.<iso>.<key>=<value>`` for every language of ``pool``."""
    out = []
    for lang in pool:
        if lang not in CORPORA:
            raise SystemExit(f"no recorded corpus for {lang}; known: {', '.join(CORPORA)}")
        iso, keys = CORPORA[lang]
        out += [f"lang.{iso}.{kv}" for kv in keys]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["matrix", "rank", "all", "judge"])
    parser.add_argument("--pool", nargs="+", default=list(CORPORA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target-hours", type=float, default=0.1)
    parser.add_argument("--source-hours", type=float, default=2.0)
    parser.add_argument("--exp", default="/tmp/real-transfer")
    parser.add_argument("--out", default="bench/results/real_transfer.json")
    args = parser.parse_args()
    design = {t: [s for s in args.pool if s != t] for t in args.pool}
    setup = Setup(small=args.target_hours, large=args.source_hours, jobs=tuple(JOBS),
                  extra=tuple(corpus_overrides(args.pool)), scratch=True)
    run_bench(args.phase, Path(args.exp), REPO / args.out, design, args.seeds, setup,
              {"bench": "real_transfer", "pool": args.pool,
               "corpora": {lang: CORPORA[lang][1] for lang in args.pool}})


if __name__ == "__main__":
    main()
