"""Room reverberation and the telephone channel of the embedded corpus (asrtl/data/channel.py,
``data.reverb`` / ``data.rt60`` / ``data.telephone``)."""

import hashlib
import json
import random
from dataclasses import asdict

import numpy as np
import pytest

from asrtl.data import embedded
from asrtl.data.channel import (
    TELEPHONE_RATE,
    mu_law_decode,
    mu_law_encode,
    reverberate,
    room_impulse_response,
    telephone_channel,
)
from asrtl.data.embedded import EmbeddedConfig
from asrtl.data.languages import get_language
from asrtl.data.speakers import speaker_pool
from asrtl.data.synth import UttSpec, synthesize_utterance

SR = 16000
DEFAULT_KEY = "76d17598cfac"  # EmbeddedConfig().key() before the channel options existed


def schroeder_rt60(rir: np.ndarray, sample_rate: int, top_db: float = -5.0,
                   bottom_db: float = -35.0) -> float:
    """RT60 from Schroeder backward integration: the energy decay curve's slope fitted between
    ``top_db`` and ``bottom_db`` (T30), extrapolated to 60 dB."""
    edc = np.cumsum((rir.astype(np.float64) ** 2)[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0] + 1e-300)
    idx = np.flatnonzero((db <= top_db) & (db >= bottom_db))
    slope = np.polyfit(idx / sample_rate, db[idx], 1)[0]
    return -60.0 / slope


def _band_db(x: np.ndarray, rate: int, lo: float, hi: float, ref: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / rate)
    return 10 * np.log10(power[(f >= lo) & (f < hi)].mean() / ref)


def _in_band_power(x: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / rate)
    return float(power[(f >= 300) & (f <= 3400)].mean())


# ------------------------------------------------------------------ reverberation

def test_rir_is_causal_and_decays():
    rir = room_impulse_response(0.5, SR, drr_db=3.0, rng=np.random.default_rng(0))
    assert rir.dtype == np.float32 and rir.size == round(0.5 * SR) + 1
    assert np.argmax(np.abs(rir)) == 0 and rir[0] > 0  # the direct path comes first
    assert np.sum(rir.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
    tenth = rir.size // 10
    first, last = np.sum(rir[1:tenth + 1] ** 2), np.sum(rir[-tenth:] ** 2)
    assert last < 1e-4 * first  # the tail has fallen by > 40 dB
    # Convolution adds nothing before the sound: an impulse at 0.1 s starts the output there.
    x = np.zeros(SR, np.float32)
    x[1600] = 1.0
    y = reverberate(x, rir)
    assert y.size == x.size + rir.size - 1
    assert np.abs(y[:1600]).max() < 1e-6
    assert y[1600] == pytest.approx(rir[0], abs=1e-5)


@pytest.mark.parametrize("rt60", [0.2, 0.5, 0.8, 1.2])
@pytest.mark.parametrize("drr_db", [0.0, 10.0])
def test_rir_has_the_requested_rt60(rt60, drr_db):
    for seed in range(3):
        rir = room_impulse_response(rt60, SR, drr_db, np.random.default_rng(seed))
        assert schroeder_rt60(rir, SR) == pytest.approx(rt60, rel=0.1)


def test_rir_is_a_function_of_its_seed():
    def rir(seed):
        return room_impulse_response(0.4, SR, 5.0, np.random.default_rng(seed))

    assert np.array_equal(rir(7), rir(7))
    assert not np.array_equal(rir(7), rir(8))


def _spec(**kw) -> UttSpec:
    spk = speaker_pool(seed=0)["train"][0]
    return UttSpec("tr-test-000000", "test", "merhaba dünya güzel", spk,
                   spk.prosody(random.Random(0)), **kw)


def test_reverberated_speech_has_a_tail_and_no_clipping():
    dry = synthesize_utterance(_spec(), "tr", SR)
    wet = synthesize_utterance(_spec(rt60_s=0.6, drr_db=0.0, rir_seed=1), "tr", SR)
    assert wet.size == dry.size + round(0.6 * SR)  # the room's tail is kept
    assert not np.allclose(wet[:dry.size], dry, atol=1e-3)
    assert np.abs(wet).max() <= 0.99
    # The level stays comparable (a unit-energy response), within 3 dB.
    ratio = np.sum(wet.astype(np.float64) ** 2) / np.sum(dry.astype(np.float64) ** 2)
    assert 0.5 < ratio < 2.0
    # Deterministic: the same spec gives the same samples.
    again = synthesize_utterance(_spec(rt60_s=0.6, drr_db=0.0, rir_seed=1), "tr", SR)
    assert np.array_equal(wet, again)


def test_loud_reverberated_speech_is_peak_limited():
    x = np.sign(np.sin(2 * np.pi * 200 * np.arange(SR) / SR)).astype(np.float32) * 0.99
    y = reverberate(x, room_impulse_response(0.3, SR, 10.0, np.random.default_rng(0)))
    assert np.abs(y).max() > 0.99  # convolution alone would clip ...
    wet = synthesize_utterance(_spec(rt60_s=0.3, drr_db=10.0, rir_seed=0, snr_db=0.0), "tr",
                               SR)
    assert np.abs(wet).max() <= 0.99  # ... the synthesis chain does not


# ------------------------------------------------------------------ telephone

def test_telephone_channel_band_and_rate():
    noise = (0.1 * np.random.default_rng(0).standard_normal(4 * SR)).astype(np.float32)
    out = telephone_channel(noise, SR)
    assert out.dtype == np.float32 and out.size == noise.size // 2  # 8 kHz
    assert np.abs(out).max() < 1
    ref = _in_band_power(out, TELEPHONE_RATE)
    assert _band_db(out, TELEPHONE_RATE, 0, 250, ref) < -20
    assert _band_db(out, TELEPHONE_RATE, 3600, 4000, ref) < -20
    assert abs(_band_db(out, TELEPHONE_RATE, 400, 1000, ref)) < 1.5  # flat pass band
    assert abs(_band_db(out, TELEPHONE_RATE, 2500, 3300, ref)) < 1.5
    power = np.abs(np.fft.rfft(out)) ** 2
    f = np.fft.rfftfreq(out.size, 1 / TELEPHONE_RATE)
    assert power[(f < 300) | (f > 3400)].sum() < 0.03 * power.sum()
    assert len(np.unique(out)) <= 256  # 8-bit µ-law


def test_telephone_channel_rejects_a_low_rate():
    with pytest.raises(ValueError, match="8000"):
        telephone_channel(np.zeros(100, np.float32), 4000)


def test_mu_law_matches_torchaudio():
    torch = pytest.importorskip("torch")
    from torchaudio.functional import mu_law_decoding, mu_law_encoding

    x = np.linspace(-1, 1, 20001)
    codes = mu_law_encode(x)
    assert np.array_equal(codes, mu_law_encoding(torch.from_numpy(x), 256).numpy())
    assert codes.min() == 0 and codes.max() == 255
    assert np.allclose(mu_law_decode(codes),
                       mu_law_decoding(torch.from_numpy(codes), 256).numpy(), atol=1e-6)


def test_telephone_speech_is_8k():
    dry = synthesize_utterance(_spec(), "tr", SR)
    phone = synthesize_utterance(_spec(), "tr", SR, telephone=True)
    assert abs(phone.size - dry.size / 2) <= 1
    assert phone.std() > 0.01 and np.abs(phone).max() < 1


# ------------------------------------------------------------------ config and cache key

def _key_without_channel_options(cfg: EmbeddedConfig) -> str:
    """The key as computed before the channel options existed."""
    params = {k: v for k, v in asdict(cfg).items()
              if k not in ("hours", "workers", "reverb", "rt60", "telephone")}
    params["format"] = embedded.FORMAT_VERSION
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=list).encode()).hexdigest()[:12]


def _data_cfg(*overrides: str):
    from hydra import compose, initialize_config_dir

    from asrtl.cli import CONF_DIR
    from asrtl.data.manifest import _embedded_config

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("pretrain", overrides=["language=turkish", *overrides])
    return _embedded_config(cfg.data, cfg.seed)


def test_default_cache_key_is_unchanged():
    assert EmbeddedConfig().key() == DEFAULT_KEY == _key_without_channel_options(
        EmbeddedConfig())
    cfg = _data_cfg()
    assert (cfg.reverb, cfg.rt60, cfg.telephone) == (0.0, (0.2, 0.8), False)
    assert cfg.key() == _key_without_channel_options(cfg)
    # rt60 alone changes nothing that is synthesised: same key, same cache.
    assert _data_cfg("data.rt60=[0.3,0.5]").key() == cfg.key()


def test_channel_options_enter_the_cache_key():
    base = _data_cfg().key()
    keys = {_data_cfg(*o).key() for o in (["data.reverb=0.3"], ["data.telephone=true"],
                                          ["data.reverb=0.3", "data.rt60=[0.3,0.5]"],
                                          ["data.reverb=0.5"])}
    assert len(keys) == 4 and base not in keys
    assert _data_cfg("data.reverb=0.3").rt60 == (0.2, 0.8)


@pytest.mark.parametrize("kwargs, key", [
    ({"reverb": -0.1}, "data.reverb"), ({"reverb": 1.5}, "data.reverb"),
    ({"reverb": float("nan")}, "data.reverb"),
    ({"rt60": (-0.2, 0.5)}, "data.rt60"), ({"rt60": (0.8, 0.2)}, "data.rt60"),
    ({"rt60": (0.0, 0.5)}, "data.rt60"), ({"rt60": (0.5,)}, "data.rt60"),
    ({"rt60": ("a", "b")}, "data.rt60"), ({"rt60": (200, 800)}, "data.rt60"),
    ({"telephone": True, "sample_rate": 4000}, "data.telephone"),
])
def test_bad_channel_options_fail_in_one_line(kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as err:
        EmbeddedConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_override_fails_in_one_line():
    with pytest.raises(ValueError, match=r"data\.reverb") as err:
        _data_cfg("data.reverb=2")
    assert "\n" not in str(err.value)


def test_reverb_leaves_texts_and_speakers_paired():
    lang = get_language("turkish")
    speakers = speaker_pool(seed=0)["test"]
    words = [f"w{i}" for i in range(200)]

    def split(cfg):
        return embedded._fixed_split(lang, "test", speakers, 200, words, cfg, set())

    dry, wet = split(EmbeddedConfig()), split(EmbeddedConfig(reverb=0.5, rt60=(0.3, 0.6)))
    assert [(s.text, s.speaker, s.prosody) for s in dry] == [
        (s.text, s.speaker, s.prosody) for s in wet]
    assert all(s.rt60_s is None for s in dry)
    rooms = [s.rt60_s for s in wet if s.rt60_s is not None]
    assert 70 < len(rooms) < 130  # about half
    assert all(0.3 <= r <= 0.6 for r in rooms)
    assert split(EmbeddedConfig(reverb=0.5, rt60=(0.3, 0.6))) == wet  # deterministic
    other_seed = split(EmbeddedConfig(reverb=0.5, rt60=(0.3, 0.6), seed=1))
    assert [s.rt60_s for s in other_seed] != [s.rt60_s for s in wet]


def test_tiny_telephone_reverb_corpus(tmp_path):
    from lhotse import CutSet

    from asrtl.data.audio import load_audio

    cfg = EmbeddedConfig(hours=0.001, dev_utts=1, test_utts=2, adapt_utts=1, hard_speakers=1,
                         workers=1, reverb=1.0, telephone=True)
    out = embedded.prepare_embedded("turkish", cfg, tmp_path)
    assert out.parent.name == cfg.key() != DEFAULT_KEY
    cuts = CutSet.from_file(out / "test_cuts.jsonl.gz").to_eager()
    for cut in cuts:
        assert cut.recording.sampling_rate == TELEPHONE_RATE
        assert cut.supervisions[0].custom["telephone"] is True
        assert 0.2 <= cut.supervisions[0].custom["rt60_s"] <= 0.8
        audio = load_audio(cut)  # resampled to 16 kHz on loading
        assert abs(len(audio) - cut.duration * 16000) <= 1
