"""``python recipes/speaker_adapt.py key=value ...`` runs :mod:`asrtl.recipes.speaker_adapt`
(``asrtl speaker_adapt ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("speaker_adapt")
