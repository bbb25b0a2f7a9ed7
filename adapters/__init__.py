"""Host adapters: one module per host, plus shared write-back helpers (XMP via exiftool)."""
