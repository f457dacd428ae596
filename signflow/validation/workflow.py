"""What the first signature fixed, and what a later revision may still add.

The first signature covers the prepared document: its pages, its signature fields (names,
objects, pages, rectangles, flags) and the anchors in its page content. This module reads
that *shape* at any revision and compares later revisions with it (never with the latest
state, which an appended revision could redefine), and lists, per revision, the objects it
rewrites that the workflow has no reason to touch.

After the first signature a signflow document may receive only: a signature into one of
its empty signflow fields, validation data (DSS/VRI), and document timestamps in new,
invisible fields. Each of these rewrites a small, known set of existing objects (the
catalogue, the metadata stream, the field being signed, the form's field list, the first
page's annotation list, the DSS); anything else, or a known object changed in another
way, is a problem. Every read that fails is a problem too: nothing here is silently ok.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from signflow.i18n import _

# annotation flags (PDF 32000-1, 12.5.3)
F_INVISIBLE, F_HIDDEN, F_PRINT, F_NOVIEW, F_TOGGLE_NOVIEW = 1, 2, 4, 32, 256
MAX_DEPTH = 32  # page and field trees deeper than this are refused
MAX_NODES = 20_000  # pages, fields or annotations per document

MM = 72 / 25.4
MIN_FIELD_MM = 5.0  # a signature box smaller than this is not a visible signature
ANCHOR_REACH_MM = 12.0  # a head's box starts right under its anchor

# What a workflow revision may change in the objects it rewrites.
CATALOG_KEYS = frozenset({"/DSS", "/Metadata", "/Extensions", "/AcroForm", "/Version"})
INFO_KEYS = frozenset({"/ModDate", "/Producer"})
ACROFORM_KEYS = frozenset({"/Fields", "/SigFlags"})
PAGE_KEYS = frozenset({"/Annots"})
SIGNED_FIELD_KEYS = frozenset({"/V", "/AP"})
FILLED_FIELD_KEYS = frozenset({"/V", "/AP"})
# what the appearance of a number or date may use: text in fonts, nothing drawn from
# elsewhere (an image or a form could paint over the header)
APPEARANCE_RESOURCE_KEYS = frozenset({"/Font", "/ProcSet"})
DSS_KEYS = frozenset({"/Type", "/VRI", "/Certs", "/OCSPs", "/CRLs"})
VRI_KEYS = frozenset({"/Type", "/Cert", "/OCSP", "/CRL", "/TU", "/TS"})
TIMESTAMP_FIELD_KEYS = frozenset({"/FT", "/T", "/Type", "/Subtype", "/F", "/Rect", "/P",
                                  "/TU", "/V", "/Ff"})


class ShapeError(Exception):
    """The structure cannot be read as a well-formed document (fail closed)."""


@dataclass(frozen=True)
class FieldShape:
    name: str  # fully qualified
    ref: Any  # Reference of the terminal field object
    field_type: str | None
    widgets: tuple[Any, ...]  # References (or None for a direct widget)
    page: int | None  # page index of the (single) widget
    rect: tuple[float, float, float, float] | None
    flags: int

    @property
    def visible(self) -> bool:
        return bool(self.flags & F_PRINT) and not self.flags & (
            F_INVISIBLE | F_HIDDEN | F_NOVIEW | F_TOGGLE_NOVIEW)

    def size_mm(self) -> tuple[float, float]:
        if self.rect is None:
            return (0.0, 0.0)
        return ((self.rect[2] - self.rect[0]) / MM, (self.rect[3] - self.rect[1]) / MM)

    def same_place(self, other: FieldShape) -> bool:
        return (self.field_type, self.widgets, self.page, self.rect, self.flags) == (
            other.field_type, other.widgets, other.page, other.rect, other.flags)


@dataclass
class DocumentShape:
    revision: int
    pages: tuple[Any, ...] = ()  # References of the pages, in order
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # each page's visible box
    annots: tuple[tuple[Any, ...], ...] = ()  # per page: References (None: direct)
    fields: dict[str, FieldShape] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be read


# --- reading -------------------------------------------------------------------------------


def _get(container: Any, key: str, default: Any = None) -> Any:
    """A dictionary entry, dereferenced (pyHanko's ``get`` returns references as they are)."""
    return container[key] if key in container else default  # noqa: SIM401


def _ref(value: Any) -> Any:
    from pyhanko.pdf_utils import generic

    return value.reference if isinstance(value, generic.IndirectObject) else None


def _number(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ShapeError("not a finite number")
    return number


def _rect(value: Any) -> tuple[float, float, float, float]:
    items = [_number(v) for v in value]
    if len(items) != 4:
        raise ShapeError("a rectangle needs four numbers")
    x1, y1, x2, y2 = items
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


class _Reading:
    """The objects of one revision, read by reference (``reader.get_object(ref, revision)``:
    signflow's reader parses each version of an object once for every revision that sees
    it) rather than through a ``HistoricalResolver``, which copies every object it returns
    for its revision: reading the fields of each revision of a document with many
    signatures spent most of its time copying. Read only: every reference, in a dictionary,
    an array or a chain, is followed through ``self``, never through the object's own
    binding (which would read the newest revision)."""

    def __init__(self, resolver: Any) -> None:
        from pyhanko.pdf_utils import generic

        self.reader = resolver.reader
        self.revision = resolver.revision
        self.root = resolver.root
        self.indirect = generic.IndirectObject

    def __call__(self, value: Any) -> Any:
        for _hop in range(MAX_DEPTH):
            if not isinstance(value, self.indirect):
                return value
            value = self.reader.get_object(value.reference, revision=self.revision)
        raise ShapeError("a chain of references")

    def get(self, container: Any, key: str, default: Any = None) -> Any:
        return self(container.raw_get(key)) if key in container else default

    def rect(self, value: Any) -> tuple[float, float, float, float]:
        from pyhanko.pdf_utils import generic

        if not isinstance(value, generic.ArrayObject):
            raise ShapeError("a rectangle is not an array")
        return _rect([self(v) for v in _raw_items(value)])


def _pages(read: _Reading) -> Iterator[tuple[Any, Any, tuple[float, float, float, float]]]:
    """(reference, page dictionary, visible box) of every page, in order; a cycle, a direct
    page or an absurd depth is a ShapeError."""
    from pyhanko.pdf_utils import generic

    seen: set[Any] = set()

    def walk(node: Any, depth: int, box: Any) -> Iterator[tuple[Any, Any, Any]]:
        if depth > MAX_DEPTH:
            raise ShapeError("the page tree is too deep")
        kids = read.get(node, "/Kids")
        if not isinstance(kids, generic.ArrayObject):
            raise ShapeError("a page tree node has no /Kids array")
        for kid in _raw_items(kids):
            ref = _ref(kid)
            if ref is None:
                raise ShapeError("a page is not an indirect object")
            _visit(seen, ref, "page")
            obj = read(kid)
            if not isinstance(obj, generic.DictionaryObject):
                raise ShapeError("a page is not a dictionary")
            own = read.get(obj, "/CropBox", read.get(obj, "/MediaBox", box))
            if read.get(obj, "/Type") == "/Pages" or "/Kids" in obj:
                yield from walk(obj, depth + 1, own)
            else:
                if own is None:
                    raise ShapeError("a page has no /MediaBox")
                yield ref, obj, read.rect(own)

    root_pages = read.get(read.root, "/Pages")
    if not isinstance(root_pages, generic.DictionaryObject):
        raise ShapeError("the document has no page tree")
    yield from walk(root_pages, 0, read.get(root_pages, "/CropBox",
                                            read.get(root_pages, "/MediaBox")))


def read_shape(resolver: Any, revision: int) -> DocumentShape:
    """The shape of the document as of ``revision`` (``resolver`` reads that revision)."""
    from pyhanko.pdf_utils import generic

    shape = DocumentShape(revision)
    try:
        read = _Reading(resolver)
        pages = list(_pages(read))
    except Exception as exc:  # a hostile page tree: the shape is unknown, say why
        shape.problems.append(_("the page tree cannot be read ({reason})").format(
            reason=_reason(exc)))
        return shape
    shape.pages = tuple(ref for ref, _obj, _box in pages)
    shape.boxes = tuple(box for _ref_, _obj, box in pages)
    page_of: dict[Any, int] = {}
    annots = []
    for index, (_page_ref, page, _box) in enumerate(pages):
        try:
            items = read.get(page, "/Annots", generic.ArrayObject())
            if not isinstance(items, generic.ArrayObject):
                raise ShapeError("/Annots is not an array")
            refs = tuple(_ref(a) for a in _raw_items(items))
        except Exception as exc:
            shape.problems.append(_("the annotations of page {n} cannot be read "
                                    "({reason})").format(n=index + 1, reason=_reason(exc)))
            refs = ()
        for ref in refs:
            if ref is not None:
                page_of.setdefault(ref, index)
        annots.append(refs)
    shape.annots = tuple(annots)
    try:
        _read_fields(read, shape, page_of)
    except Exception as exc:
        shape.problems.append(_("the form fields cannot be read ({reason})").format(
            reason=_reason(exc)))
    return shape


def _visit(seen: set[Any], ref: Any, tree: str) -> None:
    """Each node of a page or field tree once, and not too many: a tree that contains
    itself (or is absurdly large) is refused, never walked forever."""
    if ref in seen or len(seen) > MAX_NODES:
        raise ShapeError(f"circular reference in the {tree} tree")
    seen.add(ref)


def _raw_items(array: Any) -> list[Any]:
    """The entries of an array without dereferencing them."""
    return [array.raw_get(i) for i in range(len(array))]


def _read_fields(read: _Reading, shape: DocumentShape, page_of: dict[Any, int]) -> None:
    from pyhanko.pdf_utils import generic

    acroform = read.get(read.root, "/AcroForm")
    if acroform is None:
        return
    if not isinstance(acroform, generic.DictionaryObject):
        raise ShapeError("/AcroForm is not a dictionary")
    fields = read.get(acroform, "/Fields", generic.ArrayObject())
    if not isinstance(fields, generic.ArrayObject):
        raise ShapeError("/Fields is not an array")
    seen: set[Any] = set()

    def walk(items: Any, prefix: str, inherited_ft: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ShapeError("the field tree is too deep")
        for item in _raw_items(items):
            ref = _ref(item)
            if ref is not None:
                _visit(seen, ref, "field")
            obj = read(item)
            if not isinstance(obj, generic.DictionaryObject):
                raise ShapeError("a form field is not a dictionary")
            part = str(read.get(obj, "/T")) if "/T" in obj else ""
            name = f"{prefix}.{part}" if prefix and part else (part or prefix)
            ft = read.get(obj, "/FT", inherited_ft)
            kids = read.get(obj, "/Kids")
            if kids is not None and not isinstance(kids, generic.ArrayObject):
                raise ShapeError("/Kids is not an array")
            kid_items = _raw_items(kids) if kids is not None else []
            named_kids = [k for k in kid_items
                          if isinstance(read(k), generic.DictionaryObject)
                          and "/T" in read(k)]
            if named_kids:
                walk(kids, name, ft, depth + 1)
                continue
            if not part and not prefix:
                raise ShapeError("a form field has no name")
            widgets = [(_ref(k), read(k)) for k in kid_items] if kid_items else \
                [(ref, obj)]
            if name in shape.fields:
                raise ShapeError(f"two form fields are named {name}")
            first = widgets[0][1] if widgets else obj
            rect = read.rect(read.get(first, "/Rect")) if "/Rect" in first else None
            flags = int(read.get(first, "/F", 0))
            page = page_of.get(widgets[0][0]) if widgets and widgets[0][0] is not None \
                else None
            shape.fields[name] = FieldShape(
                name=name, ref=ref, field_type=str(ft) if ft is not None else None,
                widgets=tuple(w for w, _o in widgets), page=page, rect=rect, flags=flags)

    walk(fields, "", None, 0)


def _reason(exc: BaseException) -> str:
    from signflow.errors import failure_reason

    return failure_reason(exc)


# --- comparing with the first signature's shape --------------------------------------------


def compare_shapes(baseline: DocumentShape, later: DocumentShape,
                   timestamp_fields: set[str]) -> list[str]:
    """What ``later`` changed in the shape ``baseline`` fixed. New fields are allowed only
    for document timestamps (``timestamp_fields``), invisible, on no page's visible area."""
    problems = list(later.problems)
    if later.pages != baseline.pages:
        problems.append(_("the pages changed (a page was added, removed or replaced)"))
        return problems
    removed, recreated, moved = [], [], []
    for name, fixed in baseline.fields.items():
        now = later.fields.get(name)
        if now is None:
            removed.append(name)
        elif now.ref != fixed.ref:
            recreated.append(name)
        elif not now.same_place(fixed):
            moved.append(name)
    problems += _grouped(removed, _("the signature field '{name}' was removed"),
                         _("{n} signature fields were removed: {names}"))
    problems += _grouped(recreated, _("the field '{name}' was re-created as a new object"),
                         _("{n} fields were re-created as new objects: {names}"))
    problems += _grouped(moved, _("the field '{name}' was moved or changed"),
                         _("{n} fields were moved or changed: {names}"))
    allowed_widgets: set[Any] = set()
    for name in sorted(set(later.fields) - set(baseline.fields)):
        new = later.fields[name]
        if name in timestamp_fields and new.field_type == "/Sig" and _zero_area(new.rect) \
                and len(new.widgets) == 1 and not name.startswith("sf-"):
            allowed_widgets.update(new.widgets)
        else:
            problems.append(_("a new form field '{name}' was added after the first "
                              "signature").format(name=name))
    for index, (fixed_annots, now_annots) in enumerate(zip(baseline.annots, later.annots,
                                                           strict=True)):
        if None in now_annots and now_annots != fixed_annots:
            problems.append(_("page {n} has an annotation that is not an indirect "
                              "object").format(n=index + 1))
        if set(fixed_annots) - set(now_annots):
            problems.append(_("an annotation was removed from page {n}").format(n=index + 1))
        if set(now_annots) - set(fixed_annots) - allowed_widgets:
            problems.append(_("an annotation was added to page {n}").format(n=index + 1))
        elif (tuple(now_annots[:len(fixed_annots)]) != tuple(fixed_annots)
              or len(set(now_annots)) != len(now_annots)):
            # the order is the drawing order (a seal over its head's signature): the list
            # may only grow at its end, by document timestamp widgets, each once
            problems.append(_("the annotations of page {n} were reordered or repeated")
                            .format(n=index + 1))
    return problems


def _grouped(names: list[str], one: str, many: str) -> list[str]:
    """One line per field for a few, one line for many (a forgery may touch them all)."""
    if len(names) <= 3:
        return [one.format(name=name) for name in names]
    return [many.format(n=len(names), names=", ".join(names))]


def _zero_area(rect: tuple[float, float, float, float] | None) -> bool:
    return rect is None or (rect[2] - rect[0]) * (rect[3] - rect[1]) == 0


# --- the objects a revision rewrites -------------------------------------------------------


def _same(a: Any, b: Any, depth: int = 0) -> bool:
    """Equal PDF values, references compared by number (not by the object they lead to)."""
    from pyhanko.pdf_utils import generic

    if depth > MAX_DEPTH:
        raise ShapeError("nested too deeply")
    if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
        return _ref(a) is not None and _ref(a) == _ref(b)
    if isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject):
        return set(a) == set(b) and all(_same(a.raw_get(k), b.raw_get(k), depth + 1)
                                        for k in a)
    if isinstance(a, generic.ArrayObject) and isinstance(b, generic.ArrayObject):
        return len(a) == len(b) and all(_same(a.raw_get(i), b.raw_get(i), depth + 1)
                                        for i in range(len(a)))
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        return False  # streams are compared by the objects holding them
    return type(a) is type(b) and a == b


def changed_keys(old: Any, new: Any) -> set[str]:
    from pyhanko.pdf_utils import generic

    if not isinstance(old, generic.DictionaryObject) or \
            not isinstance(new, generic.DictionaryObject):
        raise ShapeError("expected a dictionary")
    keys = set(old) | set(new)
    return {str(k) for k in keys
            if k not in old or k not in new or not _same(old.raw_get(k), new.raw_get(k))}


@dataclass(frozen=True)
class RevisionContent:
    """What one revision carries, as the workflow sees it."""

    signed_fields: frozenset[str]  # regular signatures made in it (field names)
    timestamp_fields: frozenset[str]  # document timestamps made in it
    # the number and date fields the clerical office fills (signflow.signing.numbering)
    filled_fields: frozenset[str] = frozenset()


def rewritten_objects_problems(reader: Any, revision: int, baseline: DocumentShape,
                               content: RevisionContent) -> list[str]:
    """Objects that ``revision`` rewrites or deletes without the workflow's reason."""
    from pyhanko.pdf_utils import generic

    xrefs = reader.xrefs
    old = reader.get_historical_resolver(revision - 1)
    new = reader.get_historical_resolver(revision)
    problems: list[str] = []
    if list(xrefs.refs_freed_in_revision(revision)):
        problems.append(_("objects of the document were deleted"))
    old_trailer, new_trailer = old.trailer_view, new.trailer_view
    for key in ("/Root", "/Info"):
        if key in old_trailer and not _same(old_trailer.raw_get(key),
                                            new_trailer.raw_get(key) if key in new_trailer
                                            else None):
            problems.append(_("the document's {key} entry was replaced").format(key=key))
    if "/Encrypt" in new_trailer:
        problems.append(_("encryption was added"))
    root_ref = _ref(old_trailer.raw_get("/Root"))
    info_ref = _ref(old_trailer.raw_get("/Info")) if "/Info" in old_trailer else None
    old_root = old.root
    rules: dict[Any, str] = {}
    if root_ref is not None:
        rules[root_ref] = "catalog"
    if info_ref is not None:
        rules[info_ref] = "info"
    if "/Metadata" in old_root and _ref(old_root.raw_get("/Metadata")) is not None:
        rules[_ref(old_root.raw_get("/Metadata"))] = "metadata"
    acroform_raw = old_root.raw_get("/AcroForm") if "/AcroForm" in old_root else None
    if _ref(acroform_raw) is not None:
        rules[_ref(acroform_raw)] = "acroform"
    if acroform_raw is not None:
        acroform = acroform_raw.get_object()
        if "/Fields" in acroform and _ref(acroform.raw_get("/Fields")) is not None:
            rules[_ref(acroform.raw_get("/Fields"))] = "list"
    for page_ref in baseline.pages:
        rules.setdefault(page_ref, "page")
        page = old(page_ref)
        if isinstance(page, generic.DictionaryObject) and "/Annots" in page and \
                _ref(page.raw_get("/Annots")) is not None:
            rules[_ref(page.raw_get("/Annots"))] = "list"
    for name in content.signed_fields:
        fixed = baseline.fields.get(name)
        if fixed is not None and fixed.ref is not None:
            rules[fixed.ref] = "signed-field"
    for name in content.filled_fields:
        fixed = baseline.fields.get(name)
        if fixed is not None and fixed.ref is not None:
            rules[fixed.ref] = "filled-field"
    for ref in dss_objects(old):
        rules.setdefault(ref, "dss")
    earlier = {r.idnum: r.generation for rev in range(revision)
               for r in xrefs.explicit_refs_in_revision(rev)}
    # (in object-number order: the messages come in the same order from any reader)
    for ref in sorted(xrefs.explicit_refs_in_revision(revision),
                      key=lambda r: (r.idnum, r.generation)):
        if ref.idnum in earlier and earlier[ref.idnum] != ref.generation:
            # "2 1 obj" beside a live "2 0 obj": readers disagree on which one "2 0 R" means
            problems.append(_("object {ref} reuses the number of a live object of the "
                              "signed document").format(ref=f"{ref.idnum} {ref.generation}"))
            continue
        if xrefs.get_introducing_revision(ref) >= revision:
            continue  # a new object: judged by where it is used (shape, keys below)
        rule = rules.get(ref)
        if rule is None:
            problems.append(_("object {ref} of the signed document was rewritten").format(
                ref=f"{ref.idnum} {ref.generation}"))
            continue
        if rule in ("metadata", "list", "dss"):
            continue  # XMP is rewritten by every signer; lists and DSS are judged apart
        before, after = old(ref), new(ref)
        allowed = {"catalog": CATALOG_KEYS, "info": INFO_KEYS, "acroform": ACROFORM_KEYS,
                   "page": PAGE_KEYS, "signed-field": SIGNED_FIELD_KEYS,
                   "filled-field": FILLED_FIELD_KEYS}[rule]
        extra = changed_keys(before, after) - allowed
        if extra:
            problems.append(_("{what} changed: {keys}").format(
                what=_object_label(rule), keys=", ".join(sorted(extra))))
        if rule == "signed-field" and "/V" in before:
            problems.append(_("an already signed field was signed again"))
        if rule == "filled-field" and "/V" in before:
            problems.append(_("the number or date was already given"))
    problems += _catalog_problems(old_root, new.root)
    return problems


def _object_label(rule: str) -> str:
    return {"catalog": _("the document catalogue"), "info": _("the document information"),
            "acroform": _("the form dictionary"), "page": _("a page"),
            "signed-field": _("the field being signed"),
            "filled-field": _("the number or date field")}[rule]


def _catalog_problems(old_root: Any, new_root: Any) -> list[str]:
    """The catalogue may gain DSS, metadata and extensions; its form dictionary (direct or
    not) may only change its field list and signature flags."""
    problems: list[str] = []
    extra = changed_keys(old_root, new_root) - CATALOG_KEYS
    if extra:
        problems.append(_("{what} changed: {keys}").format(
            what=_("the document catalogue"), keys=", ".join(sorted(extra))))
    if "/AcroForm" in old_root or "/AcroForm" in new_root:
        if "/AcroForm" not in new_root or "/AcroForm" not in old_root:
            problems.append(_("the form dictionary was added or removed"))
        else:
            old_form = old_root["/AcroForm"]
            new_form = new_root["/AcroForm"]
            extra = changed_keys(old_form, new_form) - ACROFORM_KEYS
            if extra:
                problems.append(_("{what} changed: {keys}").format(
                    what=_("the form dictionary"), keys=", ".join(sorted(extra))))
            old_flags = int(_get(old_form, "/SigFlags", 0))
            if int(_get(new_form, "/SigFlags", 0)) & old_flags != old_flags:
                problems.append(_("the signature flags were lowered"))
    return problems


def issue_appearance_problems(resolver: Any, fixed: FieldShape) -> list[str]:
    """The appearance of a filled number or date field: one form XObject the size of the
    field, drawing text only. (Its text is not read back: the register and the reports
    give the field's value; see docs/security.md.)"""
    from pyhanko.pdf_utils import generic

    field = resolver(fixed.ref)
    name = fixed.name
    ap = _get(field, "/AP")
    if not isinstance(ap, generic.DictionaryObject) or set(ap) != {"/N"}:
        return [_("the appearance of '{name}' is not a single normal appearance").format(
            name=name)]
    stream = _get(ap, "/N")
    if not isinstance(stream, generic.StreamObject):
        return [_("the appearance of '{name}' is not a form").format(name=name)]
    problems = []
    resources = _get(stream, "/Resources", generic.DictionaryObject())
    if not isinstance(resources, generic.DictionaryObject) or \
            set(resources) - APPEARANCE_RESOURCE_KEYS:
        problems.append(_("the appearance of '{name}' uses more than fonts").format(name=name))
    try:
        bbox = _rect(_get(stream, "/BBox", generic.ArrayObject()))
    except (ShapeError, TypeError, ValueError):
        return [*problems, _("the appearance of '{name}' has no usable box").format(name=name)]
    if fixed.rect is None or any(
            abs(a - b) > 1.0 for a, b in zip((0.0, 0.0, fixed.rect[2] - fixed.rect[0],
                                              fixed.rect[3] - fixed.rect[1]), bbox,
                                             strict=True)):
        problems.append(_("the appearance of '{name}' is not the size of its field").format(
            name=name))
    if "/Matrix" in stream:
        problems.append(_("the appearance of '{name}' is transformed").format(name=name))
    return problems


def dss_objects(resolver: Any) -> set[Any]:
    """References of the DSS dictionary and everything below it (arrays, VRI entries)."""
    from pyhanko.pdf_utils import generic

    found: set[Any] = set()
    root = resolver.root
    if "/DSS" not in root:
        return found

    def walk(value: Any, depth: int) -> None:
        if depth > 6 or len(found) > MAX_NODES:
            raise ShapeError("the DSS is nested too deeply")
        ref = _ref(value)
        if ref is not None:
            if ref in found:
                return
            found.add(ref)
        obj = value.get_object() if isinstance(value, generic.IndirectObject) else value
        if isinstance(obj, generic.StreamObject):
            return
        if isinstance(obj, generic.DictionaryObject):
            for key in obj:
                walk(obj.raw_get(key), depth + 1)
        elif isinstance(obj, generic.ArrayObject):
            for item in _raw_items(obj):
                walk(item, depth + 1)

    walk(root.raw_get("/DSS"), 0)
    return found


def dss_problems(resolver: Any) -> list[str]:
    """The DSS holds certificates, OCSP responses and CRLs in their places, nothing else."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils import generic

    root = resolver.root
    if "/DSS" not in root:
        return []
    problems: list[str] = []
    kinds = {"/Certs": asn1_x509.Certificate, "/OCSPs": asn1_ocsp.OCSPResponse,
             "/CRLs": asn1_crl.CertificateList, "/Cert": asn1_x509.Certificate,
             "/OCSP": asn1_ocsp.OCSPResponse, "/CRL": asn1_crl.CertificateList}

    def check_streams(holder: Any, key: str) -> None:
        items = holder[key]
        if not isinstance(items, generic.ArrayObject):
            raise ShapeError(f"{key} is not an array")
        for item in _raw_items(items):
            stream = item.get_object()
            if not isinstance(stream, generic.StreamObject):
                raise ShapeError(f"an entry of {key} is not a stream")
            parsed = kinds[key].load(stream.data)
            parsed.native  # noqa: B018 - parse it all: garbage raises here

    def check_entries(container: Any, allowed: frozenset[str], lists: tuple[str, ...]) -> None:
        extra = {str(k) for k in container} - allowed
        if extra:
            problems.append(_("the validation data (DSS) holds unexpected entries: "
                              "{keys}").format(keys=", ".join(sorted(extra))))
        for key in lists:
            if key in container:
                check_streams(container, key)

    try:
        dss = root["/DSS"]
        if not isinstance(dss, generic.DictionaryObject):
            raise ShapeError("the DSS is not a dictionary")
        check_entries(dss, DSS_KEYS, ("/Certs", "/OCSPs", "/CRLs"))
        vri = _get(dss, "/VRI")
        if vri is not None:
            if not isinstance(vri, generic.DictionaryObject):
                raise ShapeError("/VRI is not a dictionary")
            for entry_key in vri:
                entry = vri[entry_key]
                if not isinstance(entry, generic.DictionaryObject):
                    raise ShapeError("a VRI entry is not a dictionary")
                check_entries(entry, VRI_KEYS, ("/Cert", "/OCSP", "/CRL"))
    except Exception as exc:
        problems.append(_("the validation data (DSS) cannot be read ({reason})").format(
            reason=_reason(exc)))
    return problems


def timestamp_field_problems(resolver: Any, shape: DocumentShape, name: str) -> list[str]:
    """A document timestamp's own field: a plain invisible signature field, no actions,
    no appearance to show."""
    fixed = shape.fields.get(name)
    if fixed is None or fixed.ref is None:
        return [_("the document timestamp field '{name}' cannot be found").format(name=name)]
    obj = resolver(fixed.ref)
    extra = {str(k) for k in obj} - TIMESTAMP_FIELD_KEYS
    if extra:
        return [_("the document timestamp field '{name}' carries unexpected entries: "
                  "{keys}").format(name=name, keys=", ".join(sorted(extra)))]
    return []


# --- geometry: each field where its anchor is ------------------------------------------------


def geometry_problems(shape: DocumentShape, anchors: list[Any]) -> list[str]:
    """Every signflow field sits on its anchor's page, near the anchor, as a visible box of
    a real size inside the page; every anchor has its field and every field its anchor."""
    from signflow.pdf.anchors import parse_field_name

    problems: list[str] = []
    by_key = {(a.member, a.role): a for a in anchors}
    ours = {parsed: f for name, f in shape.fields.items()
            if (parsed := parse_field_name(name)) is not None}
    for key in sorted(set(by_key) - set(ours)):
        problems.append(_("no signature field for the anchor of {member} ({role})").format(
            member=key[0], role=key[1]))
    for (member, role), fixed in sorted(ours.items()):
        anchor = by_key.get((member, role))
        if anchor is None:
            problems.append(_("the field '{name}' has no anchor in the signed content")
                            .format(name=fixed.name))
            continue
        problems += _field_geometry(fixed, anchor, shape, ours.get((member, "head")))
    return problems


def _field_geometry(fixed: FieldShape, anchor: Any, shape: DocumentShape,
                    head: FieldShape | None) -> list[str]:
    name = fixed.name
    if fixed.field_type != "/Sig":
        return [_("the field '{name}' is not a signature field").format(name=name)]
    if len(fixed.widgets) != 1:
        return [_("the field '{name}' has {n} widgets (one expected)").format(
            name=name, n=len(fixed.widgets))]
    if fixed.page is None or fixed.rect is None:
        return [_("the field '{name}' is on no page").format(name=name)]
    problems = []
    if fixed.page != anchor.page:
        problems.append(_("the field '{name}' is on page {page}, its anchor on page "
                          "{anchor_page}").format(name=name, page=fixed.page + 1,
                                                  anchor_page=anchor.page + 1))
    if not fixed.visible:
        problems.append(_("the field '{name}' is hidden or not printed (flags {flags})")
                        .format(name=name, flags=fixed.flags))
    width, height = fixed.size_mm()
    if min(width, height) < MIN_FIELD_MM or max(width, height) > 200:
        problems.append(_("the field '{name}' has no usable size ({w:.1f} x {h:.1f} mm)")
                        .format(name=name, w=width, h=height))
    box = shape.boxes[fixed.page] if fixed.page < len(shape.boxes) else None
    rect = fixed.rect
    if box is not None and not (box[0] - 1 <= rect[0] and rect[2] <= box[2] + 1
                                and box[1] - 1 <= rect[1] and rect[3] <= box[3] + 1):
        problems.append(_("the field '{name}' lies outside its page").format(name=name))
    if problems:
        return problems
    role = name.split("-")[1]
    if role == "head":
        cx = (anchor.box[0] + anchor.box[2]) / 2
        cy = (anchor.box[1] + anchor.box[3]) / 2
        dx = max(rect[0] - cx, 0, cx - rect[2])
        dy = max(rect[1] - cy, 0, cy - rect[3])
        if math.hypot(dx, dy) > ANCHOR_REACH_MM * MM:
            problems.append(_("the field '{name}' is not where its anchor is").format(
                name=name))
    elif head is not None and head.rect is not None and head.page == fixed.page:
        h = head.rect
        if rect[0] >= h[2] or rect[2] <= h[0] or rect[1] >= h[3] or rect[3] <= h[1]:
            problems.append(_("the seal field '{name}' does not overlap its head's "
                              "signature").format(name=name))
    else:
        problems.append(_("the seal field '{name}' is not beside its head's signature")
                        .format(name=name))
    return problems


_DUPLICATE_KEY = re.compile(r"Multiple definitions in dictionary at byte (0x[0-9a-fA-F]+) "
                            r"for key (\S+)")


class _DuplicateKeys(logging.Handler):
    """Collects pyHanko's warnings about a key defined twice in one dictionary (those of
    the thread that is looking for them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[tuple[int, str]] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        match = _DUPLICATE_KEY.search(record.getMessage())
        if match:
            self.found.append((int(match.group(1), 16), match.group(2)))


# pyHanko's warnings are part of the validation here (its parser reports duplicate keys
# only as log records). While any thread listens, pyHanko's parser logger lets warnings
# through to the listeners only (the application's own logging settings decide what it
# shows, so nothing reaches its handlers from here); the last listener to leave puts the
# logger back as it found it.
_LISTENING = threading.Lock()
_listeners = 0
_saved: tuple[int, bool] = (logging.NOTSET, True)


@contextlib.contextmanager
def _duplicate_keys() -> Iterator[_DuplicateKeys]:
    global _listeners, _saved
    logger = logging.getLogger("pyhanko.pdf_utils.generic")
    handler = _DuplicateKeys()
    with _LISTENING:
        if _listeners == 0:
            _saved = (logger.level, logger.propagate)
            logger.setLevel(logging.WARNING)
            logger.propagate = False
        _listeners += 1
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        with _LISTENING:
            logger.removeHandler(handler)
            _listeners -= 1
            if _listeners == 0:
                logger.setLevel(_saved[0])
                logger.propagate = _saved[1]


@dataclass
class DuplicateKeyScan:
    """What the duplicate-key scan found from revision ``start`` on: the trailers' keys
    defined twice (revision, key); each revision's objects, as (reference, version) in
    object-number order; and for each version of an object, the keys it defines twice or
    why it cannot be read. Plain data: the problems from any revision on (``problems``)."""

    start: int
    trailers: list[tuple[int, str]]
    listed: dict[int, list[tuple[Any, tuple[int, int, Any]]]]
    found: dict[tuple[int, int, Any], list[str] | str]

    def problems(self, first: int) -> list[tuple[int, str]]:
        """(revision, message) for revision ``first`` and later; each version of an object
        is judged where it first appears from there (``first`` >= ``start``)."""
        if first < self.start:
            raise ValueError(f"scanned from revision {self.start}, asked from {first}")
        problems = [(revision, _("the trailer defines {key} twice (viewers would read another "
                                 "document)").format(key=key))
                    for revision, key in self.trailers if revision >= first]
        judged: set[tuple[int, int, Any]] = set()
        for revision in sorted(r for r in self.listed if r >= first):
            for ref, version in self.listed[revision]:
                if version in judged:
                    continue
                judged.add(version)
                found = self.found.get(version, [])
                label = f"{ref.idnum} {ref.generation}"
                if isinstance(found, str):  # unreadable: an unexplained object
                    problems.append((revision, _("object {ref} cannot be read ({reason})")
                                     .format(ref=label, reason=found)))
                    continue
                problems += [(revision, _("object {ref} defines {key} twice (viewers would "
                                          "show something else)").format(ref=label, key=key))
                             for key in found]
        return problems


def duplicate_key_problems(data: bytes, ends: list[int], first: int,
                           reader: Any = None) -> list[tuple[int, str]]:
    """Dictionaries written in revision ``first`` or later that define a key twice, as
    (revision, message). pyHanko (read leniently) keeps a key's first value, most viewers
    its last: an appended object with a second /Contents, /Pages or /Root would show one
    document and be judged as another. ``ends``: where each revision ends in ``data``.
    ``reader``: signflow's reader of these bytes, if there is one (see
    ``scan_duplicate_keys``)."""
    return scan_duplicate_keys(data, ends, first, reader).problems(first)


def scan_duplicate_keys(data: bytes, ends: list[int], start: int,
                        reader: Any = None) -> DuplicateKeyScan:
    """The duplicate-key scan of revision ``start`` and later. Through ``reader`` when it
    is signflow's reader of these bytes: every object version is parsed anew through it
    (pyHanko warns only while parsing), and its later reads use these parses; otherwise
    through a reader of its own."""
    import bisect
    import io

    from signflow._internal.pyhanko.reader import SignflowPdfReader, open_pdf_reader

    with _duplicate_keys() as seen:
        # a reader of its own reads every trailer here, where its warnings are heard;
        # signflow's reader reports the same byte offsets as pyHanko's
        own = open_pdf_reader(io.BytesIO(data), strict=False)
    trailers = [(bisect.bisect_left(ends, offset), key) for offset, key in seen.found]
    source: Any
    parse: Callable[[Any, int], Any]
    if isinstance(reader, SignflowPdfReader) and \
            reader.xrefs.total_revisions == own.xrefs.total_revisions:
        source, parse = reader, reader.parse_anew
    else:
        source = own

        def parse(ref: Any, revision: int) -> Any:
            return own.get_historical_resolver(revision)(ref)

    listed: dict[int, list[tuple[Any, tuple[int, int, Any]]]] = {}
    found: dict[tuple[int, int, Any], list[str] | str] = {}
    # one listener for all the objects (attaching one per object costs more than the
    # parsing); each object's warnings are those added while it was parsed
    with _duplicate_keys() as seen:
        for revision in range(start, source.xrefs.total_revisions):
            listed[revision] = entries = []
            # (in object-number order: the messages come in the same order from any reader)
            for ref in sorted(source.xrefs.explicit_refs_in_revision(revision),
                              key=lambda r: (r.idnum, r.generation)):
                version = (ref.idnum, ref.generation,
                           source.xrefs.get_historical_ref(ref, revision))
                entries.append((ref, version))
                if version in found:
                    continue  # each version of an object once, as a reader's caches would
                before = len(seen.found)
                try:
                    parse(ref, revision)
                except Exception as exc:
                    found[version] = _reason(exc)
                    continue
                # (one warning per place: signflow's reader may parse an odd object twice)
                found[version] = [key for _offset, key in dict.fromkeys(seen.found[before:])]
    return DuplicateKeyScan(start, trailers, listed, found)
