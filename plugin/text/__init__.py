"""Text in photos: reading it (OCR, in a worker process), choosing which photos to read
(the CLIP gate), and matching a query against it (SQLite FTS5)."""
