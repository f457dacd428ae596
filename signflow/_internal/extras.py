"""What an optional part of signflow (an extra: demo, agent, portal) lacks."""

from __future__ import annotations

import importlib
from collections.abc import Mapping


def missing_distributions(requirements: Mapping[str, str]) -> list[str]:
    """The distributions (pip names) of ``requirements`` (module to import -> the
    distribution that provides it) whose module cannot be imported."""
    missing = []
    for module, distribution in requirements.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    return missing
