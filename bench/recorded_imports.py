"""Every recorded corpus asrtl imports offline (issue 25), imported once into a fresh cache:
utterances, hours and speakers per split, the sample rates as stored, the utterances
dropped to keep held-out sentences out of training, the wall time (download included for
the Debian packages). Writes ``bench/results/recorded_imports.json``.

    python bench/recorded_imports.py [--cache DIR]

The Debian packages (asterisk-core-sounds-{en,es,fr,it,ru}[-wav], fillets-ng-data[-cs,-nl];
about 260 MB) are fetched with apt-get; ``../shared/realspeech`` is read in place.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from asrtl.data.manifest import describe_corpus, prepare_corpus

REPO = Path(__file__).resolve().parent.parent
CSV = REPO.parent / "shared" / "realspeech" / "manifest.csv"
JOBS = ([("asterisk", None, lang) for lang in ("en", "es", "fr", "it", "ru")]
        + [("fillets", None, lang) for lang in ("cs", "nl")]
        + [("csv", str(CSV), lang) for lang in ("fr", "bn", "ml")])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", default=None, help="cache dir (default: a fresh temporary one)")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "recorded_imports.json"))
    args = p.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="asrtl-recorded-")
    rows = []
    for source, path, lang in JOBS:
        t0 = time.perf_counter()
        corpus = prepare_corpus({"name": source, "path": path, "cache_dir": cache}, lang)
        rows.append({"source": source, "language": corpus.language,
                     "wall_s": round(time.perf_counter() - t0, 1), **describe_corpus(corpus.dir),
                     "dropped_for_held_out_sentences":
                         corpus.summary.get("dropped_for_held_out_sentences")})
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).write_text(json.dumps({"cache": cache, "corpora": rows}, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
