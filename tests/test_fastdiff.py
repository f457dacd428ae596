"""The incremental path index gives exactly pyHanko's paths, revision by revision, and the
same difference-analysis verdicts (signflow's faster verification must not change any)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from .test_verify import CORPUS, MUST_FLAG, MUST_PASS


def _compare_paths(data: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader, RawPdfPath

    from signflow._internal.pyhanko.fastdiff import UsageIndex
    from signflow._internal.pyhanko.reader import SignflowPdfReader

    ours = SignflowPdfReader(io.BytesIO(data), strict=False)
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
    """Every revision's review, by signflow's policy on its own reader (fast) or by
    pyHanko's default policy on a plain reader (SIGNFLOW_PLAIN_PYHANKO=1)."""
    import os

    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY

    from signflow._internal.pyhanko import PLAIN_ENV
    from signflow._internal.pyhanko.fastdiff import SignflowDiffPolicy
    from signflow.validation.revisions import read_history

    saved = os.environ.pop(PLAIN_ENV, None)
    if not fast:
        os.environ[PLAIN_ENV] = "1"
    try:
        history = read_history(path)
        reviews = _verdicts(history.reviews)
        policy = history._diff_policy
    finally:
        os.environ.pop(PLAIN_ENV, None)
        if saved is not None:
            os.environ[PLAIN_ENV] = saved
    if len(reviews):  # the policy the reviews were made with is the one meant
        assert isinstance(policy, SignflowDiffPolicy) if fast else policy is DEFAULT_DIFF_POLICY, (
            f"{path.name}: reviewed with {policy!r} (fast={fast})")
    return reviews


@pytest.mark.parametrize("name", MUST_FLAG + MUST_PASS)
def test_same_verdicts_as_plain_pyhanko_diffs(name):
    assert _reviews(CORPUS / name, True) == _reviews(CORPUS / name, False)


def test_same_verdicts_on_the_lta_agreement(lta_agreement):
    assert _reviews(lta_agreement, True) == _reviews(lta_agreement, False)


def _circular(signed_agreement: Path, tmp_path: Path, tree: str) -> Path:
    """The signed agreement with one more revision whose page tree (or structure tree)
    contains itself."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    from .conftest import append_change

    pdf = tmp_path / f"circular-{tree}.pdf"
    pdf.write_bytes(signed_agreement.read_bytes())

    def loop(writer):
        if tree == "pages":
            pages = writer.root["/Pages"]
            pages["/Kids"].append(writer.root.raw_get("/Pages"))
            writer.update_container(pages)
        else:
            node = generic.DictionaryObject({pdf_name("/Type"): pdf_name("/StructTreeRoot")})
            ref = writer.add_object(node)
            node[pdf_name("/K")] = generic.ArrayObject([ref])
            writer.root[pdf_name("/StructTreeRoot")] = ref
            writer.update_root()

    append_change(pdf, loop)
    return pdf


@pytest.mark.parametrize("tree", ["pages", "structure"])
def test_a_circular_tree_gives_pyhankos_error_not_a_recursion_error(signed_agreement,
                                                                   tmp_path, tree):
    """pyHanko's own tests (0.38.0) expect "Circular reference in page tree" where the
    faster index once recursed forever; both paths must agree, revision by revision."""
    pdf = _circular(signed_agreement, tmp_path, tree)
    fast, plain = _reviews(pdf, True), _reviews(pdf, False)
    assert fast == plain
    last = max(fast)
    assert fast[last][0] == "other", fast[last]


def test_the_index_raises_what_pyhanko_raises_on_a_circular_page_tree(signed_agreement,
                                                                     tmp_path):
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signflow._internal.pyhanko.fastdiff import UsageIndex

    data = _circular(signed_agreement, tmp_path, "pages").read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    last = reader.xrefs.total_revisions - 1
    with pytest.raises(PdfReadError) as theirs:
        reader.get_historical_resolver(last)._load_reverse_xref_cache()
    with pytest.raises(PdfReadError) as ours:
        UsageIndex(PdfFileReader(io.BytesIO(data), strict=False)).at(last)
    assert "Circular reference" in str(theirs.value) and "Circular reference" in str(ours.value)
