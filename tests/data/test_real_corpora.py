"""Real recordings from ../shared/data through every importer (read in place, never copied)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asrtl.data.audio import load_audio
from asrtl.data.manifest import clean_transcript, prepare_corpus
from tests.helpers import data_config, kaldi_dir


def test_kaldi_import_matches_the_shared_manifest(shared_clips, tmp_path):
    kaldi = kaldi_dir(tmp_path / "kaldi", shared_clips)
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "cache"), "multi")
    cuts = {c.id: c for s in ("train", "dev", "test") for c in corpus.cuts(s)}
    assert len(cuts) == len(shared_clips)
    for row in shared_clips:
        cut = cuts[row["utt_id"]]
        assert cut.duration == pytest.approx(float(row["duration_s"]), abs=0.01)
        sup = cut.supervisions[0]
        assert sup.text == clean_transcript(row["transcript"])
        assert sup.custom["raw_text"] == row["transcript"]
    audio = load_audio(cuts["leopard-en_1"])
    assert len(audio) == pytest.approx(5.855 * 16000, abs=2)
    # held-out speakers: dev/test speakers never in train
    spk = {s: {c.supervisions[0].speaker for c in corpus.cuts(s)} for s in corpus.splits}
    assert not spk["train"] & (spk["dev"] | spk["test"])


def test_other_rates_and_channels_become_16k_mono(shared_clips, tmp_path):
    row = next(r for r in shared_clips if r["utt_id"] == "jfk_1")
    audio, rate = sf.read(row["abspath"], dtype="float32")
    import soxr
    stereo8k = soxr.resample(audio, rate, 8000)
    stereo8k = np.stack([stereo8k, 0.5 * stereo8k], axis=1)
    wav = tmp_path / "jfk-8k-stereo.wav"
    sf.write(wav, stereo8k, 8000)
    others = [r for r in shared_clips if r["speaker"] == "ljspeech"][:2]
    kaldi = kaldi_dir(tmp_path / "k", [dict(row, abspath=str(wav)), *others])
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    cut = next(c for s in corpus.splits for c in corpus.cuts(s) if c.id == "jfk_1")
    assert cut.recording.sampling_rate == 8000 and cut.recording.num_channels == 2
    mono = load_audio(cut)
    assert mono.ndim == 1 and len(mono) == pytest.approx(float(row["duration_s"]) * 16000, abs=20)
    original = soxr.resample(audio, rate, 16000)[: len(mono)]
    corr = np.corrcoef(original[: len(mono)], mono[: len(original)])[0, 1]
    assert corr > 0.9  # the same speech, down-mixed (0.75 x) and band-limited


def test_commonvoice_tsv_import(shared_clips, tmp_path):
    cv = tmp_path / "cv-en"
    (cv / "clips").mkdir(parents=True)
    rows = [r for r in shared_clips if r["language"] == "en"]
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\n"
    lines = []
    for r in rows:
        (cv / "clips" / f"{r['utt_id']}.wav").symlink_to(r["abspath"])
        lines.append(f"{r['speaker']}\t{r['utt_id']}.wav\t{r['transcript']}\t2\t0\t\t\t\n")
    (cv / "validated.tsv").write_text(header + "".join(lines), encoding="utf-8")
    corpus = prepare_corpus(data_config("commonvoice", cv, tmp_path / "cache"), "english")
    total = sum(len(corpus.cuts(s)) for s in ("train", "dev", "test"))
    assert total == len(rows)
    by_id = {c.id: c for s in ("train", "dev", "test") for c in corpus.cuts(s)}
    assert by_id["ljspeech_1"].duration == pytest.approx(
        float(next(r for r in rows if r["utt_id"] == "ljspeech_1")["duration_s"]), abs=0.01)
    assert corpus.summary["splits"]["train"]["speakers"] >= 3


def test_lhotse_manifest_import(shared_clips, tmp_path):
    kaldi = kaldi_dir(tmp_path / "kaldi", shared_clips[:6])
    first = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c1"), "multi")
    again = prepare_corpus(data_config("lhotse", first.dir, tmp_path / "c2"), "multi")
    for split in ("train", "dev", "test"):
        assert sorted(again.cuts(split).ids) == sorted(first.cuts(split).ids)


def test_real_corpus_cache_is_reused(shared_clips, tmp_path, monkeypatch):
    kaldi = kaldi_dir(tmp_path / "kaldi", shared_clips[:6])
    first = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "multi")
    from asrtl.data import manifest

    with monkeypatch.context() as m:
        m.setitem(manifest.IMPORTERS, "kaldi", lambda *a: pytest.fail("imported again"))
        assert prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "multi").dir == first.dir
    # Editing a transcript in place invalidates the cache (the dir's own mtime does not move).
    text = (kaldi / "text").read_text()
    (kaldi / "text").write_text(text.replace("quilter", "QUILTER-EDITED", 1))
    edited = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "multi")
    assert edited.dir != first.dir
    assert any("quilter-edited" in c.supervisions[0].text
               for s in edited.splits for c in edited.cuts(s))


# ------------------------------------------------------------------ bad input, named

def test_kaldi_dir_without_text(shared_clips, tmp_path):
    kaldi = kaldi_dir(tmp_path / "k", shared_clips[:3])
    (kaldi / "text").unlink()
    with pytest.raises(FileNotFoundError, match="has no 'text'"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")


def test_mismatched_utterance_ids(shared_clips, tmp_path):
    kaldi = kaldi_dir(tmp_path / "k", shared_clips[:3])
    with (kaldi / "text").open("a") as f:
        f.write("ghost-utt hello\n")
    with pytest.raises(ValueError, match="'ghost-utt' is in .*text but not in .*wav.scp"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")


def test_missing_corrupt_and_empty_audio(shared_clips, tmp_path):
    rows = [dict(r) for r in shared_clips[:3]]
    rows[0]["abspath"] = str(tmp_path / "nowhere.wav")
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k1", rows), tmp_path / "c"), "x")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    rows[0]["abspath"] = str(corrupt)
    with pytest.raises(ValueError, match="corrupt audio .*corrupt.wav"):
        prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k2", rows), tmp_path / "c"), "x")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    rows[0]["abspath"] = str(empty)
    with pytest.raises(ValueError, match="zero-length audio .*empty.wav"):
        prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k3", rows), tmp_path / "c"), "x")


def test_empty_transcript_fails_or_is_counted(shared_clips, tmp_path):
    rows = shared_clips[:5]
    kaldi = kaldi_dir(tmp_path / "k", rows,
                       text=lambda r: "" if r is rows[1] else r["transcript"])
    with pytest.raises(ValueError, match=f"'{rows[1]['utt_id']}' has an empty transcript"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", skip_bad=True), "english")
    assert corpus.summary["bad_utterances"] == {"empty_transcript": 1}


def test_out_of_script_transcripts(shared_clips, tmp_path):
    rows = [r for r in shared_clips if r["language"] == "en"][:4]
    kaldi = kaldi_dir(tmp_path / "k", rows)
    with pytest.raises(ValueError, match="outside the Bengali script"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", out_of_script="refuse"),
                       "bengali")
    kept = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", out_of_script="warn"),
                          "bengali")
    assert kept.summary["bad_utterances"]["out_of_script"] == 4
    with pytest.raises(ValueError, match="no usable utterances"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", out_of_script="drop"), "bengali")


def test_unknown_source_and_language(tmp_path):
    with pytest.raises(ValueError, match="unknown data source 'tapes'"):
        prepare_corpus({"name": "tapes", "cache_dir": str(tmp_path)}, "english")
    with pytest.raises(ValueError, match="unknown language 'elvish'"):
        prepare_corpus({"name": "embedded", "cache_dir": str(tmp_path)}, "elvish")


def test_kaldi_segments_cut_recordings_into_utterances(shared_clips, tmp_path):
    jfk = next(r for r in shared_clips if r["utt_id"] == "jfk_1")
    lj = [r for r in shared_clips if r["speaker"] == "ljspeech"][:2]
    kaldi = tmp_path / "seg"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text(f"jfk {jfk['abspath']}\n" + "".join(
        f"{r['utt_id']} {r['abspath']}\n" for r in lj))
    (kaldi / "segments").write_text("jfk-a jfk 0.0 4.0\njfk-b jfk 4.0 8.5\n" + "".join(
        f"{r['utt_id']}-s {r['utt_id']} 0.0 -1\n" for r in lj))
    (kaldi / "text").write_text("jfk-a and so my fellow americans\njfk-b ask not\n" + "".join(
        f"{r['utt_id']}-s {r['transcript']}\n" for r in lj))
    (kaldi / "utt2spk").write_text("jfk-a jfk\njfk-b jfk\n" + "".join(
        f"{r['utt_id']}-s lj\n" for r in lj))
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    cuts = {c.id: c for s in corpus.splits for c in corpus.cuts(s)}
    assert cuts["jfk-b"].duration == pytest.approx(4.5) and cuts["jfk-b"].start == 4.0
    assert len(load_audio(cuts["jfk-b"])) == pytest.approx(4.5 * 16000, abs=2)
    lj0 = f"{lj[0]['utt_id']}-s"
    assert cuts[lj0].duration == pytest.approx(float(lj[0]["duration_s"]), abs=0.01)
    (kaldi / "segments").write_text("jfk-a jfk 0.0 4.0\njfk-b tape9 4.0 8.5\n")
    (kaldi / "text").write_text("jfk-a x\njfk-b y\n")
    (kaldi / "utt2spk").write_text("jfk-a jfk\njfk-b jfk\n")
    with pytest.raises(ValueError, match="'jfk-b' names recording 'tape9'"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c2"), "english")


def test_skip_bad_drops_zero_length_audio_and_orphan_ids(shared_clips, tmp_path):
    """data.skip_bad=true drops (and counts) what otherwise stops the import in one line."""
    rows = [dict(r) for r in shared_clips if r["speaker"] == "ljspeech"]
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    rows[0]["abspath"] = str(empty)
    kaldi = kaldi_dir(tmp_path / "k", rows)
    with (kaldi / "text").open("a") as f:
        f.write("ghost-utt hello\n")  # a transcript whose id is not in wav.scp
    with (kaldi / "utt2spk").open("a") as f:
        f.write("ghost-utt ljspeech\n")
    with (kaldi / "wav.scp").open("a") as f:
        f.write(f"untranscribed {rows[1]['abspath']}\n")  # audio without a transcript
    with (kaldi / "utt2spk").open("a") as f:
        f.write("untranscribed ljspeech\n")
    with pytest.raises(ValueError, match=r"'untranscribed' is in .*wav.scp but not in .*text "
                                         r".*\(data.skip_bad=true drops such utterances\)$"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", skip_bad=True), "english")
    assert corpus.summary["bad_utterances"] == {"zero_length": 1, "missing_recording": 1,
                                                "missing_transcript": 1}
    kept = sorted(corpus.cuts("all").ids)
    assert kept == sorted(r["utt_id"] for r in rows[1:])
    # each alone, without skip_bad: one line naming it
    only_empty = kaldi_dir(tmp_path / "k2", rows)
    with pytest.raises(ValueError, match=r"zero-length audio for 'ljspeech_1': .*empty.wav "
                                         r"\(data.skip_bad=true"):
        prepare_corpus(data_config("kaldi", only_empty, tmp_path / "c"), "english")


def test_skip_bad_drops_segments_of_unknown_recordings(shared_clips, tmp_path):
    lj = [r for r in shared_clips if r["speaker"] == "ljspeech"][:3]
    kaldi = tmp_path / "seg"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text("".join(f"{r['utt_id']} {r['abspath']}\n" for r in lj))
    (kaldi / "segments").write_text("".join(f"{r['utt_id']}-s {r['utt_id']} 0.0 -1\n"
                                            for r in lj) + "lost-s tape9 0.0 1.0\n")
    (kaldi / "text").write_text("".join(f"{r['utt_id']}-s {r['transcript']}\n" for r in lj)
                                + "lost-s words\n")
    (kaldi / "utt2spk").write_text("".join(f"{r['utt_id']}-s lj\n" for r in lj) + "lost-s x\n")
    with pytest.raises(ValueError, match="'lost-s' names recording 'tape9'"):
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c", skip_bad=True), "english")
    assert corpus.summary["bad_utterances"] == {"missing_recording": 1}
    assert len(corpus.cuts("all")) == 3


def test_commonvoice_skip_bad_drops_zero_length_clips(shared_clips, tmp_path):
    cv = tmp_path / "cv"
    (cv / "clips").mkdir(parents=True)
    rows = [r for r in shared_clips if r["language"] == "en"][:5]
    sf.write(cv / "clips" / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    lines = ["client_id\tpath\tsentence\n", "x\tempty.wav\thello\n"]
    for r in rows:
        (cv / "clips" / f"{r['utt_id']}.wav").symlink_to(r["abspath"])
        lines.append(f"{r['speaker']}\t{r['utt_id']}.wav\t{r['transcript']}\n")
    (cv / "validated.tsv").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match="zero-length audio for 'empty'"):
        prepare_corpus(data_config("commonvoice", cv, tmp_path / "c"), "english")
    corpus = prepare_corpus(data_config("commonvoice", cv, tmp_path / "c", skip_bad=True),
                            "english")
    assert corpus.summary["bad_utterances"] == {"zero_length": 1}
    assert len(corpus.cuts("all")) == len(rows)
