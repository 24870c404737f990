"""Dependencies point one way: every ``asrtl`` import, top level or inside a function, goes
to a layer before the importing module's own (docs/architecture.md), and no
recipe imports another."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# docs/architecture.md's order; one layer may hold several packages, which do not import each other
LAYERS = [("errors", "conf"), ("settings", "io", "layout"), ("records",), ("data",), ("models",),
          ("eval",),
          ("train",),
          ("lid", "adapt", "multilingual"), ("transfer",), ("rank",),
          ("study", "api", "jobs", "cli"), ("export",), ("recipes",)]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_every_package_module_imports_only_earlier_layers():
    wrong = []
    for path in sorted((REPO / "asrtl").rglob("*.py")):
        parts = path.relative_to(REPO / "asrtl").with_suffix("").parts
        if parts == ("__init__",):
            continue
        me = parts[0]
        assert me in LAYER, (f"asrtl/{me} belongs to no layer: add it to LAYERS and "
                             f"docs/architecture.md")
        for module in _imports(path):
            names = module.split(".")
            if names[0] != "asrtl" or len(names) < 2 or names[1] == me:
                continue
            if LAYER.get(names[1], len(LAYERS)) >= LAYER[me]:
                wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert not wrong, wrong


def test_recipes_do_not_import_each_other():
    """A recipe (``asrtl/recipes/<name>.py``) imports no other recipe; the checkout's
    ``recipes/<name>.py`` only runs its own, through :func:`asrtl.recipes.run`."""
    names = {p.stem for p in (REPO / "asrtl" / "recipes").glob("*.py")} - {"__init__",
                                                                            "__main__"}
    wrong = [f"{p.name} imports {m}" for p in sorted((REPO / "asrtl" / "recipes").glob("*.py"))
             if p.stem in names for m in _imports(p) if m.startswith("asrtl.recipes")
             or m.split(".")[0] in names]
    shims = sorted((REPO / "recipes").glob("*.py"))
    assert {p.stem for p in shims} == names
    wrong += [f"recipes/{p.name} imports {m}" for p in shims for m in _imports(p)
              if m != "asrtl.recipes"]
    wrong += [f"recipes/{p.name} does not run its own recipe" for p in shims
              if f'run("{p.stem}")' not in p.read_text()]
    assert not wrong, wrong
