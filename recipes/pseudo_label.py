"""``python recipes/pseudo_label.py key=value ...`` runs :mod:`asrtl.recipes.pseudo_label`
(``asrtl pseudo_label ...`` is the same command; the module's docstring says what it does)."""

from asrtl.recipes import run

if __name__ == "__main__":
    run("pseudo_label")
