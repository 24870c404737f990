"""Scan eSpeak NG voices x CLDR locales: which languages the embedded corpus can cover.

    python tools/scan_languages.py > /tmp/scan.json

For every eSpeak NG voice whose language has a CLDR locale in babel, counts the distinct
words in the locale's main script and those eSpeak reads natively (not spelled out letter by
letter). ``asrtl/data/languages.py`` lists those with at least 1,000 usable words.
"""

from __future__ import annotations

import collections
import ctypes
import json
import unicodedata

from babel import localedata

from asrtl.data.espeak import Espeak, spells_out
from asrtl.data.text import char_script, cldr_strings, split_words


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


def espeak_voices(engine: Espeak) -> list[tuple[str, str]]:
    """``[(name, language code)]`` of every eSpeak NG voice (MBROLA voices excluded)."""
    lib = engine._lib
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    voices, table, i = [], lib.espeak_ListVoices(None), 0
    while table[i]:
        v = table[i].contents
        if not v.identifier.decode().startswith("mb/"):
            voices.append((v.name.decode(), v.languages[1:].decode()))
        i += 1
    return voices


def main() -> None:
    engine = Espeak.get()
    rows = []
    for name, code in espeak_voices(engine):
        base = code.replace("-", "_")
        locale = next((c for c in (base, base.split("_")[0]) if localedata.exists(c)), None)
        if locale is None:
            continue
        strings = cldr_strings(locale)
        scripts = collections.Counter(char_script(c) for s in strings for c in s
                                      if unicodedata.category(c)[0] == "L")
        script = scripts.most_common(1)[0][0]
        turkic = locale.split("_")[0] in ("tr", "az")
        words = {w for s in strings for w in split_words(s, script, turkic)}
        try:
            usable = [w for w in words if not spells_out(engine.phonemes(w, code))]
        except ValueError:
            continue
        rows.append({"voice": code, "name": name, "locale": locale, "script": script,
                     "words": len(words), "usable": len(usable)})
    print(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
