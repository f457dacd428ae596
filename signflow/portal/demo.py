"""The demo round of ``signflow serve`` with no settings: the 2019 example's roster with a
demo PKI (made once in the data folder), its pack generated once, a round of it created
at the first start, and the PKI's timestamp authority served on loopback while the portal
runs (for the archive). Needs the ``[demo]`` extra and LibreOffice, like ``signflow demo``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from signflow.i18n import _
from signflow.portal.config import PortalConfig


@contextlib.contextmanager
def demo_settings(config: PortalConfig,
                  step: Callable[[str], None] = lambda s: None) -> Iterator[PortalConfig]:
    """``config`` completed with the demo's roster, trust root, TSA and pack; the PKI is
    served for as long as the context lasts."""
    from signflow.demo import require_demo_extra

    require_demo_extra()
    from signflow.demo.pki import create_demo_pki, load_demo_pki
    from signflow.demo.services import serve_pki
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack
    from signflow.documents.resources import example_dir
    from signflow.roster import load_roster

    folder = config.data_dir / "demo"
    example = example_dir()
    pki_dir = folder / "pki"
    if (pki_dir / "pki.json").is_file():
        pki = load_demo_pki(pki_dir)
    else:
        step(_("Creating the demo PKI (CAs, certificates, timestamp authority)"))
        pki = create_demo_pki(load_roster(example / "roster.toml"), pki_dir)
    roster = load_roster(example / "roster.toml")
    pack = folder / "pack" / str(roster.cluster.year)
    if not pack.is_dir() or not any(pack.rglob("*.pdf")):
        step(_("Generating the 2019 pack (LibreOffice, about a minute)"))
        generate_pack(roster, load_data([example / "data.toml"]), folder / "pack", pdf=True)
    with serve_pki(pki):
        yield replace(config, roster=pki.roster_path, trust=(pki.root_pem,),
                      tsa=config.tsa or pki.tsa_url, packs=(pack,))


def ensure_demo_round(portal: object) -> None:
    """The first start creates the round of the demo pack, with links for every office."""
    from signflow.portal.service import Portal

    assert isinstance(portal, Portal)
    if portal.rounds():
        return
    (_index, _folder, pdfs) = portal.pack_choices()[0]
    portal.create_round(_("Signing the documents of {year}").format(
        year=portal.roster.cluster.year), [(p.name, p.read_bytes()) for p in pdfs], "demo")


def demo_pki_dir(config: PortalConfig) -> Path:
    return config.data_dir / "demo" / "pki"
