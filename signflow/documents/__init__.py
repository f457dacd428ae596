"""Documents: from the roster and the year's content to PDF/A files ready to sign.

In the order of the data's path:

- ``data``: the year's content (TOML), merged from several files;
- ``context``: the kinds of document and what each template sees;
- ``render``: docxtpl in a sandbox, strict about undefined values, escaping everything;
- ``lint``: ``signflow templates check``: syntax, variables, signature anchors;
- ``generate``: the whole pack for a year, and its manifest;
- ``convert``: headless LibreOffice to PDF/A-2b, batched, checked, atomic;
- ``fields``: one empty signature field per member and role, at the anchors, in one
  revision before anyone signs;
- ``resources``: the templates and the 2019 example shipped inside the package.
"""
