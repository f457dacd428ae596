"""The incremental path index gives exactly pyHanko's paths, revision by revision, and the
same difference-analysis verdicts (signflow's faster verification must not change any)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from .test_verify import CORPUS, MUST_FLAG, MUST_PASS


def _compare_paths(data: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader, RawPdfPath

    from signflow._fastdiff import UsageIndex
    from signflow._speedups import install

    install()
    ours = PdfFileReader(io.BytesIO(data), strict=False)
    theirs = PdfFileReader(io.BytesIO(data), strict=False)
    index = UsageIndex(ours)
    checked = 0
    for revision in range(ours.xrefs.total_revisions):
        resolver = theirs.get_historical_resolver(revision)
        try:
            resolver._load_reverse_xref_cache()
        except Exception:
            continue  # pyHanko cannot map this revision either (hostile file)
        expected = resolver._indirect_object_access_cache
        index.at(revision)
        for ref, paths in expected.items():
            assert {RawPdfPath(*p) for p in index.usages(ref)} == paths, (revision, ref)
        extra = {ref for ref, entries in index.paths.items() if entries} - set(expected)
        assert not extra, (revision, extra)
        checked += 1
    return checked


def test_same_paths_as_pyhanko_on_signflow_documents(signed_agreement, lta_agreement):
    assert _compare_paths(signed_agreement.read_bytes()) == 20  # original, fields, 18
    assert _compare_paths(lta_agreement.read_bytes()) >= 20


@pytest.mark.parametrize("name", [n for n in MUST_FLAG + MUST_PASS
                                  if "coverage-anomalies" not in n])
def test_same_paths_as_pyhanko_on_the_corpus(name):
    _compare_paths((CORPUS / name).read_bytes())


def _verdicts(reviews: dict) -> dict:
    """Level, changed fields and whether a change was unexplained (the wording of a parse
    error may name another byte offset, depending on which object was read first)."""
    return {r: (v.level, v.changed_fields, v.suspicious is not None) for r, v in reviews.items()}


def _reviews(path: Path, fast: bool) -> dict:
    import signflow._fastdiff as fastdiff
    from signflow.history import read_history

    history = read_history(path)
    if not fast:
        fastdiff.ENABLED = False
        try:
            return _verdicts(history.reviews)
        finally:
            fastdiff.ENABLED = True
    return _verdicts(history.reviews)


@pytest.mark.parametrize("name", MUST_FLAG + MUST_PASS)
def test_same_verdicts_as_plain_pyhanko_diffs(name):
    assert _reviews(CORPUS / name, True) == _reviews(CORPUS / name, False)


def test_same_verdicts_on_the_lta_agreement(lta_agreement):
    assert _reviews(lta_agreement, True) == _reviews(lta_agreement, False)
