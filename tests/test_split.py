"""One file's verification shared with a forked child (signflow.validation._split): the
child's half (pyHanko's difference analysis of every revision, the duplicate-key scan) is
handed back as plain data, and the verdict is the one the parent alone would give, also when
the child fails, dies or answers something unexpected; no child outlives the verification."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from .test_verify import CORPUS, MUST_FLAG, MUST_PASS


def _verdict(path: Path, demo_pki, pki_roster, split: bool) -> dict:
    from signflow.validation.verify import VerifyPolicy, verify_file

    policy = VerifyPolicy(trust_roots=(demo_pki.root_pem,), roster=pki_roster)
    verdict = verify_file(path, policy, split=split).as_json()
    verdict.pop("validation_time")
    return verdict


@pytest.fixture
def child_pids(monkeypatch, tmp_path):
    """The processes that did the child's half, as the child itself wrote them down (the
    wrapper runs in whichever process calls it: fork copies it into the child)."""
    from signflow.validation import _split

    record = tmp_path / "pids"
    record.write_text("")
    real = _split.child_findings

    def recorded(history, first):
        with record.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real(history, first)

    monkeypatch.setattr(_split, "child_findings", recorded)
    return lambda: [int(p) for p in record.read_text().split()]


def _no_child_left(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped: not even a zombie is left
            os.waitpid(pid, os.WNOHANG)


def test_the_child_does_its_half_and_the_verdict_is_the_same(signed_agreement, demo_pki,
                                                            pki_roster, child_pids):
    plain = _verdict(signed_agreement, demo_pki, pki_roster, split=False)
    assert child_pids() == [], "split=False must not start a child"
    shared = _verdict(signed_agreement, demo_pki, pki_roster, split=True)
    pids = child_pids()
    assert len(pids) == 1 and pids[0] != os.getpid(), \
        f"the 18-signature agreement should have been shared with one child: {pids}"
    assert shared == plain
    assert plain["ok"] and plain["complete"], plain["problems"]
    _no_child_left(pids)


@pytest.mark.parametrize("how", ["raises", "exits silently", "answers a pyHanko string",
                                 "answers garbage", "is killed", "hangs"])
def test_a_child_that_fails_leaves_the_work_to_the_parent(signed_agreement, demo_pki,
                                                          pki_roster, monkeypatch, how,
                                                          child_pids):
    import signal

    from pyhanko.pdf_utils import generic

    from signflow.validation import _split
    from signflow.validation.revisions import RevisionReview

    plain = _verdict(signed_agreement, demo_pki, pki_roster, split=False)
    parent = os.getpid()
    recorded = _split.child_findings  # (the fixture's wrapper: the child is seen)

    def failing(history, first):
        found = recorded(history, first)
        if os.getpid() == parent:
            return found
        if how == "raises":
            raise RuntimeError("the child breaks")
        if how == "exits silently":
            os._exit(0)
        if how == "is killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "hangs":  # no answer ever: the parent must not wait forever
            signal.pause()
        if how == "answers a pyHanko string":
            # a reviewed field name that would drag the child's reader along
            reviews = {r: RevisionReview(r, "none", frozenset({generic.TextStringObject("x")}))
                       for r in found[0]}
            return reviews, found[1], found[2], found[3]
        return ({1: "not a review"}, "garbage", None, None)

    monkeypatch.setattr(_split, "child_findings", failing)
    monkeypatch.setattr(_split, "ADOPT_TIMEOUT", 2.0)  # (the hanging child's wait)
    shared = _verdict(signed_agreement, demo_pki, pki_roster, split=True)
    assert len(child_pids()) == 1, "the child should have started"
    assert shared == plain, f"a child that {how} changed the verdict"
    _no_child_left(child_pids())


def test_the_parent_takes_only_plain_answers():
    from pyhanko.pdf_utils import generic

    from signflow.pdf.anchors import Anchor, IssueAnchor
    from signflow.validation._split import _plain
    from signflow.validation.revisions import RevisionReview

    anchors = ([Anchor("ha-noi", "head", 0, (1.0, 2.0, 3.0, 4.0))],
               [IssueAnchor("ha-noi", "number", "KH-TTr", 0, (1.0, 2.0, 3.0, 4.0))])
    good = ({3: RevisionReview(3, "form_filling", frozenset({"sf-head-a"}))},
            {2: [(3, "object 5 0 defines /Contents twice")]}, ["a field is not on its anchor"],
            anchors)
    assert _plain(good)
    assert _plain(({}, {}, None, None))
    bad = [
        ({3: RevisionReview(4, "none", frozenset())}, {}, None, None),  # another revision's
        ({3: RevisionReview(3, "none", frozenset({generic.TextStringObject("sf")}))}, {}, None,
         None),
        ({3: RevisionReview(3, "none", frozenset(), generic.TextStringObject("x"))}, {}, None,
         None),
        ({"3": RevisionReview(3, "none", frozenset())}, {}, None, None),
        ({}, {2: [(3, 4)]}, None, None),
        ({}, {2: ((3, "x"),)}, None, None),
        ({}, {}, [generic.TextStringObject("x")], None),
        ({}, {}, ("x",), None),
        ({}, {}, None, ([Anchor("ha-noi", "witness", 0, (1.0, 2.0, 3.0, 4.0))], [])),
        ({}, {}, None, ([Anchor("ha-noi", "head", 0, (1.0, 2.0, 3.0))], [])),
        ({}, {}, None, ([Anchor(generic.TextStringObject("x"), "head", 0, (1.0,) * 4)], [])),
        ({}, {}, None, ([], [IssueAnchor("ha-noi", "seal", None, 0, (1.0,) * 4)])),
        ({}, {}, None, ([anchors[1][0]], [])),  # an issue anchor among the signature ones
        ({}, {}, None, (anchors[0],)),
        ({}, {}, None),
        ({}, [], None, None),
        ([], {}, None, None),
        None,
    ]
    for answer in bad:
        assert not _plain(answer), answer


def test_no_child_while_other_threads_run(signed_agreement, demo_pki, pki_roster,
                                          child_pids):
    """Forking a process whose other threads hold locks can deadlock the child: then the
    parent does it all."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        shared = _verdict(signed_agreement, demo_pki, pki_roster, split=True)
    finally:
        stop.set()
        other.join()
    assert child_pids() == [], f"a child was started beside another thread: {child_pids()}"
    assert shared == _verdict(signed_agreement, demo_pki, pki_roster, split=False)


def test_verify_files_shares_one_file_with_a_child(signed_agreement, demo_pki, pki_roster,
                                                   child_pids):
    from signflow.validation.verify import VerifyPolicy, verify_files

    policy = VerifyPolicy(trust_roots=(demo_pki.root_pem,), roster=pki_roster)
    [verdict] = verify_files([signed_agreement], policy, workers=2)
    assert verdict.ok, verdict.problems
    assert len(child_pids()) == 1 and child_pids()[0] != os.getpid()
    [alone] = verify_files([signed_agreement], policy, workers=1)
    assert len(child_pids()) == 1, "one worker: the parent does it all, no second child"
    shared, plain = verdict.as_json(), alone.as_json()
    shared.pop("validation_time"), plain.pop("validation_time")
    assert shared == plain


@pytest.mark.parametrize("name", sorted(set(MUST_FLAG) | set(MUST_PASS)))
def test_the_attack_corpus_gets_the_same_verdicts_shared(name, demo_pki, pki_roster,
                                                         monkeypatch):
    from signflow.validation import _split

    monkeypatch.setattr(_split, "MIN_REVISIONS", 1)  # share even the short histories
    path = CORPUS / name
    assert _verdict(path, demo_pki, None, split=True) == \
        _verdict(path, demo_pki, None, split=False), name
