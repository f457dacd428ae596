"""The agent's pages, one module each: its routes (``routes(agent)``) and its template.

- ``home``: open or drop a PDF; the documents opened in this session
- ``document``: the pages with the signature fields drawn on them, who has signed, who is
  next, a «Ký số» action per field that may be signed now; the file and the report
- ``sign``: sign one field: the token key, the PIN (typed here only); a portal's request
  is confirmed on the same page
- ``result``: the signature made and the verification of the signed file
- ``ceremony``: the signing ceremony for a projector: who is next, the token plugged in,
  the PIN, the signed page, skipping someone, the archive and the report

A new page is a module here with ``routes(agent)``, a template in
``signflow/agent/templates``, and its entry in ``PAGES``.
"""

from __future__ import annotations

from signflow.agent.pages import ceremony, document, home, result, sign

PAGES = (home, document, sign, result, ceremony)
