"""`signflow init DIR`: a workspace for real use, with copies to edit."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from signflow.cli.config import CONFIG_NAME
from signflow.documents.context import KINDS
from signflow.documents.resources import example_dir, shipped_templates_dir
from signflow.errors import InputError, os_error_message
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
    """Create the workspace; refuse a folder that already has files in it.

    Everything is written into a hidden folder beside the target and moved into place at
    the end: an interrupted or failed ``init`` leaves nothing half-made (a retry is never
    refused because of a previous attempt)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(_("{path} is not empty: choose a new folder for the workspace").format(
            path=folder))
    example = example_dir()
    parent = folder.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.init-", dir=parent))
    try:
        templates = stage / "templates"
        templates.mkdir()
        (stage / "out").mkdir()
        (stage / "trust").mkdir()
        names = [CONFIG_NAME, "roster.toml", "data.toml"]
        (stage / CONFIG_NAME).write_text(_CONFIG, encoding="utf-8")
        for name in ("roster.toml", "data.toml"):
            shutil.copyfile(example / name, stage / name)
        for kind in KINDS:
            shutil.copyfile(shipped_templates_dir() / f"{kind}.docx",
                            templates / f"{kind}.docx")
            names.append(f"templates/{kind}.docx")
        stage.chmod(0o755)  # mkdtemp makes it private; a workspace is an ordinary folder
        if folder.exists():
            folder.rmdir()  # empty, checked above; a file appearing meanwhile makes this fail
        os.rename(stage, folder)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        # the copy's error names the source file; what failed is writing the workspace
        raise InputError(_("{path}: cannot create the workspace: {cause}").format(
            path=folder, cause=os_error_message(exc, with_path=False))) from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return [folder / name for name in names]
