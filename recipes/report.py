"""``python recipes/report.py key=value ...`` runs :mod:`asrtl.recipes.report`
(``asrtl report ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("report")
