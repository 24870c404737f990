import pytest

from asrtl.data.espeak import Espeak, spells_out
from asrtl.data.languages import LANGUAGES, caveats, get_language, known_languages
from asrtl.data.text import cldr_words, in_script, normalize, split_words


def test_seed_languages_resolve_by_name_and_iso():
    assert get_language("bengali").iso == "bn"
    assert get_language("as").name == "assamese"
    assert get_language("Turkish").script == "LATIN"
    assert get_language("thai").script == "THAI"


def test_lao_names_its_closest_relative_and_real_corpora():
    with pytest.raises(ValueError, match="no Lao voice.*'thai'.*data=babel"):
        get_language("lao")


def test_caveats_say_the_speech_is_synthetic_and_what_thai_stands_for():
    synthetic = ("Embedded corpus: speech synthesised by eSpeak NG, one synthetic speaker set "
                 "for every language.")
    assert caveats(["bengali", "turkish"]) == [synthetic]
    thai = [synthetic, "thai stands in for lao (eSpeak NG has no Lao voice).",
            "Thai CLDR text has no spaces between words, so a Thai 'word' is a whole name and "
            "Thai WER counts phrases: read its CER."]
    assert caveats(["bengali", "assamese", "thai", "turkish"]) == thai
    assert caveats(["th", "Thai"]) == thai  # names resolve, each language once
    with pytest.raises(ValueError, match="unknown language 'klingon'"):
        caveats(["klingon"])


def test_unknown_language_lists_known_ones():
    with pytest.raises(ValueError, match="unknown language 'klingon'; known: .*bengali"):
        get_language("klingon")


def test_registry_is_wide_and_every_voice_exists():
    assert len(known_languages()) >= 60
    engine = Espeak.get()
    for lang in LANGUAGES.values():
        engine.set_voice(lang.voice)  # raises ValueError for a voice eSpeak lacks


def test_normalize_precomposes_bengali_nukta_letters():
    decomposed = "\u0985\u09b8\u09ae\u09c0\u09af\u09bc\u09be"  # অসমীয়া as CLDR stores it
    assert "\u09df" in normalize(decomposed)
    assert "\u09bc" not in normalize(decomposed)


def test_turkic_casing_and_script_filter():
    assert normalize("IĞDIR İzmir", turkic=True) == "ığdır izmir"
    assert split_words("Paris 2024, Ankara-Türkiye", "LATIN", turkic=True) == [
        "paris", "ankara", "türkiye"]
    assert not in_script("abcক", "BENGALI")


def test_cldr_gives_over_a_thousand_words_in_script():
    words = cldr_words("bn", "BENGALI")
    assert len(words) > 1000
    assert all(in_script(w, "BENGALI") for w in words)


def test_spelled_out_words_are_detected():
    engine = Espeak.get()
    assert spells_out(engine.phonemes("ABC", "bn"))
    assert not spells_out(engine.phonemes("বাংলা", "bn"))
