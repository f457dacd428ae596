"""A real cluster after the 2025 mergers, as a new secretariat would run it: six members
(Hải Phòng a city), `signflow init --year 2026`, the demo PKI standing in for the CA (two
members' keys on a SoftHSM2 token, found without key labels), every document signed by
its head and sealed, the year archived in one command, everything verified as of 2040,
one ledger holding the whole trail, and the documents' layout checked on the PDF itself:
no unit name broken inside the province name, names of a signature row on one baseline,
each seal clear of its signer's title and name, "Nơi nhận" on a page with signatures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import require_tool

pytestmark = pytest.mark.slow

TOKEN_MEMBERS = ("hai-phong", "phu-tho")
MM = 72 / 25.4


@pytest.fixture(scope="module")
def cluster_2026(tmp_path_factory):
    """The workspace after the whole flow, and the demo PKI that served it."""
    require_tool("soffice")
    require_tool("softhsm2-util")
    from signflow import i18n
    from signflow.cli import main
    from signflow.demo.pki import load_demo_pki
    from signflow.demo.services import serve_pki
    from signflow.demo.softhsm import activate_softhsm
    from signflow.roster import load_roster

    base = tmp_path_factory.mktemp("cluster2026")
    ws = base / "cum-2-2026"
    outputs: list[str] = []

    def run(*args: object, expect: int = 0) -> None:
        i18n._language = None
        code = main([str(a) for a in args])
        assert code == expect, f"signflow {' '.join(map(str, args))}: exit {code}"

    run("init", ws, "--year", "2026")
    run("keys", "demo", "--roster", ws / "roster.toml", "--out", base / "pki",
        *[x for m in TOKEN_MEMBERS for x in ("--softhsm", m)])
    pki = load_demo_pki(base / "pki")
    roster = load_roster(pki.roster_path)
    settings = (ws / "signflow.toml").read_text(encoding="utf-8")
    settings = settings.replace('roster = "roster.toml"', f'roster = "{pki.roster_path}"')
    settings = settings.replace('# trust = ["trust/root-ca.pem"]', f'trust = ["{pki.root_pem}"]')
    settings = settings.replace('# tsa = "http://tsa.example.vn"', f'tsa = "{pki.tsa_url}"')
    (ws / "signflow.toml").write_text(settings, encoding="utf-8")

    import os

    cwd = Path.cwd()
    os.chdir(ws)
    old_pin = os.environ.get("SIGNFLOW_PIN")
    try:
        run("generate")
        year = ws / "out" / "2026"
        assert pki.softhsm is not None
        activate_softhsm(pki.softhsm)
        os.environ["SIGNFLOW_PIN"] = pki.softhsm.pin()
        with serve_pki(pki):
            for member in ("ninh-binh", "hung-yen", "hai-phong", "bac-ninh", "phu-tho",
                           "quang-ninh"):
                docs = [year / "cluster" / "giao-uoc-thi-dua-2026.pdf",
                        *sorted((year / member).glob("*.pdf"))]
                # the department heads sign the internal pledge first (PKCS#12 files)
                pledge = year / member / f"giao-uoc-noi-bo-{member}-2026.pdf"
                for department in roster.member(member).departments:
                    signer = f"{member}/{department.id}"
                    cred = pki.credential(signer, "head")
                    run("sign", pledge, "--member", signer, "--role", "head", "--pkcs12",
                        cred.p12, "--passphrase-file", cred.passphrase_file)
                for role in ("head", "seal"):
                    if role == "seal":  # the clerical office numbers what it issues
                        run("number", *sorted((year / member).glob("*.pdf")))
                    if member in TOKEN_MEMBERS:  # the token's key is found by its certificate
                        key = ["--pkcs11-lib", pki.softhsm.module]
                    else:
                        cred = pki.credential(member, role)
                        key = ["--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file]
                    run("sign", *docs, "--member", member, "--role", role, *key)
            run("archive")
    finally:
        os.chdir(cwd)
        if old_pin is None:
            os.environ.pop("SIGNFLOW_PIN", None)
        else:
            os.environ["SIGNFLOW_PIN"] = old_pin
    return ws, pki, outputs


def test_the_year_verifies_complete_as_of_2040_offline(cluster_2026):
    ws, pki, _ = cluster_2026
    year = ws / "out" / "2026"
    done = subprocess.run(
        [str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "signflow"),
         "verify", str(year), "--trust", str(pki.root_pem), "--roster", str(pki.roster_path),
         "--at", "2040-06-01T09:00:00+07:00", "--json"],
        capture_output=True, text=True, timeout=600, env={**os_environ(), "SIGNFLOW_LANG": "vi"})
    verdicts = json.loads(done.stdout)
    assert len(verdicts) == 19, [v["file"] for v in verdicts]
    bad = [(v["file"], v["problems"], v["missing"]) for v in verdicts if not v["ok"]]
    assert not bad, bad
    assert done.returncode == 0, done.stderr
    agreement = next(v for v in verdicts if "giao-uoc-thi-dua" in v["file"])
    people = [s for s in agreement["signatures"] if not s["is_timestamp"]]
    assert len(people) == 12 and agreement["complete"], agreement
    assert all(s["identity"] == "sha256" for s in people), "the demo roster pins every key"


def os_environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_one_ledger_holds_the_whole_trail(cluster_2026):
    from signflow.ledger import Ledger

    ws, _pki, _ = cluster_2026
    ledgers = sorted(ws.rglob("signflow-ledger.sqlite"))
    assert ledgers == [ws / "out" / "signflow-ledger.sqlite"], ledgers
    with Ledger(ledgers[0], read_only=True) as ledger:
        events = ledger.events()
        actions = [e.action for e in events]
        paths = {e.path for e in events if e.path}
    assert actions.count("registered") == 19, actions  # every generated PDF
    assert actions.count("signed") >= 12 * 2, actions
    assert "archived" in actions, actions
    assert all(not Path(p).is_absolute() for p in paths), \
        f"absolute paths in the ledger: {sorted(p for p in paths if Path(p).is_absolute())}"


# --- layout, read off the signed PDFs ----------------------------------------------------


def _lines(pdf: Path) -> list[tuple[int, str, tuple[float, float, float, float]]]:
    """Every text line of every page, with its box (PDF points, origin bottom left)."""
    import pypdfium2

    found = []
    doc = pypdfium2.PdfDocument(str(pdf))
    try:
        for index in range(len(doc)):
            textpage = doc[index].get_textpage()
            text = textpage.get_text_range()
            # rebuild lines from characters: pdfium gives a box per character
            line_chars: list[tuple[str, tuple[float, float, float, float]]] = []
            for i, ch in enumerate(text):
                if ch in "\r\n":
                    if line_chars:
                        found.append((index, *_join(line_chars)))
                    line_chars = []
                    continue
                try:
                    box = textpage.get_charbox(i)
                except Exception:  # noqa: BLE001 - generated characters have no box
                    continue
                line_chars.append((ch, box))
            if line_chars:
                found.append((index, *_join(line_chars)))
            textpage.close()
    finally:
        doc.close()
    return found


def _join(chars):
    text = "".join(c for c, _ in chars)
    boxes = [b for c, b in chars if c.strip()]
    if not boxes:
        return text, (0.0, 0.0, 0.0, 0.0)
    return text, (min(b[0] for b in boxes), min(b[1] for b in boxes),
                  max(b[2] for b in boxes), max(b[3] for b in boxes))


def _fields(pdf: Path) -> dict[str, tuple[int, tuple[float, float, float, float]]]:
    from signflow.validation.revisions import read_history

    history = read_history(pdf)
    shape = history.shape(history.total_revisions - 1)
    return {name: (f.page, f.rect) for name, f in shape.fields.items() if f.rect is not None}


def _overlaps(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def test_headers_never_break_a_province_name(cluster_2026):
    ws, pki, _ = cluster_2026
    from signflow.roster import load_roster

    roster = load_roster(pki.roster_path)
    for member in roster.members:
        for pdf in sorted((ws / "out" / "2026" / member.id).glob("*.pdf")):
            first_page = [text for page, text, _box in _lines(pdf) if page == 0]
            header = "\n".join(first_page[:8]).replace("\u00a0", " ")
            province = member.province.upper()
            assert province in header.split("\n") or any(
                province in line for line in header.split("\n")), \
                f"{pdf.name}: '{province}' broken across header lines:\n{header}"


def test_signature_rows_share_a_baseline_and_seals_stay_clear(cluster_2026, artefacts):
    ws, pki, _ = cluster_2026
    from signflow.roster import load_roster

    roster = load_roster(pki.roster_path)
    pdf = ws / "out" / "2026" / "cluster" / "giao-uoc-thi-dua-2026.pdf"
    lines = _lines(pdf)
    fields = _fields(pdf)
    names = {}
    for member in roster.members:
        hits = [(page, box) for page, text, box in lines if text.strip() == member.head.name]
        assert len(hits) == 1, f"{member.head.name}: {len(hits)} signature name lines"
        names[member.id] = hits[0]
    ids = roster.member_ids
    for left, right in zip(ids[0::2], ids[1::2], strict=True):  # two columns
        (lp, lbox), (rp, rbox) = names[left], names[right]
        assert lp == rp, f"{left} and {right} share a row but not a page"
        assert abs(lbox[1] - rbox[1]) < 1.0, \
            f"names of {left} and {right} are {abs(lbox[1] - rbox[1]):.1f} pt apart"
    titles = [(page, box) for page, text, box in lines if text.strip() == "CHÁNH THANH TRA"]
    for member in roster.members:
        page, seal = fields[f"sf-seal-{member.id}"]
        name_page, name_box = names[member.id]
        assert page == name_page
        assert not _overlaps(seal, name_box), f"the seal of {member.id} covers the name"
        for title_page, title_box in titles:
            if title_page == page:
                assert not _overlaps(seal, title_box), \
                    f"the seal of {member.id} covers a 'CHÁNH THANH TRA' title line"
        head_page, head = fields[f"sf-head-{member.id}"]
        covered = (min(seal[2], head[2]) - head[0]) / (head[2] - head[0])
        assert 0.25 <= covered <= 0.4, f"the seal covers {covered:.0%} of the signature"
    recipients = [page for page, text, _box in lines if text.strip().startswith("Nơi nhận")]
    assert len(recipients) == 1
    assert any(page == recipients[0] for page, _box in names.values()), \
        "'Nơi nhận' is on a page without signatures"
    # what it looks like, for a person to check
    pdftoppm = require_tool("pdftoppm")
    out = artefacts / "cluster-2026-agreement"
    subprocess.run([pdftoppm, "-r", "70", "-png", str(pdf), str(out)], check=True)
    assert list(artefacts.glob("cluster-2026-agreement*.png"))


def test_member_documents_name_the_head_with_the_honorific(cluster_2026):
    ws, pki, _ = cluster_2026
    agreement = ws / "out" / "2026" / "cluster" / "giao-uoc-thi-dua-2026.pdf"
    text = " ".join(t for _p, t, _b in _lines(agreement)).replace("\u00a0", " ")
    text = re.sub(r"\s+", " ", text)
    assert "đại diện là ông Phạm Quang Huy, Chánh Thanh tra" in text
    assert "đại diện là bà Bùi Thị Yến, Chánh Thanh tra" in text
    assert "Ông/Bà" not in text
    assert shutil.which("pdftoppm")
