"""What people read: the HTML verification report (``report``, self-contained, prints on
A4) and the terminal tables (``tables``). Renderers only read plain verdicts."""
