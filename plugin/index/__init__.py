"""The index: scan and diff a library, encode, store vectors, and search them fast."""
