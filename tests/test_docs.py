"""The docs: README.md is a front door of at most 200 lines, docs/ is a site that
`mkdocs build --strict` builds, every relative link points to a file, and the code map in
docs/architecture.md names every module of the tree and nothing that is not in it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
# a path into the repository, as the docs write it: `asrtl/data/audio.py`, `recipes/`
REPO_PATH = re.compile(r"(?<![\w/.~-])((?:asrtl|recipes|bench|tools|tests|conf|docs)/[\w./+-]*)")
CHECKED_ROOTS = ("asrtl/", "recipes/", "bench/", "tools/", "tests/")  # in every page
DOTTED = re.compile(r"(?<![\w./-])asrtl(?:\.\w+)+")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks: links in code are examples, not links."""
    return FENCE.sub("", text)


def broken_links(md: Path, docs_dir: Path = DOCS) -> list[str]:
    """Relative links (and images) of ``md`` whose target file does not exist, and, for a
    page of the site, links that leave ``docs_dir`` (MkDocs cannot follow them)."""
    text = INLINE_CODE.sub("", prose(md.read_text(encoding="utf-8")))
    bad = []
    for target in [*LINK.findall(text), *REF_LINK.findall(text)]:
        if SCHEME.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (md.parent / path).resolve()
        if not resolved.exists():
            bad.append(f"{md.name}: {target} (no such file)")
        elif md.resolve().is_relative_to(docs_dir.resolve()) and \
                not resolved.is_relative_to(docs_dir.resolve()):
            bad.append(f"{md.name}: {target} (outside docs/: MkDocs cannot link to it)")
    return bad


def named_paths(text: str) -> set[str]:
    """Every repository path a page names, trailing punctuation stripped."""
    return {m.rstrip(".,;:") for m in REPO_PATH.findall(text)}


def code_map_gaps(root: Path, text: str) -> list[str]:
    """What the tree holds that the code map does not name: each package of ``asrtl/``
    (``asrtl/<pkg>/``), each module (``asrtl/<pkg>/<mod>.py``, ``asrtl/<mod>.py``) and each
    recipe, bench script and tool."""
    named = named_paths(text)
    expected = []
    for path in sorted((root / "asrtl").rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts:
            continue
        if path.name == "__init__.py":
            if rel.parent.name != "asrtl":
                expected.append(f"{rel.parent.as_posix()}/")
            continue
        expected.append(rel.as_posix())
    for folder in ("recipes", "bench", "tools"):
        expected += [p.relative_to(root).as_posix() for p in sorted((root / folder).glob("*.py"))]
    return [name for name in expected if name not in named]


def missing_paths(root: Path, text: str, roots: tuple[str, ...]) -> list[str]:
    """Paths under ``roots`` that a page names and the tree does not hold."""
    return sorted(p for p in named_paths(text)
                  if p.startswith(roots) and not (root / p.rstrip("/")).exists())


def _top_level_names(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name):
                        names[t.id] = node
                        if t.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                            names.update({e.value: node for e in node.value.elts
                                          if isinstance(e, ast.Constant)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    return names


def unresolved_dotted(root: Path, name: str) -> str | None:
    """Why ``asrtl.a.b.C`` names nothing in the tree (a module, then a top-level name of it,
    then a name in that class's body), or None when it resolves."""
    parts = name.split(".")
    here = root / parts[0]
    i = 1
    while i < len(parts) and (here / parts[i] / "__init__.py").is_file():
        here, i = here / parts[i], i + 1
    if i < len(parts) and (here / f"{parts[i]}.py").is_file():
        module, i = here / f"{parts[i]}.py", i + 1
    else:
        module = here / "__init__.py"
    scope = _top_level_names(ast.parse(module.read_text(encoding="utf-8")))
    for part in parts[i:]:
        node = scope.get(part)
        if node is None:
            return f"{name}: {module.relative_to(root)} defines no {part}"
        if not isinstance(node, ast.ClassDef):
            return None  # an attribute of a function or a value: not followed further
        scope = _top_level_names(ast.Module(body=node.body, type_ignores=[]))
    return None


def doc_layers(text: str) -> list[set[str]]:
    """The numbered list under "## Layers": each item's module names (the code spans before
    its first ':' or '(')."""
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    layers = []
    for item in re.findall(r"^\d+\.\s+(.*)$", section, re.M):
        head = re.split(r"[:(]", item, maxsplit=1)[0]
        layers.append(set(re.findall(r"`(\w+)`", head)))
    return layers


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the rest to docs/"
    first_screen = "\n".join(lines[:60])
    assert "make demo" in first_screen, "the first screen of README.md must show `make demo`"
    assert re.search(r"\bsource\b", first_screen), \
        "the first screen of README.md must answer 'which source for my language?'"


def test_every_relative_link_points_to_a_file():
    bad = [b for md in markdown_files() for b in broken_links(md)]
    assert not bad, bad


def test_every_page_is_in_the_nav_and_readme_links_every_page():
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert [p for p in pages if p not in config] == [], "pages missing from mkdocs.yml's nav"
    top = [p for p in pages if "/" not in p]
    assert [p for p in top if f"(docs/{p})" not in readme] == [], \
        "pages README.md does not link"


def test_code_map_names_every_module_of_the_tree():
    gaps = code_map_gaps(REPO, ARCHITECTURE.read_text(encoding="utf-8"))
    assert not gaps, f"docs/architecture.md does not name {gaps}: add a line for each"


def test_code_map_names_nothing_outside_the_tree():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = missing_paths(REPO, text, (*CHECKED_ROOTS, "conf/", "docs/"))
    assert not missing, f"docs/architecture.md names paths the tree lacks: {missing}"


def test_every_page_names_only_paths_and_names_that_exist():
    bad = []
    for md in markdown_files():
        text = md.read_text(encoding="utf-8")
        bad += [f"{md.name}: {p}" for p in missing_paths(REPO, text, CHECKED_ROOTS)]
        bad += [f"{md.name}: {why}" for name in sorted(set(DOTTED.findall(text)))
                if (why := unresolved_dotted(REPO, name))]
    assert not bad, bad


def test_layers_on_the_page_are_the_layers_tests_check():
    source = (REPO / "tests" / "test_layers.py").read_text(encoding="utf-8")
    assigned = [n for n in ast.parse(source).body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "LAYERS" for t in n.targets)]
    assert assigned, "tests/test_layers.py no longer assigns LAYERS"
    checked = [set(group) for group in ast.literal_eval(assigned[0].value)]
    documented = doc_layers(ARCHITECTURE.read_text(encoding="utf-8"))
    assert documented == checked, (documented, checked)
    tree = {p.stem for p in (REPO / "asrtl").glob("*.py") if p.stem != "__init__"} | \
        {p.parent.name for p in (REPO / "asrtl").glob("*/__init__.py")}
    assert set().union(*documented) == tree


def test_the_checks_catch_what_they_guard(tmp_path):
    (tmp_path / "asrtl" / "data").mkdir(parents=True)
    for name in ("__init__.py", "api.py", "data/__init__.py", "data/audio.py", "data/new.py"):
        (tmp_path / "asrtl" / name).write_text("def load_audio():\n    pass\n")
    for folder in ("recipes", "bench", "tools"):
        (tmp_path / folder).mkdir()
    (tmp_path / "recipes" / "demo.py").write_text("")
    page = "`asrtl/api.py`, `asrtl/data/`, `asrtl/data/audio.py`, `asrtl/data/gone.py`"
    assert code_map_gaps(tmp_path, page) == ["asrtl/data/new.py", "recipes/demo.py"]
    assert missing_paths(tmp_path, page, CHECKED_ROOTS) == ["asrtl/data/gone.py"]
    assert unresolved_dotted(tmp_path, "asrtl.data.audio.load_audio") is None
    assert unresolved_dotted(tmp_path, "asrtl.data.audio.save_audio")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("[b](b.md#x) [c](c.md) [up](../README.md) `[d](d.md)`\n"
                               "```\n[e](e.md)\n```\n[web](https://example.org)\n")
    (docs / "b.md").write_text("")
    (tmp_path / "README.md").write_text("")
    assert broken_links(docs / "a.md", docs) == [
        "a.md: c.md (no such file)",
        "a.md: ../README.md (outside docs/: MkDocs cannot link to it)"]


def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()
