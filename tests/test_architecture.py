"""The package's shape: layers that follow the data's path, imports only downhill, no
cycles, a public API, and commands that import only what they need.

docs/architecture.md describes the layers; this test keeps the description true.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import signflow

from .conftest import ROOT

PACKAGE = ROOT / "signflow"

# lowest first; a module may import its own layer and the layers below, never above
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("signflow.errors", "signflow.i18n", "signflow.vn", "signflow._internal")),
    ("model", ("signflow.identity", "signflow.roster")),
    ("pdf", ("signflow.pdf",)),
    ("records", ("signflow.validation", "signflow.ledger", "signflow.ledger_audit")),
    ("stages", ("signflow.documents", "signflow.signing")),
    ("output", ("signflow.output",)),
    ("workflows", ("signflow.ceremony",)),  # several stages in one sitting
    ("demo", ("signflow.demo",)),  # the [demo] extra: the whole flow with a demo PKI
    ("interfaces", ("signflow.cli", "signflow.agent", "signflow.portal", "signflow.__main__")),
]
# units of the same layer that must stay apart (neither imports the other)
APART = [("signflow.documents", "signflow.signing"), ("signflow.validation", "signflow.ledger")]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str | None:
    """The layer unit a module belongs to (a subpackage or a top-level module)."""
    for _layer, units in LAYERS:
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return unit
    return None


def _layer_index(unit: str) -> int:
    return next(i for i, (_n, units) in enumerate(LAYERS) if unit in units)


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    """signflow modules imported anywhere in the file (functions included), except under
    ``if TYPE_CHECKING:``, which only type checkers read."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                skip.add(id(inner))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "signflow":
                found += [(node.lineno, f"signflow.{a.name}") for a in node.names]
            elif node.module.startswith("signflow."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: relative import; use signflow.…")
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("signflow.")]
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where (file:line)."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module == "signflow":  # the public facade loads from every layer, lazily
            continue
        source = _unit(module)
        assert source is not None, f"{module} belongs to no layer: add it to LAYERS"
        for line, imported in _runtime_imports(path):
            if imported == "signflow.__version__":
                continue
            target = _unit(imported)
            assert target is not None, f"{path}:{line}: {imported} belongs to no layer"
            if target != source:
                edges[source][target].append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def test_imports_run_downhill_only():
    uphill = []
    for source, targets in _graph().items():
        for target, where in targets.items():
            if _layer_index(target) > _layer_index(source):
                uphill.append(f"{source} -> {target} ({', '.join(where)})")
    assert not uphill, "imports from a lower layer up to a higher one:\n" + "\n".join(uphill)


def test_units_of_one_layer_stay_apart_and_nothing_is_circular():
    graph = _graph()
    for a, b in APART:
        for x, y in ((a, b), (b, a)):
            assert y not in graph.get(x, {}), f"{x} imports {y}: {graph[x][y]}"
    # no cycle between units (a depth-first search over the unit graph)
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for nxt in graph.get(unit, {}):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, unit, nxt])
            if nxt not in state:
                visit(nxt, [*trail, unit])
        state[unit] = 2

    for unit in list(graph):
        if unit not in state:
            visit(unit, [])


def test_public_api_lists_and_loads_every_name():
    exported = set(signflow._EXPORTS)
    assert set(signflow.__all__) == exported | {"__version__"}, \
        "__all__ and the lazy export table disagree"
    for name in sorted(exported):
        value = getattr(signflow, name)
        assert value is not None, name
        home = signflow._EXPORTS[name]
        assert getattr(sys.modules[home], name) is value, f"{name} is not {home}.{name}"


def _modules_loaded_by(args: list[str]) -> dict[str, object]:
    """Run ``signflow ARGS`` in a fresh interpreter; which third-party and signflow modules
    it loaded, and its exit code."""
    probe = (
        "import sys, json\n"
        "from signflow.cli import main\n"
        f"code = main({args!r})\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={"SIGNFLOW_LANG": "vi", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


HEAVY_FOR_VERIFY = ("docx", "docxtpl", "certomancer", "werkzeug", "yaml", "fontTools",
                    "signflow.documents.render", "signflow.documents.convert",
                    "signflow.documents.generate", "signflow.demo", "signflow.signing.signer")


def test_help_imports_no_pdf_word_or_demo_code():
    loaded = _modules_loaded_by(["--help"])
    assert loaded["code"] == 0
    heavy = [m for m in loaded["modules"]  # type: ignore[union-attr]
             if m.split(".")[0] in ("pyhanko", "asn1crypto", "cryptography", "pypdfium2",
                                    "PIL", "lxml", "jinja2", *HEAVY_FOR_VERIFY)
             or m.startswith(HEAVY_FOR_VERIFY)]
    assert not heavy, f"`signflow --help` loads {heavy}"


def test_verify_imports_no_word_libreoffice_or_demo_code(pdf_pack):
    pdf = pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    loaded = _modules_loaded_by(["verify", str(pdf), "--json"])
    assert loaded["code"] in (0, 1), loaded["code"]  # unsigned: "no signature" is a problem
    heavy = [m for m in loaded["modules"]  # type: ignore[union-attr]
             if m.split(".")[0] in HEAVY_FOR_VERIFY or m.startswith(HEAVY_FOR_VERIFY)]
    assert not heavy, f"`signflow verify` loads {heavy}"
