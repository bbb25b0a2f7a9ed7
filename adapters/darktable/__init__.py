"""darktable: its library database, and photoplug's module in its lighttable."""
