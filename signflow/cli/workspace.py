"""`signflow init DIR`: a workspace for real use, with copies to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

from signflow.cli.config import CONFIG_NAME
from signflow.documents.context import KINDS
from signflow.documents.resources import example_dir, shipped_templates_dir
from signflow.errors import InputError
from signflow.i18n import _

_CONFIG = """\
# signflow workspace: every signflow command run in this folder (or below it) uses these
# settings; options on the command line override them. Paths are relative to this file.

[workspace]
roster = "roster.toml"          # who belongs to the cluster this year
data = ["data.toml"]            # the year's content (later files override earlier keys)
templates = "templates"         # the Word templates (edit them in Word or LibreOffice)
out = "out"                     # generated documents: out/<year>/...
ledger = "out/signflow-ledger.sqlite"
level = "B-B"                   # PAdES level: B-B, B-T, B-LT or B-LTA (B-T and up need tsa)
# trust = ["trust/root-ca.pem"] # trust roots (PEM): the CA that issued the signers' certificates
# tsa = "http://tsa.example.vn" # timestamp authority (RFC 3161)
"""


def init_workspace(folder: Path) -> list[Path]:
    """Create the workspace; refuse a folder that already has files in it."""
    if folder.exists() and any(folder.iterdir()):
        raise InputError(_("{path} is not empty: choose a new folder for the workspace").format(
            path=folder))
    example = example_dir()
    templates = folder / "templates"
    templates.mkdir(parents=True)
    (folder / "out").mkdir()
    (folder / "trust").mkdir()
    written = []
    for name in ("roster.toml", "data.toml"):
        shutil.copyfile(example / name, folder / name)
        written.append(folder / name)
    for kind in KINDS:
        shutil.copyfile(shipped_templates_dir() / f"{kind}.docx", templates / f"{kind}.docx")
        written.append(templates / f"{kind}.docx")
    (folder / CONFIG_NAME).write_text(_CONFIG, encoding="utf-8")
    written.insert(0, folder / CONFIG_NAME)
    return written
