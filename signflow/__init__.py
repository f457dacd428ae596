"""signflow: documents that several parties must sign, and proof years later that they did."""

__version__ = "0.1.0"
