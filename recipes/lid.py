"""``python recipes/lid.py key=value ...`` runs :mod:`asrtl.recipes.lid`
(``asrtl lid ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("lid")
