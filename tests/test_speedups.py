"""signflow's memoised certificate-name comparison answers exactly as asn1crypto's own
(RFC 5280 7.1: case-insensitive, whitespace-folded, whatever the string type)."""

from __future__ import annotations

import itertools

from asn1crypto import x509


def _name(cn: str, org: str, kind: str = "utf8_string") -> x509.Name:
    rdns = [
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "country_name", "value": x509.DirectoryString(name="printable_string",
                                                                  value="VN")})]),
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "organization_name", "value": x509.DirectoryString(name=kind, value=org)})]),
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "common_name", "value": x509.DirectoryString(name=kind, value=cn)})]),
    ]
    # parsed back, as names met in signatures are
    return x509.Name.load(x509.Name(name="", value=x509.RDNSequence(rdns)).dump())


def test_name_comparison_matches_asn1crypto():
    from signflow._internal.pyhanko import speedups as _speedups

    names = [
        _name("Lê Thị Thu Hường", "Thanh tra tỉnh Hà Nam"),
        _name("Lê Thị Thu Hường", "Thanh tra tỉnh Hà Nam"),  # same bytes, another object
        _name("LÊ THỊ THU HƯỜNG", "Thanh tra tỉnh Hà Nam"),  # case differs: equal names
        _name("Lê  Thị Thu Hường ", "Thanh tra tỉnh Hà Nam"),  # spaces fold: equal
        _name("Le Thi Thu Huong", "Thanh tra tinh Ha Nam", "printable_string"),
        _name("Le Thi Thu Huong", "Thanh tra tinh Ha Nam", "utf8_string"),  # type differs
        _name("Trần Quốc Việt", "Thanh tra tỉnh Nam Định"),
    ]
    # asn1crypto's own answers (the originals, also when another test patched them)
    equal = getattr(x509.Name.__eq__, "original", x509.Name.__eq__)
    prepared = x509.Name.hashable.fget
    prepared = getattr(prepared, "original", prepared)
    expected = {(i, j): equal(a, b) for (i, a), (j, b) in itertools.product(enumerate(names),
                                                                             repeat=2)}
    hashables = [prepared(n) for n in names]
    assert expected[(0, 1)] and expected[(0, 2)] and expected[(0, 3)]
    assert not expected[(0, 6)] and not expected[(0, 4)]

    _speedups._name_equality_fast_path()
    assert getattr(x509.Name.__eq__, "signflow_fast", False)
    fresh = [x509.Name.load(n.dump()) for n in names]  # no cached preparation
    for _round in range(2):  # computed, then remembered
        for (i, a), (j, b) in itertools.product(enumerate(fresh), repeat=2):
            assert (a == b) == expected[(i, j)], (i, j)
            assert (a != b) != expected[(i, j)], (i, j)
    assert [n.hashable for n in fresh] == hashables
