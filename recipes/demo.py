"""``python recipes/demo.py key=value ...`` runs :mod:`asrtl.recipes.demo`
(``asrtl demo ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("demo")
