"""The demo: the whole flow on the 2019 example with a demo PKI (CAs, certificates, a
timestamp authority, OCSP and CRLs served on 127.0.0.1, a SoftHSM2 token), for training,
the test suite and the benchmarks.

It needs the ``[demo]`` extra (certomancer, werkzeug, PyYAML), which a signing tool does
not: ``pip install 'signflow[demo]'``. Importing this package is cheap; its modules check
for the extra first (``require_demo_extra``) and say in one line what to install.
"""

from __future__ import annotations

# module to import -> distribution that provides it
DEMO_REQUIREMENTS = {"certomancer": "certomancer", "werkzeug": "werkzeug", "yaml": "pyyaml"}


def require_demo_extra() -> None:
    """Raise ToolMissingError naming the extra when a package of the demo is missing."""
    from signflow._internal.extras import missing_distributions

    missing = missing_distributions(DEMO_REQUIREMENTS)
    if missing:
        from signflow.errors import ToolMissingError
        from signflow.i18n import _

        raise ToolMissingError(_(
            "the demo needs packages that are not installed ({missing}): install them with "
            "pip install 'signflow[demo]'").format(missing=", ".join(missing)))
