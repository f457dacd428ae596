"""Difference analysis whose cost grows with the changes, not with the whole document.

pyHanko's diff policy compares two revisions; before it does, it computes, for the older
revision, every path from the trailer to every object in the file
(``HistoricalResolver._load_reverse_xref_cache``), then looks up the paths of the handful
of objects the newer revision touches. That full computation reads every object of the
revision and dominates the cost of each comparison, so checking every revision of a
document with many signatures costs revisions x objects.

This module computes the same path sets once for the first revision needed, by pyHanko's
own traversal rules (no cycles, no '/Parent', page tree nodes only by their canonical path,
structure elements only from the structure tree), and then carries them from one revision
to the next: only objects whose references changed are re-read, only paths through them
are dropped and grown again. A signature revision changes a handful of objects (the field,
its appearance, the signature value), so each further revision costs little.

The results are the same path sets pyHanko computes (the test suite compares both, object
by object and revision by revision); they are handed to pyHanko through the cache
attribute of signflow's own resolvers (those of a ``SignflowPdfReader``), so that its diff
rules run unchanged. Written as a drop-in so it could be offered upstream as an
incremental ``_load_reverse_xref_cache``.

``SignflowDiffPolicy`` (pyHanko's public ``StandardDiffPolicy``, with pyHanko's default
rules) is how signflow uses both this index and the form-field shortcut below; nothing in
pyHanko is replaced, and every other policy in the process works as pyHanko made it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.diff_analysis.form_rules_api import (
    FieldComparisonContext,
    FieldMDPRule,
    FormUpdatingRule,
)
from pyhanko.sign.diff_analysis.policies import StandardDiffPolicy

Path = tuple  # of str (dictionary keys) and int (array indices)
Edge = tuple[Path, Any]  # (relative path through direct objects, referenced Reference)

_TRAILER = "trailer"  # pseudo-reference of the trailer dictionary


def _edges(obj: Any) -> list[Edge]:
    """References held by an object, with the path to each through direct objects."""
    from pyhanko.pdf_utils import generic

    found: list[Edge] = []

    def walk(value: Any, rel: Path) -> None:
        if isinstance(value, generic.IndirectObject):
            found.append((rel, value.reference))
        elif isinstance(value, generic.DictionaryObject):
            for key, item in value.items():
                walk(item, (*rel, key))
        elif isinstance(value, generic.ArrayObject):
            for index, item in enumerate(value):
                walk(item, (*rel, index))

    walk(obj, ())
    return found


Entry = tuple[Path, tuple]  # (path from the trailer, references along it, last = target)


class UsageIndex:
    """Every path to every object of one document, at one revision at a time, carried
    from a revision to the next by redoing only what the changed objects affect."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.revision: int | None = None
        self.edges: dict[Any, list[Edge]] = {}
        self.trailer_edges: list[Edge] = []
        self.paths: dict[Any, set[Entry]] = defaultdict(set)
        # object -> (target, entry) of every path passing through it before its end, so
        # that a revision drops the paths through what it changed without a full scan
        self.through: dict[Any, set[tuple[Any, Entry]]] = defaultdict(set)
        self.page_tree: dict[Any, Path] = {}
        self.struct_tree: set[Any] = set()
        self.tree_refs: set[Any] = set()  # objects the two trees were read from
        self.tree_roots: tuple[Any, Any] = (None, None)

    def _read(self, resolver: Any, ref: Any) -> list[Edge]:
        try:
            return _edges(resolver(ref))
        except Exception:  # unreadable object: it holds nothing we can follow
            return []

    # -- pyHanko's traversal rules --------------------------------------------------------

    def _follow(self, edges: list[Edge], path: Path, refs: tuple) -> None:
        struct = len(path) >= 3 and path[:3] == ("/Root", "/StructTreeRoot", "/K")
        for rel, child in edges:
            cur, ctx, ok = path, struct, True
            for element in rel:
                if isinstance(element, str):
                    if element == "/Parent" or (ctx and element == "/P"):
                        ok = False
                        break
                    if not ctx and element == "/K" and cur == ("/Root", "/StructTreeRoot"):
                        ctx = True
                cur = (*cur, element)
            if ok:
                self._visit(child, cur, refs)

    def _visit(self, ref: Any, path: Path, refs: tuple) -> None:
        if ref in refs:
            return  # no cycles: a path never passes the same object twice
        refs = (*refs, ref)
        entry = (path, refs)
        self.paths[ref].add(entry)
        for holder in refs[:-1]:
            self.through[holder].add((ref, entry))
        self._descend(ref, path, refs)

    def _descend(self, ref: Any, path: Path, refs: tuple) -> None:
        if self.page_tree.get(ref, path) != path:
            return  # page tree nodes are entered only by their canonical path
        struct = len(path) >= 3 and path[:3] == ("/Root", "/StructTreeRoot", "/K")
        if not struct and ref in self.struct_tree:
            return  # structure elements only from the structure tree
        self._follow(self.edges.get(ref, []), path, refs)

    # -- building and advancing -----------------------------------------------------------

    def _full(self, revision: int) -> None:
        xrefs = self.reader.xrefs
        resolver = self.reader.get_historical_resolver(revision)
        live: set[Any] = set()
        for rev in range(revision + 1):
            live |= set(xrefs.explicit_refs_in_revision(rev))
            live -= set(xrefs.refs_freed_in_revision(rev))
        self.edges = {ref: self._read(resolver, ref) for ref in live}
        self.page_tree, self.struct_tree, self.tree_refs = _trees(resolver)
        self.tree_roots = _tree_roots(resolver)
        self.trailer_edges = _edges(resolver.trailer_view)
        self.paths = defaultdict(set)
        self.through = defaultdict(set)
        self._follow(self.trailer_edges, (), ())

    def _advance(self, revision: int) -> None:
        xrefs = self.reader.xrefs
        resolver = self.reader.get_historical_resolver(revision)
        changed: dict[Any, list[Edge]] = {}
        written = set(xrefs.explicit_refs_in_revision(revision))
        freed = set(xrefs.refs_freed_in_revision(revision))
        for ref in freed:
            changed[ref] = []
        for ref in written:
            edges = self._read(resolver, ref)
            if edges != self.edges.get(ref):
                changed[ref] = edges
        trees = (self.page_tree, self.struct_tree, self.tree_refs)
        roots = _tree_roots(resolver)
        if (written | freed) & self.tree_refs or roots != self.tree_roots:
            trees = _trees(resolver)
            self.tree_roots = roots
        trailer_edges = _edges(resolver.trailer_view)
        self.edges.update(changed)
        if (trees[:2] != (self.page_tree, self.struct_tree)
                or trailer_edges != self.trailer_edges):
            # the rules themselves changed (page tree, structure tree, trailer): redo all
            self.page_tree, self.struct_tree, self.tree_refs = trees
            self.trailer_edges = trailer_edges
            self.paths = defaultdict(set)
            self.through = defaultdict(set)
            self._follow(self.trailer_edges, (), ())
            return
        self.tree_refs = trees[2]
        if not changed:
            return
        moved = set(changed)
        # Paths that pass through a changed object (before reaching their end) may no longer
        # exist; every path through changed objects is grown again from the first changed
        # object on it, from the paths to that object that avoid changed objects.
        doomed: set[tuple[Any, Entry]] = set()
        for ref in moved:
            doomed |= self.through.pop(ref, set())
        for target, entry in doomed:
            self.paths[target].discard(entry)
            for holder in entry[1][:-1]:
                held = self.through.get(holder)
                if held is not None:
                    held.discard((target, entry))
        for ref in moved:
            for path, refs in list(self.paths.get(ref, ())):
                self._descend(ref, path, refs)

    def at(self, revision: int) -> UsageIndex:
        """Bring the index to ``revision`` (forward incrementally, else from scratch)."""
        if self.revision == revision:
            return self
        if self.revision is None or revision < self.revision:
            self._full(revision)
        else:
            for rev in range(self.revision + 1, revision + 1):
                self._advance(rev)
        self.revision = revision
        return self

    def usages(self, ref: Any) -> set[Path]:
        return {path for path, _refs in self.paths.get(ref, ())}


def _tree_roots(resolver: Any) -> tuple[Any, Any]:
    root = resolver.root
    return (repr(root.raw_get("/Pages")) if "/Pages" in root else None,
            repr(root.raw_get("/StructTreeRoot")) if "/StructTreeRoot" in root else None)


def _trees(resolver: Any) -> tuple[dict[Any, Path], set[Any], set[Any]]:
    """Canonical paths of the page tree's nodes and the structure tree's elements, as
    pyHanko's traversal computes them, and every object read to find them (when none of
    those changes in a revision, the trees cannot have changed)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.misc import PdfReadError

    page_tree: dict[Any, Path] = {}
    struct_tree: set[Any] = set()
    read: set[Any] = set()
    root = resolver.root
    # The catalogue itself is rewritten by nearly every revision (metadata); what matters
    # is where its /Pages and /StructTreeRoot point, which _tree_roots tells apart.

    def deref(value: Any) -> Any:
        if isinstance(value, generic.IndirectObject):
            read.add(value.reference)
            return value.get_object()
        return value

    def pages(node: Any, path: Path) -> Iterator[tuple[Any, Path]]:
        for index, kid in enumerate(deref(node.raw_get("/Kids"))):
            kid_path = (*path, "/Kids", index)
            if isinstance(kid, generic.IndirectObject):
                yield kid.reference, kid_path
            kid = deref(kid)
            if kid.get("/Type", None) == "/Pages":
                yield from pages(kid, kid_path)

    # A node seen twice is a cycle: raised as pyHanko raises it (the generators are lazy,
    # so the check runs before the walk goes round the cycle again).
    pages_ref = root.raw_get("/Pages")
    if isinstance(pages_ref, generic.IndirectObject):
        page_tree[pages_ref.reference] = ("/Root", "/Pages")
    for ref, path in pages(deref(pages_ref), ("/Root", "/Pages")):
        if ref in page_tree:
            raise PdfReadError("Circular reference in page tree in mapping stage")
        page_tree[ref] = path

    def structs(elem: Any) -> Iterator[Any]:
        try:
            children = deref(elem.raw_get("/K"))
        except KeyError:
            return
        if not isinstance(children, generic.ArrayObject):
            children = (children,)
        for child in children:
            child_ref = None
            if isinstance(child, generic.IndirectObject):
                child_ref = child.reference
            child = deref(child)
            if not isinstance(child, generic.DictionaryObject):
                continue
            try:
                if child["/Type"] != "/StructElem":
                    continue
            except KeyError:
                pass
            if child_ref is not None:
                yield child_ref
            yield from structs(child)

    with contextlib.suppress(KeyError):
        for ref in structs(deref(root.raw_get("/StructTreeRoot"))):
            if ref in struct_tree:
                raise PdfReadError("Circular reference in structure tree in mapping stage")
            struct_tree.add(ref)
    return page_tree, struct_tree, read


class LazyUsages(dict):
    """Stands in for a resolver's ``_indirect_object_access_cache``: computes the paths of
    an object the first time pyHanko asks for them."""

    def __init__(self, index: UsageIndex, resolver: Any) -> None:
        super().__init__()
        self.index = index
        self.resolver = resolver

    def __bool__(self) -> bool:  # pyHanko reads the cache as `cache or {}`
        return True

    def __missing__(self, ref: Any) -> set[Any]:
        from pyhanko.pdf_utils.reader import RawPdfPath

        index = self.index.at(self.resolver.revision)  # the index may have moved on
        paths = {RawPdfPath(*p) for p in index.usages(ref)}
        self[ref] = paths
        return paths


def prime(index: UsageIndex, resolver: Any) -> None:
    """Give ``resolver`` (the older revision of a comparison, one of signflow's own
    resolvers) lazily computed usages."""
    if resolver._indirect_object_access_cache is None:
        index.at(resolver.revision)
        resolver._indirect_object_access_cache = LazyUsages(index, resolver)


# -- form fields untouched by a revision ---------------------------------------------------
#
# pyHanko's form rule runs every field rule on every form field of both revisions (per
# revision: fields x rules), although a field whose objects the revision did not write
# cannot yield anything but "unchanged". With one field per signature, that made checking
# every revision of a document grow with the square of its signatures. signflow's policy
# hands its field rules only the fields that are new, gone, or have something written
# below them. Whether anything below a field was written is read from the older revision's
# paths: an object the revision writes was reachable from the field before, or is held by
# one that was (a holder must be rewritten to hold something new).

_TOUCHED: contextvars.ContextVar[frozenset[Any] | None] = contextvars.ContextVar(
    "signflow_touched_objects", default=None)


class _TouchedFieldsOnly(FieldMDPRule):
    """One of pyHanko's field rules, shown only the fields the revision under review can
    have changed (all of them outside ``SignflowDiffPolicy.apply``)."""

    def __init__(self, rule: FieldMDPRule) -> None:
        self.rule = rule

    def apply(self, context: FieldComparisonContext) -> Iterable[tuple[Any, Any]]:
        touched = _TOUCHED.get()
        if touched is not None:
            context = dataclasses.replace(context, field_specs={
                name: spec for name, spec in context.field_specs.items()
                if spec.old_field_ref is None or spec.old_field_ref != spec.new_field_ref
                or spec.old_field_ref in touched})
        return self.rule.apply(context)


class SignflowDiffPolicy(StandardDiffPolicy):
    """pyHanko's ``DEFAULT_DIFF_POLICY`` (the same rules and settings) for consecutive
    revisions of one of signflow's readers: the older revision's paths come from a
    ``UsageIndex`` carried from one revision to the next, and the field rules see only the
    fields the revision can have changed. Verdicts are pyHanko's (tests/test_fastdiff.py
    compares them on signflow's documents and the attack corpus)."""

    def __init__(self, reader: Any) -> None:
        default = DEFAULT_DIFF_POLICY
        form_rule = None
        if default.form_rule is not None:
            form_rule = FormUpdatingRule(
                field_rules=[_TouchedFieldsOnly(r) for r in default.form_rule.field_rules],
                ignored_acroform_keys=default.form_rule.ignored_acroform_keys)
        super().__init__(global_rules=default.global_rules, form_rule=form_rule,
                         reject_object_freeing=default.reject_object_freeing,
                         ignore_orphaned_objects=default.ignore_orphaned_objects,
                         ignore_identical_objects=default.ignore_identical_objects)
        self.reader = reader
        self.index = UsageIndex(reader)

    def apply(self, old: Any, new: Any, field_mdp_spec: Any = None,
              doc_mdp: Any = None) -> Any:
        if (old.reader is not self.reader or new.reader is not self.reader
                or new.revision != old.revision + 1):
            # not what the index follows: pyHanko's own policy, unchanged
            return DEFAULT_DIFF_POLICY.apply(old, new, field_mdp_spec, doc_mdp)
        prime(self.index, old)
        token = _TOUCHED.set(self._touched(old, new))
        try:
            return super().apply(old, new, field_mdp_spec, doc_mdp)
        finally:
            _TOUCHED.reset(token)

    def _touched(self, old: Any, new: Any) -> frozenset[Any]:
        """Objects the revision writes or frees, and every object on a path to them."""
        xrefs = self.reader.xrefs
        written = set(xrefs.explicit_refs_in_revision(new.revision)) | set(
            xrefs.refs_freed_in_revision(new.revision))
        index = self.index.at(old.revision)
        touched: set[Any] = set()
        for ref in written:
            touched.add(ref)
            for _path, refs in index.paths.get(ref, ()):
                touched.update(refs)
        return frozenset(touched)


def diff_policy(reader: Any) -> Any:
    """The difference analysis policy for ``reader``'s revisions: ``SignflowDiffPolicy``
    for one of signflow's readers, pyHanko's ``DEFAULT_DIFF_POLICY`` otherwise (plain
    readers, SIGNFLOW_PLAIN_PYHANKO=1, an unknown pyHanko version)."""
    from signflow._internal.pyhanko import supported
    from signflow._internal.pyhanko.reader import SignflowPdfReader

    if supported() and isinstance(reader, SignflowPdfReader):
        return SignflowDiffPolicy(reader)
    return DEFAULT_DIFF_POLICY
