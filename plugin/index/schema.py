"""The index's SQLite schema, as the migrations that build it one version at a time: an
index of any earlier version is upgraded in place when it is opened."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from photoplug.errors import IndexFileError

SCHEMA_VERSION = 7
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        pretrained TEXT NOT NULL,
        weights_hash TEXT NOT NULL,
        dim INTEGER NOT NULL,
        UNIQUE (name, pretrained, weights_hash)
    );
    CREATE TABLE locations (
        id INTEGER PRIMARY KEY,
        uri TEXT NOT NULL UNIQUE,
        model_id INTEGER REFERENCES models(id),
        online INTEGER NOT NULL DEFAULT 1,
        indexed_at REAL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        location_id INTEGER NOT NULL REFERENCES locations(id) ON DELETE CASCADE,
        stable_id TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        hash TEXT,
        status TEXT NOT NULL CHECK (status IN ('ok', 'skipped')),
        reason TEXT,
        host_ref TEXT NOT NULL DEFAULT '{}',
        UNIQUE (location_id, stable_id)
    );
    CREATE INDEX photos_hash ON photos(hash);
    CREATE TABLE embeddings (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, hash)
    ) WITHOUT ROWID;
    """,
    2: """
    CREATE TABLE text_embeddings (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, text)
    ) WITHOUT ROWID;
    """,
    # a counter every change to photos or embeddings bumps (any writer, any process):
    # the vector cache files beside the index are valid for one value of it
    3: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('generation', 0);
    """ + "".join(f"""
    CREATE TRIGGER {table}_{op.lower()}_bumps AFTER {op} ON {table}
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    """ for table in ("photos", "embeddings") for op in ("INSERT", "UPDATE", "DELETE")),
    # the runtime that made each image vector: exact ones (torch, openvino, onnx) share a
    # model, int8 is a model of its own (``#onnx-int8``); before 4 only torch and int8 ran
    4: """
    ALTER TABLE embeddings ADD COLUMN backend TEXT NOT NULL DEFAULT 'torch';
    UPDATE embeddings SET backend = 'onnx-int8' WHERE model_id IN
        (SELECT id FROM models WHERE pretrained LIKE '%#onnx-int8');
    """,
    # videos: a vector per frame (time in seconds). Files skipped before are tried once
    # more: RAW files without a preview and lone videos are readable now.
    5: """
    CREATE TABLE frames (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        hash TEXT NOT NULL,
        time REAL NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model_id, hash, time)
    ) WITHOUT ROWID;
    """ + "".join(f"""
    CREATE TRIGGER frames_{op.lower()}_bumps AFTER {op} ON frames
    BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    """ for op in ("INSERT", "UPDATE", "DELETE")) + """
    UPDATE photos SET mtime = -1 WHERE status = 'skipped';
    """,
    # text in photos (OCR), keyed by content hash like the vectors: what the reader
    # ``engine`` found (``state``: text, none, gated, failed), ``sample`` marks photos read
    # to measure the gate. ``tokens`` is the text with each CJK character spaced apart, so
    # FTS5 (accents folded) finds a Chinese word inside a longer run.
    6: """
    CREATE TABLE texts (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        engine TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('text', 'none', 'gated', 'failed')),
        sample INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        text TEXT NOT NULL DEFAULT '',
        tokens TEXT NOT NULL DEFAULT ''
    );
    CREATE VIRTUAL TABLE texts_fts USING fts5(tokens, content='texts', content_rowid='id',
                                             tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER texts_ai AFTER INSERT ON texts BEGIN
        INSERT INTO texts_fts(rowid, tokens) VALUES (new.id, new.tokens); END;
    CREATE TRIGGER texts_ad AFTER DELETE ON texts BEGIN
        INSERT INTO texts_fts(texts_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
    END;
    CREATE TRIGGER texts_au AFTER UPDATE ON texts BEGIN
        INSERT INTO texts_fts(texts_fts, rowid, tokens) VALUES ('delete', old.id, old.tokens);
        INSERT INTO texts_fts(rowid, tokens) VALUES (new.id, new.tokens);
    END;
    """,
    # a location re-indexed with another model keeps answering with the one it has
    # (``model_id``) until the new one (``next_model_id``) holds every photo; and each
    # content's look (a 64-bit pHash, signed to fit SQLite's integer, with the pixel size
    # and what the best copy among duplicates is chosen by: a grey thumbnail, sharpness,
    # the share of clipped values; ``reason``: why it could not be read), computed once
    7: """
    ALTER TABLE locations ADD COLUMN next_model_id INTEGER REFERENCES models(id);
    CREATE TABLE looks (
        hash TEXT PRIMARY KEY,
        phash INTEGER,
        thumb BLOB,
        width INTEGER,
        height INTEGER,
        sharpness REAL,
        clipped REAL,
        reason TEXT
    ) WITHOUT ROWID;
    """,
}


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring ``db`` to ``SCHEMA_VERSION``; refuse a newer index, or an SQLite file that is
    not an index."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise IndexFileError(f"{path} was written by a newer photoplug (schema {version},"
                             f" this one knows up to {SCHEMA_VERSION}); upgrade photoplug")
    if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise IndexFileError(f"{path} is an SQLite file but not a photoplug index")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[target]};"
                         f" PRAGMA user_version = {target}; COMMIT;")
