"""What hosts share: XMP sidecars, the write journal, waiting for a host, SQLite backup and transaction."""
