"""``data=asterisk`` and ``data=fillets`` on package trees built in a temp dir as the Debian
packages lay them out (audio: real clips from ../shared/data, resampled), and the fetch path
through stand-in ``apt-get`` and real ``dpkg-deb`` (nothing is downloaded)."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrtl.data.audio import load_audio
from asrtl.data.debian import fetch_packages, speech_text, spell_numbers
from asrtl.data.manifest import prepare_corpus
from asrtl.errors import MissingInput, UserError
from tests.helpers import data_config

# Asterisk: (prompt id, transcript line or None: no line); every id but the last has audio
PROMPTS = [
    ("agent-pass", "Prego digitare la propria password."),
    ("digits/1", "uno"), ("digits/2", "due"), ("digits/10", "dieci"),
    ("conf-menu", "Premere 1 per uscire, 2 per restare."),  # spelled: uno, due
    ("conf-big", "Comporre 500 ora."),  # no digits/500 prompt: skipped
    ("ascending-2tone", "[toni ascendenti]"),  # non-speech: skipped
    ("silence/1", "(1 second of silence)"),
    ("letters/O", "o"),  # the line's id is lower case: matched ignoring case
    ("vm-nomore", None),  # audio without a line: skipped
]
TEXT = ("\ufeff; Core Asterisk Sounds in Italian\n\n"
        + "".join(f"{pid.lower() if pid == 'letters/O' else pid}: {t}\n"
                  for pid, t in PROMPTS if t is not None)
        + "vm-gone: Nessun messaggio.\n")  # a line without audio


def _clips(shared_clips, n: int) -> list[np.ndarray]:
    out = []
    for row in shared_clips[:n]:
        audio, rate = sf.read(row["abspath"], dtype="float32", always_2d=True)
        out.append(audio.mean(axis=1)[:: max(1, rate // 8000)][: 8000 * 2])
    return out


def asterisk_tree(root: Path, shared_clips) -> Path:
    voice = root / "usr/share/asterisk/sounds/it_IT_m_Carlo"
    for (pid, _), audio in zip(PROMPTS, _clips(shared_clips, len(PROMPTS)), strict=True):
        (voice / pid).parent.mkdir(parents=True, exist_ok=True)
        sf.write(voice / f"{pid}.wav", audio, 8000, subtype="PCM_16")
    doc = root / "usr/share/doc/asterisk-core-sounds-it"
    doc.mkdir(parents=True)
    (doc / "core-sounds-it.txt.gz").write_bytes(gzip.compress(TEXT.encode()))
    return root


def fillets_tree(root: Path, shared_clips) -> Path:
    game = root / "usr/share/games/fillets-ng"
    lines = {"let-m-divna": ("font_small", "Wat is dit voor raar schip?"),
             "let-v-vrak": ("font_big", "Dat is het wrak van de Poseidon 737."),  # skipped
             "let-v-oko": ("font_big", "Zie je dat \\\"oog\\\"? De stille getuige..."),
             "let-m-stil": ("font_small", "[zucht]"),
             **{f"let-{c}-zin{i}": (f"font_{'small' if c == 'm' else 'big'}", f"Zin nummer {w}.")
                for i, (c, w) in enumerate([("m", "een"), ("v", "twee"), ("m", "drie"),
                                            ("v", "vier")])},
             "let-z-empty": ("font_small", "Leeg.")}  # its file is zero-length
    lua = "".join(f'dialogId("{i}", "{f}", "English")\ndialogStr("{t}")\n\n'
                  for i, (f, t) in lines.items())
    (game / "script/airplane").mkdir(parents=True)
    (game / "script/airplane/dialogs_nl.lua").write_text(lua, encoding="utf-8")
    snd = game / "sound/airplane/nl"
    snd.mkdir(parents=True)
    voiced = [lid for lid in lines if lid != "let-z-empty"] + ["let-x-extra"]  # x: no line
    for lid, audio in zip(voiced, _clips(shared_clips, len(voiced)), strict=True):
        sf.write(snd / f"{lid}.ogg", np.stack([audio, audio], axis=1), 22050, format="OGG")
    sf.write(snd / "let-z-empty.ogg", np.zeros((0, 1)), 22050, format="OGG")  # zero-length
    return root


def test_asterisk_prompts_spelled_cleaned_and_counted(shared_clips, tmp_path, caplog):
    tree = asterisk_tree(tmp_path / "pkg", shared_clips)
    with caplog.at_level("INFO"):
        corpus = prepare_corpus(data_config("asterisk", tree, tmp_path / "cache",
                                            dev_fraction=0.2, test_fraction=0.2), "it")
    assert corpus.language == "italian"
    cuts = {c.id: c for s in corpus.splits for c in corpus.cuts(s)}
    assert set(cuts) == {"agent-pass", "digits/1", "digits/2", "digits/10", "conf-menu",
                         "letters/O"}
    assert cuts["conf-menu"].supervisions[0].text == "premere uno per uscire due per restare"
    assert {c.supervisions[0].speaker for c in cuts.values()} == {"it_IT_m_Carlo"}
    assert cuts["agent-pass"].recording.sampling_rate == 8000
    assert len(load_audio(cuts["agent-pass"])) == pytest.approx(2 * 16000, abs=2)
    log = caplog.text
    for counted in ("1 files without text", "2 non speech entries", "1 numbers not spelled",
                    "1 texts without audio"):
        assert counted in log, log
    # a transcript corrected in place: the corpus is imported again
    text = tree / "usr/share/doc/asterisk-core-sounds-it/core-sounds-it.txt.gz"
    text.write_bytes(gzip.compress(TEXT.replace("due\n", "duee\n").encode()))
    again = prepare_corpus(data_config("asterisk", tree, tmp_path / "cache",
                                       dev_fraction=0.2, test_fraction=0.2), "it")
    assert again.dir != corpus.dir
    texts = {c.id: c.supervisions[0].text for s in again.splits for c in again.cuts(s)}
    assert texts["digits/2"] == "duee"


def test_fillets_dialogue_with_characters_as_speakers(shared_clips, tmp_path, caplog):
    tree = fillets_tree(tmp_path / "pkg", shared_clips)
    with caplog.at_level("INFO"):
        corpus = prepare_corpus(data_config("fillets", tree, tmp_path / "cache",
                                            dev_fraction=0.3, test_fraction=0.3), "dutch")
    cuts = {c.id: c for s in corpus.splits for c in corpus.cuts(s)}
    assert set(cuts) == {"airplane/let-m-divna", "airplane/let-v-oko",
                         *(f"airplane/let-{c}-zin{i}" for i, c in enumerate("mvmv"))}
    assert cuts["airplane/let-v-oko"].supervisions[0].text == "zie je dat oog de stille getuige"
    assert {c.supervisions[0].speaker for c in cuts.values()} == {"small", "big"}
    assert load_audio(cuts["airplane/let-m-divna"]).ndim == 1  # stereo down-mixed
    for counted in ("1 files without text", "1 non speech entries", "1 numbers not spelled",
                    "1 zero length files"):
        assert counted in caplog.text, caplog.text


def test_normalisation_helpers():
    assert speech_text("Premere [beep] 1 (pausa) ora ") == "Premere 1 ora"
    assert spell_numbers("premere 1 o 10", {"1": "uno", "10": "dieci"}) == "premere uno o dieci"
    assert spell_numbers("premere 01", {"1": "uno"}) == "premere uno"
    assert spell_numbers("comporre 500", {"1": "uno"}) is None


def _fake_apt(bin_dir: Path, debs: Path) -> None:
    """An ``apt-get`` on PATH that "downloads" by copying ``debs/<name>_*.deb``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\n[ "$1" = download ] || exit 100\nshift\nfor n in "$@"; do\n'
                   f'  ls {debs}/"$n"_*.deb >/dev/null 2>&1 || {{ echo "E: Unable to locate '
                   f'package $n" >&2; exit 100; }}\n  cp {debs}/"$n"_*.deb .\ndone\n')
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)


def _deb(tree: Path, name: str, out: Path) -> None:
    (tree / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: 1.0\nArchitecture: all\n"
                                         f"Maintainer: t <t@t>\nDescription: test\n")
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree),
                    str(out / f"{name}_1.0_all.deb")], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_without_a_path_the_packages_are_fetched_once_into_the_cache(shared_clips, tmp_path,
                                                                      monkeypatch):
    tree = asterisk_tree(tmp_path / "pkg", shared_clips)
    debs = tmp_path / "debs"
    debs.mkdir()
    wav, meta = tmp_path / "wav", tmp_path / "meta"
    shutil.copytree(tree / "usr/share/asterisk", wav / "usr/share/asterisk")
    shutil.copytree(tree / "usr/share/doc", meta / "usr/share/doc")
    _deb(wav, "asterisk-core-sounds-it-wav", debs)
    _deb(meta, "asterisk-core-sounds-it", debs)
    _fake_apt(tmp_path / "bin", debs)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    corpus = prepare_corpus({"name": "asterisk", "path": None, "cache_dir": str(cache),
                             "dev_fraction": 0.2, "test_fraction": 0.2}, "italian")
    assert sum(len(corpus.cuts(s)) for s in corpus.splits) == 6
    fetched = cache / "debian" / "asterisk-it"
    assert (fetched / ".complete").is_file()
    shutil.rmtree(debs)  # a rerun downloads nothing
    debs.mkdir()
    assert fetch_packages(["asterisk-core-sounds-it-wav"], fetched) == fetched


def test_bad_trees_and_fetches_fail_in_one_line(shared_clips, tmp_path, monkeypatch):
    tree = asterisk_tree(tmp_path / "pkg", shared_clips)
    no_text = tmp_path / "no_text"
    shutil.copytree(tree / "usr/share/asterisk", no_text / "usr/share/asterisk")
    _fake_apt(tmp_path / "bin", tmp_path / "nodebs")
    cache = tmp_path / "cache"
    cases = [
        (data_config("asterisk", no_text, cache), "it", MissingInput,
         "no transcripts core-sounds-it.txt.gz"),
        (data_config("asterisk", tree, cache), "czech", UserError,
         "data=asterisk has no czech (it has en, es, fr, it, ru)"),
        (data_config("fillets", tree, cache), "nl", MissingInput, "no Fish Fillets data"),
        (data_config("asterisk", tmp_path / "nowhere", cache), "it", MissingInput,
         "data.path not found"),
    ]
    for cfg, lang, exc, needle in cases:
        with pytest.raises(exc) as e:
            prepare_corpus(cfg, lang)
        assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    if shutil.which("dpkg-deb") is None:  # the fetch stops at the missing tool first
        pytest.skip("needs dpkg-deb for the failed-download case")
    with pytest.raises(UserError, match=r"apt-get download asterisk-core-sounds-ru-wav failed "
                                        r"\(E: Unable to locate package .*\): on a Debian"):
        prepare_corpus({"name": "asterisk", "cache_dir": str(cache)}, "ru")
    assert not (cache / "debian" / "asterisk-ru").exists()  # nothing half-fetched kept
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"needs apt-get and dpkg-deb, not found here: on a "
                                        r"Debian or Ubuntu machine run `apt-get download "
                                        r"fillets-ng-data-nl fillets-ng-data`"):
        prepare_corpus({"name": "fillets", "cache_dir": str(cache)}, "nl")
