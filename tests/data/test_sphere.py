"""NIST SPHERE audio (``.sph``) without sph2pipe: PCM, µ-law and A-law read by libsndfile,
shorten-compressed files refused in one line that says how to read them. The SPHERE files are
written here from the real clips of ../shared/data (read in place, never copied)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import AudioSource, MonoCut, Recording
from lhotse.audio.backend import LibsndfileBackend, get_current_audio_backend

from asrtl.data.audio import load_audio, sphere_coding, sphere_problem
from asrtl.data.manifest import prepare_corpus
from tests.helpers import data_config, kaldi_dir


def _sphere(path: Path, row: dict, subtype: str) -> Path:
    audio, rate = sf.read(row["abspath"], dtype="float32")
    sf.write(path, audio, rate, format="NIST", subtype=subtype)
    return path


def _shorten(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """A SPHERE header saying shorten-compressed, and a body that is not audio."""
    header = (f"NIST_1A\n   1024\nsample_count -i {int(seconds * rate)}\nsample_n_bytes -i 2\n"
              f"channel_count -i 1\nsample_byte_format -s2 01\nsample_rate -i {rate}\n"
              f"sample_coding -s7 pcm,embedded-shorten-v2.00\nend_head\n")
    path.write_bytes(header.encode().ljust(1024, b" ") + b"ajkxhqe\x00\x01" * 300)
    return path


@pytest.fixture
def no_sph2pipe(monkeypatch, tmp_path) -> None:
    """A PATH on which there is no sph2pipe, whatever this machine has."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_pcm_ulaw_alaw_sphere_import_and_load(shared_clips, tmp_path, no_sph2pipe):
    rows = [r for r in shared_clips if r["speaker"] == "ljspeech"][:3]
    coded = []
    for row, subtype in zip(rows, ("PCM_16", "ULAW", "ALAW"), strict=True):
        sph = _sphere(tmp_path / f"{row['utt_id']}.sph", row, subtype)
        coded.append(dict(row, abspath=str(sph)))
    assert [sphere_coding(r["abspath"]) for r in coded] == ["pcm", "ulaw", "alaw"]
    kaldi = kaldi_dir(tmp_path / "kaldi", coded)
    corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "cache"), "english")
    cuts = {c.id: c for c in corpus.cuts("all")}
    assert sorted(cuts) == sorted(r["utt_id"] for r in rows)
    for row in rows:
        cut = cuts[row["utt_id"]]
        assert cut.recording.sources[0].source.endswith(".sph")
        assert cut.duration == pytest.approx(float(row["duration_s"]), abs=0.01)
        audio = load_audio(cut)
        original, _ = sf.read(row["abspath"], dtype="float32")
        assert len(audio) == len(original)
        assert _corr(audio, original) > 0.99  # PCM exact; µ-law/A-law: companding noise only
    pcm = load_audio(cuts[rows[0]["utt_id"]])
    assert np.array_equal(pcm, sf.read(rows[0]["abspath"], dtype="float32")[0])
    # lhotse's backend is put back: asrtl changes it only while reading a .sph file
    assert not isinstance(get_current_audio_backend(), LibsndfileBackend)


def test_sphere_named_wav_and_8k_stereo_sphere(shared_clips, tmp_path, no_sph2pipe):
    import soxr

    row = next(r for r in shared_clips if r["utt_id"] == "jfk_1")
    timit_like = _sphere(tmp_path / "jfk.WAV", row, "PCM_16")  # TIMIT: SPHERE named .WAV
    audio, rate = sf.read(row["abspath"], dtype="float32")
    low = soxr.resample(audio, rate, 8000)
    stereo = tmp_path / "jfk-8k-stereo.sph"
    sf.write(stereo, np.stack([low, 0.5 * low], axis=1), 8000, format="NIST", subtype="ULAW")
    lj = [r for r in shared_clips if r["speaker"] == "ljspeech"][:2]
    rows = [dict(row, utt_id="timit", abspath=str(timit_like)),
            dict(row, utt_id="tel", speaker="tel", abspath=str(stereo)), *lj]
    corpus = prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k", rows), tmp_path / "c"),
                            "english")
    cuts = {c.id: c for c in corpus.cuts("all")}
    tel = cuts["tel"]
    assert tel.recording.sampling_rate == 8000 and tel.recording.num_channels == 2
    mono = load_audio(tel)
    assert mono.ndim == 1 and len(mono) == pytest.approx(11.0 * 16000, abs=20)
    assert _corr(mono, soxr.resample(audio, rate, 16000)) > 0.9
    assert np.array_equal(load_audio(cuts["timit"]), audio)


def test_shorten_sphere_fails_in_one_line_saying_how(shared_clips, tmp_path, no_sph2pipe):
    shn = _shorten(tmp_path / "spk1_utt1.sph")
    problem = sphere_problem(shn)
    assert problem and "shorten-compressed NIST SPHERE" in problem
    assert "sph2pipe -f wav in.sph out.wav" in problem and "PATH" in problem
    rows = [dict(shared_clips[0], abspath=str(shn)), *shared_clips[1:3]]
    kaldi = kaldi_dir(tmp_path / "k", rows)
    with pytest.raises(ValueError, match=r"shorten-compressed NIST SPHERE .*sph2pipe") as err:
        prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    assert "\n" not in str(err.value) and str(shn) in str(err.value)
    # a manifest made elsewhere (e.g. with sph2pipe) that points at shorten audio: on loading
    rec = Recording(id="shn", sources=[AudioSource(type="file", channels=[0], source=str(shn))],
                    sampling_rate=16000, num_samples=32000, duration=2.0)
    cut = MonoCut(id="shn-cut", start=0.0, duration=2.0, channel=0, recording=rec)
    with pytest.raises(ValueError, match=r"cannot read audio of 'shn-cut' .*shorten") as err:
        load_audio(cut)
    assert "\n" not in str(err.value)
    assert not isinstance(get_current_audio_backend(), LibsndfileBackend)


def test_shorten_goes_to_sph2pipe_when_it_is_on_path(shared_clips, tmp_path, monkeypatch):
    """With sph2pipe on PATH, shorten files are lhotse's (a stand-in sph2pipe that prints
    the clip as WAV)."""
    row = next(r for r in shared_clips if r["utt_id"] == "sb-spk1_1")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sph2pipe"
    fake.write_text(f"#!/bin/sh\nexec cat '{row['abspath']}'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    shn = _shorten(tmp_path / "spk1.sph", seconds=float(row["duration_s"]))
    assert sphere_problem(shn) is None
    rows = [dict(row, abspath=str(shn)), *[r for r in shared_clips if r["speaker"] == "sb-spk2"]]
    corpus = prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k", rows), tmp_path / "c"),
                            "english")
    cut = next(c for c in corpus.cuts("all") if c.id == row["utt_id"])
    assert cut.duration == pytest.approx(float(row["duration_s"]), abs=0.01)
    assert np.array_equal(load_audio(cut), sf.read(row["abspath"], dtype="float32")[0])


def test_corrupt_sphere_is_named(shared_clips, tmp_path, no_sph2pipe):
    bad = tmp_path / "broken.sph"
    bad.write_bytes(b"NIST_1A\n   1024\nsample_rate -i 16000\n")  # header cut short
    rows = [dict(shared_clips[0], abspath=str(bad)), *shared_clips[1:3]]
    with pytest.raises(ValueError, match=r"unreadable or corrupt audio .*broken.sph") as err:
        prepare_corpus(data_config("kaldi", kaldi_dir(tmp_path / "k", rows), tmp_path / "c"), "x")
    assert "\n" not in str(err.value)
    assert not isinstance(get_current_audio_backend(), LibsndfileBackend)
