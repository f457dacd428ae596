"""signflow works installed from its wheel, not only from the checkout.

The wheel is built from this checkout and installed into a fresh virtual environment. The
machine has no network at test time, so the wheel's dependencies are not downloaded: the
fresh environment sees the project's own .venv site-packages through a path file, *after*
its own site-packages (so ``signflow`` itself comes from the wheel; checked). Whether the
wheel declares those dependencies is checked separately, against every third-party module
signflow's code imports.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

# modules signflow imports -> the distribution (as named in pyproject.toml) providing them
DISTRIBUTIONS = {
    "click": "click", "docx": "python-docx", "docxtpl": "docxtpl", "jinja2": "jinja2",
    "lxml": "lxml", "polib": "polib", "tomlkit": "tomlkit", "filelock": "filelock",
    "cryptography": "cryptography", "asn1crypto": "asn1crypto", "pyhanko": "pyhanko",
    "pyhanko_certvalidator": "pyhanko-certvalidator", "pypdfium2": "pypdfium2",
    "fontTools": "fonttools", "PIL": "pillow", "aiohttp": "aiohttp", "pkcs11": "pyhanko",
    "certomancer": "certomancer", "werkzeug": "werkzeug", "yaml": "pyyaml",
    "starlette": "starlette", "uvicorn": "uvicorn",
    "sqlalchemy": "sqlalchemy", "alembic": "alembic", "argon2": "argon2-cffi",
    "openpyxl": "openpyxl",
}
DEMO_ONLY = {"certomancer", "werkzeug", "pyyaml"}
AGENT_ONLY = {"starlette", "uvicorn"}
PORTAL_ONLY = {"sqlalchemy", "alembic", "argon2-cffi"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    import shutil

    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools writes build/ and *.egg-info into the source tree
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "out", "build", "*.egg-info", "__pycache__", "artefacts",
        ".pytest_cache", ".ruff_cache", ".mypy_cache"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                           "--no-build-isolation", "-q", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"building the wheel failed: {done.stderr[-2000:]}"
    wheels = list(out.glob("signflow-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (pip, no index, no dependencies)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    purelib = Path(subprocess.run(
        [str(env_dir / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, from the project's venv, after the fresh venv's own packages
    (purelib / "zz-signflow-test-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([str(env_dir / "bin" / "pip"), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"installing the wheel failed: {done.stderr[-2000:]}"
    return env_dir


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SIGNFLOW_LANG"] = "vi"
    return env


def test_wheel_holds_templates_example_and_catalogue_and_declares_its_dependencies(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [line.split(":", 1)[1].strip() for line in
                    z.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    for kind in ("giao-uoc-thi-dua", "ke-hoach-phat-dong", "dang-ky-thi-dua", "giao-uoc-noi-bo"):
        assert f"signflow/documents/templates/{kind}.docx" in names, f"{kind}.docx not shipped"
    for name in ("roster.toml", "data.toml"):
        assert f"signflow/documents/examples/cum-thi-dua-so-2-2019/{name}" in names, name
    assert "signflow/locale/vi/LC_MESSAGES/signflow.po" in names
    assert "signflow/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "tools/"))]

    def declared(requirement: str) -> tuple[str, bool]:
        name = requirement.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        return name.strip().lower(), "extra ==" in requirement and '"demo"' in requirement

    base = {declared(r)[0] for r in requires if "extra ==" not in r}  # no extra at all
    demo = {n for n, extra in map(declared, requires) if extra}
    agent = {r.split(";")[0].split("<")[0].split(">")[0].strip().lower() for r in requires
             if "extra ==" in r and '"agent"' in r}
    portal = {r.split(";")[0].split("<")[0].split(">")[0].split("[")[0].strip().lower()
              for r in requires if "extra ==" in r and '"portal"' in r}
    imported = set()
    for path in (ROOT / "signflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "signflow"}
    unknown = third_party - set(DISTRIBUTIONS)
    assert not unknown, f"signflow imports {unknown}: add them to pyproject.toml and here"
    for module in sorted(third_party):
        dist = DISTRIBUTIONS[module]
        where = demo if dist in DEMO_ONLY else agent if dist in AGENT_ONLY else \
            portal if dist in PORTAL_ONLY else base
        assert dist in where, f"{module} is imported but {dist} is not declared " + (
            "in the [demo] extra" if dist in DEMO_ONLY else
            "in the [agent] extra" if dist in AGENT_ONLY else
            "in the [portal] extra" if dist in PORTAL_ONLY else "as a dependency")
    assert (AGENT_ONLY | {"psycopg"}) <= portal, "the portal needs Starlette, uvicorn, psycopg"
    assert not (DEMO_ONLY & base), "the demo's packages must stay out of the base install"
    assert not (AGENT_ONLY & base), "the agent's packages must stay out of the base install"
    for name in ("base.html", "home.html", "document.html", "sign.html", "result.html"):
        assert f"signflow/agent/templates/{name}" in names, f"{name} not shipped"
    assert "signflow/agent/static/agent.css" in names and \
        "signflow/agent/static/agent.js" in names
    assert not (PORTAL_ONLY & base), "the portal's packages must stay out of the base install"
    for name in ("templates/base.html", "templates/queue.html", "templates/round.html",
                 "static/portal.css", "migrations/env.py",
                 "migrations/versions/0001_initial.py"):
        assert f"signflow/portal/{name}" in names, f"portal/{name} not shipped"


def test_installed_wheel_runs_init_demo_and_verify_like_the_checkout(venv, tmp_path):
    bin_dir = venv / "bin"
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import signflow; print(signflow.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=_clean_env(),
                           check=True).stdout.strip()
    assert where.startswith(str(venv)), f"signflow was imported from {where}, not the wheel"

    init = subprocess.run([str(bin_dir / "signflow"), "init", "ws"], capture_output=True,
                          text=True, cwd=tmp_path, env=_clean_env(), timeout=120)
    assert init.returncode == 0, init.stderr
    for name in ("signflow.toml", "roster.toml", "data.toml", "templates/giao-uoc-thi-dua.docx"):
        assert (tmp_path / "ws" / name).is_file(), f"init did not write {name}"

    demo = subprocess.run([str(bin_dir / "signflow"), "demo", "--out", "demo"],
                          capture_output=True, text=True, cwd=tmp_path, env=_clean_env(),
                          timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    pdfs = sorted(str(p) for p in (tmp_path / "demo").rglob("*.pdf")
                  if "giao-uoc-thi-dua" in p.name)
    assert pdfs, "the demo wrote no agreement"
    pki = tmp_path / "demo" / "pki"
    args = ["verify", *pdfs, "--trust", str(pki / "trust" / "root.pem"), "--roster",
            str(pki / "roster.toml"), "--json", "--at", "2030-01-01T00:00:00+07:00"]
    installed = subprocess.run([str(bin_dir / "signflow"), *args], capture_output=True,
                               text=True, cwd=tmp_path, env=_clean_env(), timeout=300)
    checkout = subprocess.run([str(ROOT / ".venv" / "bin" / "signflow"), *args],
                              capture_output=True, text=True, cwd=ROOT, env=_clean_env(),
                              timeout=300)
    assert installed.returncode == checkout.returncode == 0, (installed.stderr,
                                                                checkout.stderr)
    assert json.loads(installed.stdout) == json.loads(checkout.stdout), \
        "the installed wheel and the checkout disagree on the same files"


def test_demo_without_the_demo_extra_says_what_to_install(cli, tmp_path, monkeypatch):
    """certomancer cannot be uninstalled for one test: a None entry in sys.modules makes
    `import certomancer` fail exactly as for a package that is not installed."""
    monkeypatch.setitem(sys.modules, "certomancer", None)
    result = cli("demo", "--out", tmp_path / "demo")
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "pip install 'signflow[demo]'" in lines[0] and "certomancer" in lines[0], lines[0]
    assert not (tmp_path / "demo").exists(), "nothing is written before the check"


def test_init_on_a_full_disk_leaves_nothing_behind(cli, tmp_path):
    """A real small tmpfs, filled up to 60 KB: the settings, roster and data fit, the
    second template (38 KB each) does not."""
    from .test_disk import _fill, _one_line, small_disk

    with small_disk(tmp_path / "disk") as disk:
        _fill(disk, leave=60_000)
        result = cli("init", disk / "ws")
        assert result.code == 2, result
        line = _one_line(result)
        assert "ws" in line, f"the message does not name the place: {line}"
        leftovers = sorted(p.name for p in disk.iterdir() if p.name != "filler")
        assert not leftovers, f"a failed init left {leftovers}"
        (disk / "filler").unlink()
        retry = cli("init", disk / "ws")
        assert retry.code == 0, retry.err
