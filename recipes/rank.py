"""``python recipes/rank.py key=value ...`` runs :mod:`asrtl.recipes.rank`
(``asrtl rank ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("rank")
