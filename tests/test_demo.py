"""The demo end to end (what `make demo` runs): everything real, nothing prepared before."""

import json
import subprocess

import pytest

from signflow.roster import load_roster
from signflow.validation.revisions import read_history

from .conftest import ROOT

pytestmark = pytest.mark.slow  # long end-to-end runs: `pytest -m "not slow"` skips them


def test_demo_runs_the_whole_flow(cli, tmp_path):
    out = tmp_path / "demo"
    result = cli("demo", "--out", out)
    assert result.code == 0, result.out + result.err
    assert "28/28" in result.out
    agreement = out / "2019" / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    history = read_history(agreement)
    people = [s for s in history.signatures if not s.is_timestamp]
    assert len(people) == 18
    assert {s.member for s in people} == {p.parent.name for p in (out / "2019").glob("*/*.pdf")
                                           if p.parent.name != "cluster"}
    member_docs = [p for p in (out / "2019").glob("*/*.pdf") if p.parent.name != "cluster"]
    assert len(member_docs) == 27
    roster = load_roster(out / "pki" / "roster.toml")
    for doc in member_docs:
        signed = [s for s in read_history(doc).signatures if not s.is_timestamp]
        assert {s.role for s in signed} == {"head", "seal"}, doc
        member = roster.member(doc.parent.name)
        expected = [m for m in (member.id,)]
        if doc.name.startswith("giao-uoc-noi-bo-"):
            # issue 17: every department head of the roster signs the internal pledge,
            # before the member's head confirms; the seal comes last
            expected = [f"{member.id}/{d.id}" for d in member.departments] + expected
        assert [s.member for s in signed if s.role == "head"] == expected, doc
        assert signed[-1].role == "seal", doc
    report = out / "bien-ban-xac-minh.html"
    assert report.is_file() and "Nguyễn Thị Ngọc Ánh" in report.read_text(encoding="utf-8")
    # verifying again from the command line, offline, agrees
    check = cli("verify", agreement, "--roster", out / "pki" / "roster.toml", "--trust",
                out / "pki" / "trust" / "root.pem", "--json")
    assert check.code == 0, check.out[-3000:]
    assert json.loads(check.out)["complete"] is True
    # the pack's ledger: anchored twice, every document compared with its file
    audit = cli("log", "--verify", "--ledger", out / "signflow-ledger.sqlite",
                "--trust", out / "pki" / "trust" / "root.pem", "--json")
    assert audit.code == 0, audit.out[-3000:]
    payload = json.loads(audit.out)
    assert payload["anchors"] == 2 and payload["documents_compared"] == 28, payload["notes"]
    assert "Sổ ghi: nguyên vẹn (2 dấu thời gian, 28 văn bản" in result.out, result.out
    # a second run (a new process, as `make demo` would start) replaces its own output
    again = subprocess.run([str(ROOT / ".venv" / "bin" / "signflow"), "demo", "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "28/28" in again.stdout


def test_demo_refuses_a_folder_it_did_not_make(cli, tmp_path):
    (tmp_path / "keep.txt").write_text("dữ liệu của người dùng", encoding="utf-8")
    result = cli("demo", "--out", tmp_path)
    assert result.code == 2, result.err
    assert f"{tmp_path} không rỗng và không do `signflow demo` tạo" in result.err, result.err
    assert (tmp_path / "keep.txt").is_file()
