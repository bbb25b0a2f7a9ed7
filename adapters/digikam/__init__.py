"""digiKam: its SQLite database (tags, smart albums), read and written safely."""
