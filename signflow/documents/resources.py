"""The templates and the 2019 example that ship inside the package.

Found with ``importlib.resources``, so that an installed wheel finds them as well as a
checkout. signflow is installed as plain files (never zipped), so each is a real folder
that docxtpl, LibreOffice and ``shutil`` can read.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EXAMPLE_NAME = "cum-thi-dua-so-2-2019"


def _folder(*parts: str) -> Path:
    found = resources.files("signflow.documents").joinpath(*parts)
    if not isinstance(found, Path) or not found.is_dir():  # a zipped install: not supported
        raise FileNotFoundError(f"signflow's shipped files are missing: {found}")
    return found


def shipped_templates_dir() -> Path:
    """The Word templates shipped with signflow (one .docx per kind of document)."""
    return _folder("templates")


def example_dir() -> Path:
    """The founding case: the 2019 roster and content of Cụm Thi đua số 2."""
    return _folder("examples", EXAMPLE_NAME)


def skeleton_dir() -> Path:
    """The skeleton of a year's roster and content (``*.toml.in``, the year written
    ``@NAM@``), from which ``signflow init --year`` makes a workspace."""
    return _folder("examples", "khung-nam")
