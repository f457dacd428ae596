"""PDF facts every stage needs: reading a file safely, where its revisions end, the
signature anchors and signflow's field names (like pyHanko's ``pdf_utils``, under the
stages that use them)."""
