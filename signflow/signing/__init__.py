"""Signing: PAdES signatures by the right person, in the right field, in the right order.

- ``credentials``: keys on a PKCS#11 token or in a PKCS#12 file, opened once for many
  documents;
- ``policy``: who may sign what, and when (checked for every document before anything is
  written);
- ``signer``: the signature itself, as a new incremental revision written atomically under
  the document's lock;
- ``appearance``: what the signature looks like on the page (Decree 30/2020, Appendix I);
- ``timestamps``: RFC 3161 timestamps;
- ``archive``: validation data and a document timestamp (PAdES B-LTA).

A new signing back-end (a remote-signing service, say) is a new kind of
``credentials.Credential``: a pyHanko ``Signer`` with its certificate; nothing else changes.
"""
