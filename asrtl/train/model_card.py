"""A model card (in the Hugging Face sense) for a finished run: ``<run>/MODEL_CARD.md``.

Everything in it is read from what the run directory holds, never recomputed: ``run.json``,
the best checkpoint's ``meta.json`` (through ``checkpoints/best.json``), the corpus
``summary.json`` it names, ``results/**/scores.json``, and for transfer runs
``summary.json`` and ``copy_report.json``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from asrtl.errors import UserError
from asrtl.io import write_text_atomic
from asrtl.models.ssl_weights import is_ssl_weights
from asrtl.records import TransferSummary
from asrtl.train.checkpoint import CheckpointMeta, read_meta, resolve_checkpoint

log = logging.getLogger(__name__)

CARD = "MODEL_CARD.md"


def write_model_card(run_dir: Path) -> Path:
    """Writes ``run_dir/MODEL_CARD.md`` from the run's files and returns its path.

    Args:
        run_dir: a finished run (``exp/pretrain/<language>``, ``exp/transfer/...``,
            ``exp/multilingual/...``): its ``checkpoints/best.json`` (else ``latest.json``)
            names the checkpoint described.

    Returns:
        The card's path.

    Raises:
        FileNotFoundError: ``run_dir`` holds no checkpoint.
        ValueError: a corrupt ``meta.json``.
    """
    run_dir = Path(run_dir)
    ckpt = resolve_checkpoint(run_dir)
    meta = read_meta(ckpt)
    run = _read_json(run_dir / "run.json") or meta.config or {}
    summary = _transfer_summary(run_dir / "summary.json")
    copy_report = _read_json(run_dir / "copy_report.json")
    results = _results(run_dir)
    languages = list(meta.languages or [meta.language or "unknown"])
    corpora = _corpora(meta, languages)
    text = "\n".join([
        _front_matter(meta, languages, corpora, results),
        _overview(run_dir, ckpt, meta, languages),
        _data_section(run, corpora),
        _transfer_section(meta, summary, copy_report),
        _results_section(results),
        _licence_section(corpora, meta),
        _usage_section(run_dir, meta, languages),
    ])
    out = run_dir / CARD
    write_text_atomic(out, text)
    log.info("model card: %s", out)
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content; None when it is missing or unreadable (a card is best effort)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _transfer_summary(path: Path) -> TransferSummary | None:
    """A transfer run's summary; None for another run's, a missing or an unreadable one."""
    try:
        return TransferSummary.load(path)
    except UserError:  # MissingInput included
        return None


def _results(run_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(name, scores)`` of every ``results/**/scores.json``, sorted by name."""
    root = run_dir / "results"
    found = []
    for f in sorted(root.glob("**/scores.json")):
        if f.relative_to(root).parts[0].startswith(("step-", "epoch-")):
            continue  # recipes/decode.py of another checkpoint than the run's: not its results
        scores = _read_json(f)
        if scores and "wer" in scores:
            found.append((f.parent.relative_to(root).as_posix(), scores))
    return found


def _corpora(meta: CheckpointMeta, languages: list[str]) -> dict[str, dict[str, Any]]:
    """Per language: the corpus ``source``, ``dir`` and its ``summary.json`` (if still there)."""
    corpus = meta.corpus or {}
    per_lang = corpus if meta.kind == "multilingual" else {languages[0]: corpus}
    out = {}
    for lang in languages:
        c = dict(per_lang.get(lang) or {})
        c["summary"] = _read_json(Path(c["dir"]) / "summary.json") if c.get("dir") else None
        out[lang] = c
    return out


def _iso(language: str, corpus: dict[str, Any]) -> str | None:
    iso = (corpus.get("summary") or {}).get("iso")
    if iso:
        return iso
    from asrtl.data.languages import get_language

    try:
        return get_language(language).iso
    except (ValueError, KeyError):
        return None


def _num_parameters(ckpt: Path) -> int:
    """Parameters stored in the checkpoint's weights (read from the safetensors header;
    batch-norm statistics are buffers, not parameters)."""
    from safetensors import safe_open

    buffers = ("running_mean", "running_var", "num_batches_tracked")
    with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()
                   if not k.endswith(buffers))


def _headline(results: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Test scores by decoding (``greedy``/``beam``): ``results/test[-beam]`` or, for a
    multilingual run, ``results/<language>/test[-beam]``."""
    return {name: s for name, s in results if name.rsplit("/", 1)[-1] in ("test", "test-beam")}


def _front_matter(meta: CheckpointMeta, languages: list[str],
                  corpora: dict[str, dict[str, Any]],
                  results: list[tuple[str, dict[str, Any]]]) -> str:
    isos = [_iso(lang, corpora[lang]) for lang in languages]
    lines = ["---"]
    if any(isos):
        lines += ["language:", *(f"- {iso}" for iso in isos if iso)]
    lines += ["license: other", "library_name: asrtl", "pipeline_tag: automatic-speech-recognition",
              "tags:", "- automatic-speech-recognition", "- ctc", "- asrtl"]
    if any(c.get("source") == "embedded" for c in corpora.values()):
        lines.append("- synthetic-speech")
    metrics = []
    for name, s in _headline(results).items():
        decode = s.get("decode", "greedy")
        label = name.rsplit("/", 1)[0] + " " if "/" in name else ""
        for key in ("wer", "cer"):
            metrics.append(f"    - {{type: {key}, value: {s[f'{key}_percent']}, name: "
                           f"{json.dumps(f'{label}test {key.upper()} % ({decode})')}}}")
    if metrics:
        source = "+".join(sorted({str(c.get("source", "?")) for c in corpora.values()}))
        dataset = json.dumps(f"{source} {'+'.join(languages)} test split")
        lines += ["model-index:", f"- name: {json.dumps('+'.join(languages))}", "  results:",
                  "  - task: {type: automatic-speech-recognition, name: Speech Recognition}",
                  f"    dataset: {{name: {dataset}, type: {json.dumps(source)}}}",
                  "    metrics:", *metrics]
    lines.append("---")
    return "\n".join(lines) + "\n"


def _overview(run_dir: Path, ckpt: Path, meta: CheckpointMeta, languages: list[str]) -> str:
    arch = meta.architecture
    params = _num_parameters(ckpt)
    names = ", ".join(lang.capitalize() for lang in languages)
    kind = ("multilingual CTC model (shared encoder, one output layer per language)"
            if meta.kind == "multilingual" else "CTC model")
    lines = [f"# {run_dir.name}: {names} speech recognition (asrtl)", "",
             f"A {arch.get('name')} {arch.get('encoder')} {kind} that transcribes {names} "
             f"speech into graphemes, trained with asrtl.", "", "## Model", "",
             "| | |", "|---|---|",
             f"| architecture | {arch.get('encoder')} `{arch.get('name')}`: "
             f"{arch.get('num_layers')} layers, dim {arch.get('dim')}, {arch.get('heads')} "
             f"heads, ffn {arch.get('ffn_dim')}, 4x convolutional subsampling |",
             f"| parameters | {params:,} ({params / 1e6:.2f} M) |"]
    if meta.kind == "multilingual":
        vocab = ", ".join(f"{lang} {len(v)}" for lang, v in (meta.vocabs or {}).items())
    else:
        vocab = str(len(meta.vocab or []))
    feats = meta.features or {}
    lines += [f"| output tokens | {vocab} (graphemes, blank, `<unk>`, word boundary `\\|`) |",
              f"| input | {feats.get('sample_rate', 16000)} Hz mono audio; "
              f"{feats.get('num_mel_bins', arch.get('num_mel_bins'))}-dim log-mel filterbanks, "
              f"CMVN {feats.get('cmvn', 'utterance')} |",
              f"| checkpoint | `{_relative(ckpt, run_dir)}` (step {meta.step}, "
              f"epoch {meta.epoch}) |"]
    valid = (meta.metrics or {}).get("valid") or {}
    if "valid_wer" in valid:
        lines.append(f"| dev WER / CER at this checkpoint | {100 * valid['valid_wer']:.1f}% / "
                     f"{100 * valid.get('valid_cer', float('nan')):.1f}% |")
    if meta.git_commit:
        lines.append(f"| asrtl commit | `{meta.git_commit}` |")
    return "\n".join(lines) + "\n"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _data_section(run: dict[str, Any], corpora: dict[str, dict[str, Any]]) -> str:
    data_cfg = run.get("data") or {}
    lines = ["## Training data", "",
             "| language | source | train hours | train utterances | speakers |",
             "|---|---|---|---|---|"]
    for lang, c in corpora.items():
        train = ((c.get("summary") or {}).get("splits") or {}).get("train") or {}
        source = c.get("source", "unknown")
        if source != "embedded" and data_cfg.get("path"):
            source = f"{source} (`{data_cfg['path']}`)"
        lines.append(f"| {lang} | {source} | {train.get('hours', 'not recorded')} | "
                     f"{train.get('utterances', 'not recorded')} | "
                     f"{train.get('speakers', 'not recorded')} |")
    if any(c.get("source") == "embedded" for c in corpora.values()):
        lines += ["", "The embedded corpus is **synthetic**: CLDR words of each language spoken "
                  "by eSpeak NG voices (varied pitch, rate and voice variants). Expect much "
                  "higher error rates on real recordings than on its test split."]
    if any(c.get("summary") is None for c in corpora.values()):
        lines += ["", "Some corpus summaries were no longer in the cache: their figures are "
                  "not recorded."]
    return "\n".join(lines) + "\n"


def _transfer_section(meta: CheckpointMeta, summary: TransferSummary | None,
                      copy_report: dict[str, Any] | None) -> str:
    parent = meta.parent
    if not parent and not copy_report:
        return "## Parent model\n\nNone: trained from scratch.\n"
    lines = ["## Parent model (transfer)", ""]
    if parent:
        lines.append(f"- parent checkpoint: `{parent}`")
        parent_meta = None
        if is_ssl_weights(parent):
            lines.append("  (pretrained wav2vec 2.0-family encoder weights, converted on "
                         "loading: see copy_report.json)")
        else:
            try:
                parent_meta = read_meta(Path(parent))
            except (OSError, ValueError):
                lines.append("  (no longer readable here)")
        if parent_meta:
            corpus = parent_meta.corpus or {}
            lines.append(f"- parent language: {parent_meta.language} "
                         f"({corpus.get('source', 'unknown')} data)")
    else:
        lines.append("- no parent: a from-scratch baseline of a transfer study")
    if summary:
        for key in ("source", "target", "strategy", "source_hours", "target_hours"):
            if getattr(summary, key) is not None:
                lines.append(f"- {key.replace('_', ' ')}: {getattr(summary, key)}")
        if summary.copy:
            lines.append(f"- layer copy: {summary.copy}")
    elif copy_report:
        lines.append(f"- copied layers: {', '.join(copy_report.get('layers') or []) or 'none'};"
                     f" frozen tensors: {len(copy_report.get('frozen') or [])}")
    head = (copy_report or {}).get("head") or {}
    if head:
        text = head.get("text_coverage")
        lines.append(f"- output layer: {len(head.get('mapped', []))} tokens mapped from the "
                     f"parent, {len(head.get('new', []))} new ({head.get('init')}); coverage "
                     f"of the target's tokens {100 * head.get('token_coverage', 0):.0f}%"
                     + (f", of its training text {100 * text:.0f}%" if text is not None else ""))
    return "\n".join(lines) + "\n"


def _results_section(results: list[tuple[str, dict[str, Any]]]) -> str:
    lines = ["## Results", ""]
    if not results:
        return "\n".join([*lines, "No scores in `results/` yet.", ""])
    lines += ["WER and CER in percent (jiwer), from `results/<set>/scores.json`.", "",
              "| set | decoding | WER | CER | utterances | lexicon words | beam |",
              "|---|---|---|---|---|---|---|"]
    for name, s in results:
        decode = s.get("decode", "greedy")
        lines.append(f"| {name} | {decode} | {s['wer_percent']:.2f} | {s['cer_percent']:.2f} | "
                     f"{s.get('num_utts', '')} | "
                     f"{s.get('lexicon_words', '') if decode == 'beam' else ''} | "
                     f"{s.get('beam_size', '') if decode == 'beam' else ''} |")
    return "\n".join(lines) + "\n"


def _licence_section(corpora: dict[str, dict[str, Any]], meta: CheckpointMeta) -> str:
    lines = ["## Licence", "",
             "- asrtl, the code that trained and runs this model, is Apache-2.0."]
    if any(c.get("source") == "embedded" for c in corpora.values()):
        lines.append("- Embedded corpus: the audio was synthesised by eSpeak NG, which is "
                     "GPL-3.0; the GPL covers the synthesiser program, not the audio it "
                     "produces, so neither that audio nor these weights are bound by it. Its "
                     "text is CLDR data (Unicode licence).")
    others = sorted({str(c.get("source")) for c in corpora.values()
                     if c.get("source") not in (None, "embedded")})
    if others:
        lines.append(f"- User corpora ({', '.join(others)}): the weights derive from that "
                     f"audio and its transcripts; their own licence decides how the model may "
                     f"be shared.")
    if meta.parent:
        lines.append("- The parent checkpoint's training data and its licence carry over to "
                     "this model.")
    lines.append("- The card's `license: other` stands for these notes.")
    return "\n".join(lines) + "\n"


def _usage_section(run_dir: Path, meta: CheckpointMeta, languages: list[str]) -> str:
    lang_arg = f', language="{languages[0]}"' if meta.kind == "multilingual" else ""
    lang_override = f" language={languages[0]}" if lang_arg else ""
    return "\n".join([
        "## How to use", "",
        "```python",
        "from asrtl import load_model",
        "",
        f'model = load_model("{run_dir}"{lang_arg})   # device=None: a GPU where there is one',
        'for r in model.transcribe(["speech.wav"], decode="beam"):',
        "    print(r.text, r.words)   # words: [(word, start_s, end_s), ...]",
        "```", "",
        "or from the command line:", "",
        "```",
        f"asrtl transcribe checkpoint={run_dir}{lang_override} audio=[speech.wav]",
        "```", ""])
