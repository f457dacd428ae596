"""Two writers at once: two members signing one PDF in the same folder at the same moment,
two `generate` runs into one folder. Real processes (forked, so that each start costs no
imports), real files, the real ledger; a random stagger between the two starts."""

from __future__ import annotations

import multiprocessing
import random
import time

import pytest

from .conftest import DATA, fresh_agreement_folder, sign_args

pytestmark = pytest.mark.slow  # long end-to-end runs: `pytest -m "not slow"` skips them

ROUNDS = 50
GENERATE_ROUNDS = 10
# why a signer may refuse while another writes the same file (the lock's wait ran out, or
# the file changed under it)
CONCURRENT_REFUSALS = ("đang được một tiến trình signflow khác ghi",
                       "bị thay đổi trong lúc tạo lần cập nhật mới")
PAIRS = [("ninh-binh", "nam-dinh"), ("ha-nam", "thai-binh"), ("hung-yen", "hai-duong"),
         ("bac-ninh", "vinh-phuc")]


def _child(queue, delay: float, args: list[str]) -> None:
    import io
    import sys

    from signflow import i18n
    from signflow.cli import main

    time.sleep(delay)
    sys.stderr = io.StringIO()
    sys.stdout = io.StringIO()
    i18n._language = None
    code = main(args)
    queue.put((args[args.index("--member") + 1] if "--member" in args else "generate",
               code, sys.stderr.getvalue()))


def _run_pair(commands: list[list[str]], rng: random.Random) -> list[tuple[str, int, str]]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    stagger = rng.uniform(0, 0.3)
    delays = [0.0, stagger] if rng.random() < 0.5 else [stagger, 0.0]
    children = [context.Process(target=_child, args=(queue, d, c))
                for d, c in zip(delays, commands, strict=True)]
    for child in children:
        child.start()
    results = [queue.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0, f"a signing process died (exit {child.exitcode})"
    return results


def test_two_signers_at_once_never_lose_a_signature(pdf_pack, demo_pki, tmp_path,
                                                    monkeypatch):
    from signflow.ledger import Ledger
    from signflow.validation.revisions import read_history

    monkeypatch.setenv("SIGNFLOW_LANG", "vi")
    rng = random.Random(4242)
    source = pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    waited = refused = 0
    for round_no in range(ROUNDS):
        folder = tmp_path / f"r{round_no:02d}"
        pdf, ledger_path = fresh_agreement_folder(source, folder)
        first, second = PAIRS[round_no % len(PAIRS)]
        results = _run_pair([sign_args(pdf, demo_pki, m, ledger_path)
                             for m in (first, second)], rng)
        history = read_history(pdf)
        with Ledger(ledger_path) as ledger:
            signed_events = [e.details["member"] for e in ledger.events()
                             if e.action == "signed"]
            assert not ledger.verify_chain()
        for member, code, err in results:
            assert code in (0, 2), (member, code, err)
            assert "Traceback" not in err, err
            present = history.signature_for(member, "head") is not None
            if code == 0:
                assert present, f"round {round_no}: {member} exited 0 without its signature"
                assert member in signed_events, f"round {round_no}: ledger lacks {member}"
            else:
                assert not present and member not in signed_events, (round_no, member, err)
                assert len([line for line in err.splitlines() if line.strip()]) == 1, err
                # refused because of the other writer, said so
                assert any(reason in err for reason in CONCURRENT_REFUSALS), (round_no, err)
                refused += 1
            waited += "waiting" in err or "đang chờ" in err
        assert sorted(signed_events) == sorted(m for m, code, _e in results if code == 0)
        assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"
    print(f"\n{ROUNDS} rounds of two concurrent signers: 0 lost signatures; "
          f"{waited} times a signer waited for the other, {refused} refused")
    # the document is still signable afterwards
    cred = demo_pki.credential("quang-ninh", "head")
    from signflow.cli import main

    assert main(["sign", str(pdf), "--roster", str(demo_pki.roster_path), "--member",
                 "quang-ninh", "--pkcs12", str(cred.p12), "--passphrase-file",
                 str(cred.passphrase_file), "--ledger", str(ledger_path)]) == 0


def test_two_generate_runs_into_one_folder(demo_pki, tmp_path, monkeypatch):
    """Both runs succeed (the second after the first), and what they leave is signable."""
    from signflow.cli import main

    monkeypatch.setenv("SIGNFLOW_LANG", "vi")
    rng = random.Random(77)
    cred = demo_pki.credential("ninh-binh", "head")
    waited = 0
    for round_no in range(GENERATE_ROUNDS):
        out = tmp_path / f"g{round_no:02d}"
        args = ["generate", "--roster", str(demo_pki.roster_path), "--data", str(DATA),
                "--out", str(out), "--only", "giao-uoc-thi-dua", "--jobs", "1"]
        results = _run_pair([args, args], rng)
        for _who, code, err in results:
            assert code == 0, f"round {round_no}: {err}"
            waited += "đang chờ" in err
        pdf = out / "2019" / "cluster" / "giao-uoc-thi-dua-2019.pdf"
        assert not list(out.rglob(".*.tmp")), "a temporary file was left behind"
        assert main(["sign", str(pdf), "--roster", str(demo_pki.roster_path), "--member",
                     "ninh-binh", "--pkcs12", str(cred.p12), "--passphrase-file",
                     str(cred.passphrase_file)]) == 0, f"round {round_no}: not signable"
    print(f"\n{GENERATE_ROUNDS} rounds of two concurrent generate runs: all succeeded and "
          f"signable; {waited} times one waited for the other")
