"""Validation: is every required signature present, valid, made by the right person, and
unchanged since?

- ``revisions``: what a document has been through: its fields, its signatures, each
  revision compared with the one before it (the engine every other stage asks);
- ``workflow``: the strict workflow policy: every later revision judged against what the
  *first* signature covered (fields, pages, rectangles, anchors), never the latest state;
- ``verify``: per signature integrity, trust, revocation, trusted time, PAdES level,
  changes after it; per file completeness against the roster and the order rules;
- ``verdicts``: the plain data it produces (the JSON schema of ``signflow verify --json``);
- ``status``: who has signed and who is next, for the secretariat.
"""
