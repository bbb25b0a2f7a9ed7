"""Value types that cross the hook boundary between hosts, the plugin and extensions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, runtime_checkable


class LocationError(Exception):
    """A location string cannot be opened (unknown adapter, missing folder, bad database)."""


@dataclass(frozen=True)
class PhotoRef:
    """One photo as a host lists it.

    ``stable_id`` survives re-scans (a relative path, a digiKam image id, a Photos UUID);
    ``host_ref`` is the host's own reference, JSON-serialisable. ``problem`` says why an
    entry the host lists cannot be read at all (a broken link, say); it is then recorded
    as skipped. ``offline`` marks a photo on storage not mounted now: the index keeps
    whatever it has for it.
    """

    stable_id: str
    path: Path
    size: int
    mtime: float
    host_ref: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    offline: bool = False


@runtime_checkable
class Library(Protocol):
    """An opened location: lists its photos. Writing back goes through the write hooks."""

    uri: str  # canonical location string, e.g. "folder:/home/me/Pictures"

    def available(self) -> bool:
        """False when the root is missing or unmounted (its photos are then kept offline)."""

    def scan(self) -> Iterator[PhotoRef]:
        """Yield every photo the host lists."""


@runtime_checkable
class Adapter(Protocol):
    """A host type. ``scheme`` is the prefix of its locations (``folder`` in ``folder:PATH``)."""

    scheme: str
    description: str

    def open(self, target: str, **options: Any) -> Library:
        """Open the part of a location string after ``scheme:``; raise LocationError if it can't.

        ``options`` carry scan settings such as ``exclude`` globs; ignore unknown ones.
        How to write is not among them: ``WriteOptions`` travel with each write.
        """


@dataclass(frozen=True)
class QueryTerm:
    """One part of a query: text or an image file, with a signed weight."""

    value: str
    weight: float = 1.0
    is_image: bool = False


@dataclass(frozen=True)
class Query:
    """A combined query: the weighted sum of its terms' normalised embeddings."""

    terms: tuple[QueryTerm, ...]

    @property
    def text(self) -> str:
        """A readable form, for re-rankers and logs."""
        parts = []
        for t in self.terms:
            sign = "-" if t.weight < 0 else "+"
            parts.append(f"{sign}{abs(t.weight):g}:{t.value}")
        return " ".join(parts)


@dataclass
class SearchResult:
    """One hit. ``score`` is the cosine similarity to the combined query; for a video,
    ``time`` is the seconds into it of the frame that matched best (None for a photo)."""

    path: Path
    score: float
    id: str
    location: str
    host_ref: dict[str, Any] = field(default_factory=dict)
    time: float | None = None
    match: str | None = None  # "good" or "weak", once judged against the vocabulary
    margin: float | None = None  # nats above (or below) the photo's best other description
    probability: float | None = None  # a sigmoid model's own p(the query fits)
    taken: str | None = None  # capture date (ISO), when asked to sort by it
    similar: list[SearchResult] = field(default_factory=list)  # near-identical, folded in
    text: str | None = None  # the line of text in the photo that matched the query
    text_spans: tuple[tuple[int, int], ...] = ()  # [start, end) of the matched words in it

    def as_json(self, rank: int) -> dict[str, Any]:
        """The JSON of ``search --json``: ``time`` only for a video, the judgement and
        the near-identical photos folded into this one when there are."""
        out: dict[str, Any] = {"rank": rank, "path": str(self.path),
                               "score": round(float(self.score), 6), "id": self.id,
                               "location": self.location, "host_ref": self.host_ref}
        if self.time is not None:
            out["time"] = round(self.time, 3)
        if self.match is not None:
            out["match"] = self.match
            out["margin_nats"] = None if self.margin is None else round(self.margin, 3)
        if self.probability is not None:
            out["probability"] = round(self.probability, 4)
        if self.taken is not None:
            out["taken"] = self.taken
        if self.text is not None:  # a match of the words in the photo
            out["text"] = self.text
            out["text_spans"] = [list(span) for span in self.text_spans]
        if self.similar:
            out["similar"] = [s.as_json(rank) for s in self.similar]
        return out


@dataclass(frozen=True)
class PhotoText:
    """What a text reader (OCR) found in one photo: its lines of text, in reading order
    (none: no text), or why it could not be read (``failed``: a crash, a time-out)."""

    lines: tuple[str, ...] = ()
    failed: str | None = None


@dataclass
class WritePlan:
    """One command's changes to one library, written together: one transaction and one
    backup where the host has a database. Keywords are photoplug's own (namespaced by the
    host); an album holds exactly its members afterwards."""

    add_keywords: dict[str, set[str]] = field(default_factory=dict)  # id -> keywords
    remove_keywords: dict[str, set[str]] = field(default_factory=dict)  # id -> keywords
    albums: dict[str, set[str]] = field(default_factory=dict)  # name -> stable ids
    # photos to mark rejected (digiKam's pick label, darktable's reject); undo gives back
    # the mark each had. A host without such a mark refuses the whole plan in one line.
    reject: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (any(self.add_keywords.values()) or any(self.remove_keywords.values())
                    or self.albums or self.reject)


@dataclass(frozen=True)
class WriteOptions:
    """How one command writes into a host, passed with each write and undo (never when a
    library is opened). A host uses the settings that apply to it and ignores the rest."""

    dry_run: bool = False  # report what would change, write nothing
    force: bool = False  # write even while the host has its database open
    wait: bool = False  # when the host has its database open, write once it closes
    keep_backups: int | None = None  # backups of the database kept (None: the host's own)
    sidecars: bool = False  # keywords into the photos' XMP sidecars too, beside the database
    handoff: Path | None = None  # a running host's own module makes the changes: they go here


@dataclass
class HostState:
    """What photoplug's namespace holds in a host now: albums and keywords by stable id.

    Read before and after each write, so photoplug can tell its own writes from the
    user's edits. A host reports at least the albums and keywords it is asked about."""

    albums: dict[str, set[str]] = field(default_factory=dict)  # name -> members
    keywords: dict[str, set[str]] = field(default_factory=dict)  # keyword -> stable ids


@dataclass
class WriteReport:
    """What a write-back (or undo) changed, or would change under ``dry_run``."""

    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)  # what was kept as the user left it
