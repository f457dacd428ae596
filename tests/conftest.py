"""Shared fixtures: the shipped 2019 example, and a helper to run the CLI in-process."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "templates" / "examples" / "cum-thi-dua-so-2-2019"
ROSTER = EXAMPLE / "roster.toml"
DATA = EXAMPLE / "data.toml"
TEMPLATES = ROOT / "templates"
ARTEFACTS = ROOT / "tests" / "artefacts"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `signflow ...` in-process; messages in Vietnamese unless --lang says otherwise."""
    from signflow import i18n
    from signflow.cli import main

    monkeypatch.setenv("SIGNFLOW_LANG", "vi")

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()
        i18n._language = None
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Files kept after the run for a human to look at (rendered pages, reports)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


def require_tool(name: str) -> str:
    """The path of an external program the test needs; fail (not skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it")
    return path


@pytest.fixture(scope="session")
def pdf_pack(tmp_path_factory) -> Path:
    """The 2019 pack generated and converted to PDF/A-2b by the real LibreOffice, once."""
    require_tool("soffice")
    from signflow.data import load_data
    from signflow.generate import generate_pack
    from signflow.roster import load_roster

    out = tmp_path_factory.mktemp("pdfpack")
    generate_pack(load_roster(ROSTER), load_data([DATA]), out, pdf=True)
    return out / "2019"
