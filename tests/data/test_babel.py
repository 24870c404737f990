"""``data=babel``: a miniature IARPA BABEL pack laid out as LDC ships them, built here from the
real clips of ../shared/data (read in place; the pack's audio is written to tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from asrtl.data.audio import load_audio
from asrtl.data.corpora import babel_words
from asrtl.data.manifest import clean_transcript, prepare_corpus
from tests.helpers import data_config

RATE = 8000
GAP_S = 0.75
# Tags put into the transcripts, as BABEL's transcribers write them.
TAGGED = ["<breath> {}", "(({})) <lipsmack>", "{} <hes>", "<cough> {} (())", "{}"]
# side name -> (subset, shared clips, SPHERE subtype)
SIDES = {
    "BABEL_BP_101_10001_20120101_100000_inLine": ("training", "ljspeech", "PCM_16"),
    "BABEL_BP_101_10001_20120101_100000_outLine": ("training", "sb-spk1", "PCM_16"),
    "BABEL_BP_101_10002_20120102_110000_inLine": ("training", "sb-spk2", "ULAW"),
    "BABEL_BP_101_20001_20120201_090000_inLine": ("dev", ("jfk", "cheetah-en"), "ULAW"),
    "BABEL_BP_101_30001_20120301_080000_outLine": ("eval", ("leopard-en", "libri-1995"),
                                                   "PCM_16"),
}


def _side_rows(shared_clips: list[dict], who) -> list[dict]:
    names = (who,) if isinstance(who, str) else who
    return [r for r in shared_clips if r["speaker"] in names]


def _write_side(pack: Path, name: str, subset: str, rows: list[dict], subtype: str,
                transcribe: bool = True) -> list[dict]:
    """One conversation side: the clips at 8 kHz with silence between them, in SPHERE, and
    its transcript with time stamps; returns each clip's segment (start, end, text)."""
    gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
    pieces, t, segments = [gap], GAP_S, []
    lines = ["[0.000]", "<no-speech>"]
    for i, row in enumerate(rows):
        audio, rate = sf.read(row["abspath"], dtype="float32")
        low = soxr.resample(audio, rate, RATE)
        low = np.pad(low, (0, -len(low) % 8))  # whole milliseconds: exact time stamps
        start, end = t, t + len(low) / RATE
        text = TAGGED[i % len(TAGGED)].format(row["transcript"])
        lines += [f"[{start:.3f}]", text, f"[{end:.3f}]",
                  "<no-speech>" if i % 2 else "<breath> <cough>"]
        segments.append({"row": row, "start": round(start, 3), "end": round(end, 3),
                         "audio_16k": soxr.resample(low, RATE, 16000)})
        pieces += [low, gap]
        t = end + GAP_S
    lines.append(f"[{t:.3f}]")
    audio_dir = pack / "conversational" / subset / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    sf.write(audio_dir / f"{name}.sph", np.concatenate(pieces), RATE, format="NIST",
             subtype=subtype)
    if transcribe:
        text_dir = pack / "conversational" / subset / "transcription"
        text_dir.mkdir(parents=True, exist_ok=True)
        (text_dir / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return segments


def _pack(root: Path, shared_clips: list[dict], eval_transcripts: bool = True) -> tuple[Path,
                                                                                        dict]:
    """``root/IARPA_BABEL_BP_101/BABEL_BP_101/conversational/...`` (plus what lhotse must
    ignore: scripted/, reference_materials/); returns the pack and each side's segments."""
    pack = root / "IARPA_BABEL_BP_101"
    inner = pack / "BABEL_BP_101"
    (inner / "conversational" / "reference_materials").mkdir(parents=True)
    (inner / "conversational" / "reference_materials" / "lexicon.txt").write_text("a\ta\n")
    (inner / "scripted" / "training" / "audio").mkdir(parents=True)
    (pack / "README.txt").write_text("miniature BABEL pack for tests\n")
    segments = {}
    for name, (subset, who, subtype) in SIDES.items():
        segments[name] = _write_side(inner, name, subset, _side_rows(shared_clips, who),
                                     subtype, transcribe=subset != "eval" or eval_transcripts)
    return pack, segments


def test_babel_words_drops_tags():
    assert babel_words("<no-speech>") == ""
    assert babel_words("<breath> hello (()) world <hes>") == "hello world"
    assert babel_words("<unk> <v-noise> <noise> <silence>") == ""
    assert babel_words("((maybe)) this") == "((maybe)) this"  # uncertain words stay


def test_babel_pack_imports_splits_text_and_8k_audio(shared_clips, tmp_path):
    pack, sides = _pack(tmp_path, shared_clips)
    corpus = prepare_corpus(data_config("babel", pack, tmp_path / "cache"), "english")
    assert corpus.splits == ["train", "dev", "test"]  # training, dev, eval
    cuts = {s: list(corpus.cuts(s)) for s in corpus.splits}
    want = {"train": 12, "dev": 2, "test": 2}
    assert {s: len(c) for s, c in cuts.items()} == want
    assert corpus.summary["splits"]["train"]["speakers"] == 3
    assert corpus.summary["bad_utterances"] == {}
    by_start = {(c.recording.id, round(c.start, 3)): c for s in cuts for c in cuts[s]}
    for name, segments in sides.items():
        for seg in segments:
            cut = by_start[(name, seg["start"])]
            sup = cut.supervisions[0]
            assert sup.text == clean_transcript(seg["row"]["transcript"])
            assert sup.language == "english"
            assert cut.duration == pytest.approx(seg["end"] - seg["start"], abs=0.002)
            assert cut.recording.sampling_rate == RATE
            audio = load_audio(cut)
            assert len(audio) == pytest.approx(cut.duration * 16000, abs=2)
            # the very samples of the clip (as 8 kHz makes them), cut at the right place
            expected = seg["audio_16k"]
            n = min(len(audio), len(expected))
            assert n > len(expected) - 20
            assert np.corrcoef(audio[:n], expected[:n])[0, 1] > 0.99, (name, seg["start"])
    # the tags were in the transcripts, and are kept aside
    tagged = [c.supervisions[0].custom["babel_text"] for s in cuts for c in cuts[s]]
    assert any("<" in t for t in tagged)
    assert not any("<" in c.supervisions[0].text or "(" in c.supervisions[0].text
                   for s in cuts for c in cuts[s])


def test_eval_without_transcripts_and_hours(shared_clips, tmp_path):
    """LDC ships eval audio without transcripts: test is then held out of training by speaker;
    data.hours caps training."""
    pack, _ = _pack(tmp_path, shared_clips, eval_transcripts=False)
    corpus = prepare_corpus(data_config("babel", pack, tmp_path / "cache"), "english")
    spk = {s: {c.supervisions[0].speaker for c in corpus.cuts(s)} for s in corpus.splits}
    assert set(corpus.splits) == {"train", "dev", "test"}
    assert spk["test"] and not spk["test"] & spk["train"]
    assert len(corpus.cuts("dev")) == 2
    small = prepare_corpus(data_config("babel", pack, tmp_path / "cache", hours=0.002), "english")
    train, few = corpus.summary["splits"]["train"], small.summary["splits"]["train"]
    assert few["utterances"] < train["utterances"] and few["hours"] <= train["hours"]
    assert sum(c.duration for c in small.cuts("train")) >= 0.002 * 3600
    # a transcript edited in place (four levels down the pack) is seen: the cache is rebuilt
    dev = next(pack.rglob("dev")) / "transcription"
    side = next(dev.glob("*.txt"))
    side.write_text(side.read_text().replace("<breath>", "<breath> edited", 1))
    edited = prepare_corpus(data_config("babel", pack, tmp_path / "cache"), "english")
    assert edited.dir != corpus.dir
    assert any("edited" in c.supervisions[0].text for c in edited.cuts("dev"))
    assert small.dir != corpus.dir


def test_babel_bad_packs_fail_in_one_named_line(shared_clips, tmp_path, monkeypatch):
    def fails(pack: Path, exc: type, pattern: str, **kw) -> None:
        with pytest.raises(exc, match=pattern) as err:
            prepare_corpus(data_config("babel", pack, tmp_path / "c", **kw), "english")
        assert "\n" not in str(err.value)

    flat = tmp_path / "not-a-pack"
    flat.mkdir()
    fails(flat, FileNotFoundError, "has no 'conversational' directory")
    pack, _ = _pack(tmp_path / "a", shared_clips)
    dev = next(pack.rglob("conversational")) / "dev" / "transcription"
    (dev / "notes.txt").write_text("[0.000]\nhello\n[1.000]\n")
    fails(pack, ValueError, r"notes.txt: not a BABEL transcript name")
    (dev / "notes.txt").unlink()
    orphan = dev / "BABEL_BP_101_20009_20120201_090000_inLine.txt"
    orphan.write_text("[0.000]\nhello there\n[1.000]\n")
    fails(pack, ValueError, r"20009_20120201_090000_inLine.txt: no audio .*skip_bad=true")
    corpus = prepare_corpus(data_config("babel", pack, tmp_path / "c", skip_bad=True), "english")
    assert corpus.summary["bad_utterances"] == {"missing_recording": 1}
    assert len(corpus.cuts("dev")) == 2
    orphan.unlink()
    side = next(iter(dev.glob("*.txt")))
    text = side.read_text()
    side.write_text(text.replace("[0.000]", "[zero]", 1))
    fails(pack, ValueError, r"_inLine.txt:1: bad time stamp '\[zero\]'")
    side.write_text(text)
    audio = dev.parent / "audio" / f"{side.stem}.sph"
    header = (b"NIST_1A\n   1024\nsample_count -i 8000\nsample_n_bytes -i 2\nchannel_count -i 1\n"
              b"sample_rate -i 8000\nsample_coding -s26 pcm,embedded-shorten-v2.00\nend_head\n")
    audio.write_bytes(header.ljust(1024, b" ") + b"\x01\x02junk" * 100)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sph2pipe
    fails(pack, ValueError, r"shorten-compressed NIST SPHERE .*sph2pipe -f wav")


def test_a_listed_subset_through_a_symlinked_view(shared_clips, tmp_path):
    """The official 10 h lists (Kaldi's train.LimitedLP.list: side names) select training
    sides through a view of symlinks, as docs/data.md shows; dev is linked whole."""
    pack, _ = _pack(tmp_path / "full", shared_clips, eval_transcripts=False)
    conv = next(pack.rglob("conversational"))
    listed = ["BABEL_BP_101_10001_20120101_100000_inLine",
              "BABEL_BP_101_10001_20120101_100000_outLine"]
    view = tmp_path / "view" / "conversational"
    for sub in ("audio", "transcription"):
        (view / "training" / sub).mkdir(parents=True)
    (view / "dev").symlink_to(conv / "dev")
    for side in listed:
        (view / "training/audio" / f"{side}.sph").symlink_to(conv / f"training/audio/{side}.sph")
        (view / "training/transcription" / f"{side}.txt").symlink_to(
            conv / f"training/transcription/{side}.txt")
    corpus = prepare_corpus(data_config("babel", view.parent, tmp_path / "cache"), "english")
    sides = {c.recording.id for s in corpus.splits for c in corpus.cuts(s)}
    assert sides == set(listed) | {"BABEL_BP_101_20001_20120201_090000_inLine"}
    assert len(corpus.cuts("dev")) == 2 and len(corpus.cuts("all")) == 12
