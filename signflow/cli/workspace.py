"""`signflow init DIR`: a workspace for real use, with copies to edit.

The workspace gets the settings (signflow.toml), a roster and the year's content for the
year asked (a skeleton of the cluster after the 2025 mergers, dated in that year, with the
current legal bases and comments in Vietnamese), or the roster given, and the templates.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from signflow.cli.config import CONFIG_NAME
from signflow.documents.context import KINDS
from signflow.documents.resources import shipped_templates_dir, skeleton_dir
from signflow.errors import InputError, os_error_message
from signflow.i18n import _
from signflow.vn import VN_TZ

if TYPE_CHECKING:
    from signflow.roster import Roster

YEAR_PLACEHOLDER = "@NAM@"
FIRST_YEAR, LAST_YEAR = 2000, 2100

_CONFIG = """\
# Thiết lập của thư mục làm việc signflow: mọi lệnh signflow chạy trong thư mục này (hoặc thư
# mục con) dùng các thiết lập dưới đây; tùy chọn trên dòng lệnh được ưu tiên hơn. Đường dẫn
# tương đối được tính từ thư mục chứa tệp này.

[workspace]
roster = "roster.toml"          # danh sách thành viên Cụm trong năm
data = ["data.toml"]            # nội dung văn bản của năm (tệp sau ghi đè khóa của tệp trước)
templates = "templates"         # mẫu văn bản Word (sửa bằng Word hoặc LibreOffice)
out = "out"                     # văn bản được tạo: out/<năm>/...
ledger = "out/signflow-ledger.sqlite"   # sổ ghi ký số: một sổ cho cả thư mục làm việc
# trust = ["trust/root-ca.pem"] # chứng thư gốc tin cậy (PEM) của tổ chức cung cấp chứng thư số
# tsa = "http://tsa.example.vn" # dịch vụ cấp dấu thời gian (RFC 3161); khi có, ký mức B-T
# level = "B-T"                 # mức chữ ký PAdES: B-B, B-T, B-LT hoặc B-LTA (từ B-T cần tsa)
"""


def init_workspace(folder: Path, year: int | None = None,
                   roster: Path | None = None) -> list[Path]:
    """Create the workspace; refuse a folder that already has files in it.

    ``year``: the year of the skeleton (default: the roster's year, else this year).
    ``roster``: the cluster's own roster, copied instead of the skeleton's.

    Everything is written into a hidden folder beside the target and moved into place at
    the end: an interrupted or failed ``init`` leaves nothing half-made (a retry is never
    refused because of a previous attempt)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(_("{path} is not empty: choose a new folder for the workspace").format(
            path=folder))
    roster_text = None
    if roster is not None:
        from signflow.roster import load_roster

        loaded = load_roster(roster)  # every problem said before anything is written
        if year is not None and year != loaded.cluster.year:
            raise InputError(_("--year {year} but the roster {path} is for {roster_year}: "
                               "give the roster of {year}, or leave --year out").format(
                year=year, path=roster, roster_year=loaded.cluster.year))
        year = loaded.cluster.year
        roster_text = Path(roster).read_text(encoding="utf-8")
        images = _roster_images(loaded)
    else:
        images = {}
    if year is None:
        year = dt.datetime.now(VN_TZ).year
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(_("--year must be a year from {first} to {last}").format(
            first=FIRST_YEAR, last=LAST_YEAR))
    skeleton = skeleton_dir()
    texts = {
        "roster.toml": roster_text if roster_text is not None else _for_year(
            skeleton / "roster.toml.in", year),
        "data.toml": _for_year(skeleton / "data.toml.in", year),
    }
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
        for name, text in texts.items():
            (stage / name).write_text(text, encoding="utf-8")
        for relative, source in images.items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, stage / relative)
            names.append(relative)
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


def _for_year(path: Path, year: int) -> str:
    return path.read_text(encoding="utf-8").replace(YEAR_PLACEHOLDER, str(year))


def _roster_images(roster: Roster) -> dict[str, Path]:
    """The signature and seal images a roster names, by their path relative to it: they
    are copied along, so that the workspace's roster finds them where it says."""
    base = roster.path.parent.resolve()
    found: dict[str, Path] = {}
    for member in roster.members:
        for image in (member.signature_image, member.seal_image):
            if image is None:
                continue
            try:
                relative = Path(image).resolve().relative_to(base)
            except ValueError:
                raise InputError(_("{path} is outside the roster's folder: copy it next to "
                                   "the roster and name it by a relative path").format(
                    path=image)) from None
            found[relative.as_posix()] = Path(image)
    return found
