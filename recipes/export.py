"""``python recipes/export.py key=value ...`` runs :mod:`asrtl.recipes.export`
(``asrtl export ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("export")
