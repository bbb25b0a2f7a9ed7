"""The darktable host: ``darktable:PATH`` (``library.db``, or darktable's config folder;
``darktable:`` alone is the user's own).

Photos are darktable's images (film roll folder + file name), their stable id darktable's
image id; images in a folder that is not there (a drive not plugged in) are kept offline.
Indexing only reads. Keywords become tags ``photoplug|tags|KEYWORD`` and albums tags
``photoplug|albums|NAME`` (darktable's collections module shows a tag as a collection:
the smart album). They are written while darktable is closed (its lock files say when it
runs; ``wait`` waits), after one backup of both databases, in one transaction; every tag
photoplug creates is recorded beside the library, so undo removes exactly those.

While darktable runs, photoplug's Lua module writes for it: it runs photoplug with
``--handoff FILE`` (``WriteOptions.handoff``), where a write then puts the links to make
and take off (``{"attach": {tag: [image ids]}, "detach": {…}}``) instead of touching the
databases, and makes them through darktable's own Lua API.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping

from photoplug.adapters.darktable.db import (
    SEPARATOR,
    LibraryOps,
    Versions,
    apply_ops,
    check,
    check_writable,
    config_dir,
    connect,
    describe,
    plan_ops,
    reject_flags,
    tag_name,
    tagged,
    tags_named,
)
from photoplug.adapters.darktable.process import darktable_using
from photoplug.adapters.common.host_process import wait_while
from photoplug.adapters.common.sqlite_write import KEEP_BACKUPS, backup, immediate_transaction
from photoplug.adapters.common.host_hooks import library_hooks
from photoplug.adapters.common.rejects import Rejects
from photoplug.hooks import (HostState, LocationError, PhotoRef, WriteOptions, WritePlan,
                             WriteReport, hookimpl)

LIBRARY, DATA = "library.db", "data.db"
COLOURS = {"red": 0, "yellow": 1, "green": 2, "blue": 3, "magenta": 4}  # color_labels.color
EPOCH = dt.datetime(1, 1, 1)  # datetime_taken: microseconds since (GLib's GDateTime)


def find_databases(target: str) -> tuple[Path, Path]:
    """``library.db`` and its ``data.db``: a config folder holds both; beside a library
    file elsewhere (darktable's ``--library``) without one, the user's own is used."""
    path = Path(target).expanduser().absolute() if target else config_dir()
    if path.is_dir() or not target:
        return path / LIBRARY, path / DATA
    data = path.with_name(DATA)
    return path, data if data.exists() else config_dir() / DATA


class DarktableLibrary:
    """One darktable library (``library.db`` with its ``data.db``)."""

    def __init__(self, library: Path, data: Path) -> None:
        self.library = library
        self.data = data
        self.uri = f"darktable:{library}"
        self._handed_off: LibraryOps | None = None

    def available(self) -> bool:
        return self.library.is_file()

    def _read(self) -> sqlite3.Connection:
        if not self.data.is_file():
            raise LocationError(f"{self.data} does not exist: darktable keeps its tags there")
        db = connect(self.library, self.data)
        try:
            check(db, self.library, self.data)
        except LocationError:
            db.close()
            raise
        return db

    def versions(self) -> Versions:
        with closing(self._read()) as db:
            return check(db, self.library, self.data)

    def _rows(self) -> list[tuple[int, str, str]]:
        with closing(self._read()) as db:
            return db.execute("SELECT i.id, f.folder, i.filename FROM main.images i JOIN "
                              "main.film_rolls f ON f.id = i.film_id ORDER BY i.id").fetchall()

    def scan(self) -> Iterator[PhotoRef]:
        """Every image; those in a folder that is not here are listed offline."""
        present: dict[str, bool] = {}
        for image_id, folder, name in self._rows():
            if folder not in present:
                present[folder] = Path(folder).is_dir()
            path = Path(folder) / name
            host_ref = {"imgid": image_id, "folder": folder, "filename": name}
            if not present[folder]:
                yield PhotoRef(str(image_id), path, 0, 0.0, host_ref, offline=True)
                continue
            try:
                st = path.stat()
            except OSError as exc:
                yield PhotoRef(str(image_id), path, 0, 0.0, host_ref,
                               problem=f"listed by darktable but unreadable: {exc.strerror}")
                continue
            yield PhotoRef(str(image_id), path, st.st_size, st.st_mtime, host_ref)

    def _folders(self) -> list[str]:
        with closing(self._read()) as db:
            return [f for (f,) in db.execute("SELECT folder FROM main.film_rolls ORDER BY folder")]

    def roots(self) -> list[Path]:
        return [Path(f) for f in self._folders() if Path(f).is_dir()]

    def offline_roots(self) -> list[str]:
        return [f"{f}: not there" for f in self._folders() if not Path(f).is_dir()]

    def notes(self) -> list[str]:
        versions = self.versions()
        how = "photoplug writes it while darktable is closed" if versions.writable() else \
            "newer than photoplug knows: written only through photoplug's Lua module"
        return [f"darktable library version {versions.library} (data.db {versions.data}): "
                f"{how}"]

    def select(self, album: str | None = None, tags: Collection[str] = (),
               rating: int | None = None, color_label: str | None = None,
               pick_label: str | None = None, since: str | None = None,
               until: str | None = None) -> set[str]:
        """Image ids matching darktable's own knowledge: a folder (with its subfolders),
        tags (``places|Paris``, with the tags below them), a minimum star rating (rejected
        images excluded), a colour label, and a capture-date range (inclusive)."""
        if pick_label:
            raise LocationError("darktable has no pick labels (use --rating)")
        sql = ["SELECT i.id FROM main.images i JOIN main.film_rolls f ON f.id = i.film_id "
               "WHERE 1"]
        args: list[Any] = []
        with closing(self._read()) as db:
            if album:
                folder = str(Path(album).expanduser().absolute())
                sql.append("AND (f.folder = ? OR f.folder LIKE ? ESCAPE '\\')")
                args += [folder, _like_prefix(folder.rstrip(os.sep) + os.sep)]
            for tag in tags:  # darktable has no rows for levels above a tag
                below = "d.name = ? OR d.name LIKE ? ESCAPE '\\'"
                if not db.execute(f"SELECT 1 FROM data.tags d WHERE {below}",
                                  (tag, _like_prefix(tag + SEPARATOR))).fetchone():
                    raise LocationError(f"darktable has no tag {tag}")
                sql.append("AND i.id IN (SELECT t.imgid FROM main.tagged_images t JOIN "
                           f"data.tags d ON d.id = t.tagid WHERE {below})")
                args += [tag, _like_prefix(tag + SEPARATOR)]
            if rating is not None:
                sql.append("AND (i.flags & 7) >= ? AND (i.flags & 7) < 6 AND (i.flags & 8) = 0")
                args.append(rating)
            if color_label == "none":
                sql.append("AND i.id NOT IN (SELECT imgid FROM main.color_labels)")
            elif color_label:
                if color_label not in COLOURS:
                    raise LocationError(f"darktable has no {color_label} colour label")
                sql.append("AND i.id IN (SELECT imgid FROM main.color_labels WHERE color = ?)")
                args.append(COLOURS[color_label])
            for bound, op, day in ((since, ">=", 0), (until, "<", 1)):
                if bound:  # microseconds (4.x) or "YYYY:MM:DD hh:mm:ss" (older)
                    sql.append(f"AND CASE typeof(i.datetime_taken) WHEN 'integer' THEN "
                               f"i.datetime_taken {op} ? ELSE i.datetime_taken {op} ? END")
                    args += _taken_bounds(bound, day)
            return {str(i) for (i,) in db.execute(" ".join(sql), args)}

    # -- write-back -------------------------------------------------------------------

    @property
    def ledger_path(self) -> Path:
        """photoplug's record of its writes here (the user's corrections come from it),
        in a hidden folder beside the library."""
        return self.library.with_name(".photoplug") / f"{self.library.name}.ledger.json"

    @property
    def created_path(self) -> Path:
        """The names of the tags photoplug (or its Lua module) created, one a line."""
        return self.library.with_name(".photoplug") / f"{self.library.name}.tags"

    def created_tags(self) -> list[str]:
        try:
            lines = self.created_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return list(dict.fromkeys(line for line in lines if line))

    def _record_created(self, names: list[str]) -> None:
        """Noted before the tags exist: a run that dies midway leaves a name too many, never
        a tag of photoplug's that undo would not know."""
        if names:
            self.created_path.parent.mkdir(parents=True, exist_ok=True)
            with self.created_path.open("a", encoding="utf-8") as out:
                out.write("".join(f"{name}\n" for name in names))

    def _write(self, options: WriteOptions, make_ops: Callable[[sqlite3.Connection], LibraryOps]
               ) -> WriteReport:
        """``make_ops`` planned on the databases as they are (all a dry run does), then
        after one backup of both, planned again and made in one transaction."""
        if not self.available():
            raise LocationError(f"{self.library} does not exist")
        check_writable(self.versions(), self.library)
        if not options.dry_run and not options.force:
            self._wait_for_darktable(options.wait)
        with closing(self._read()) as db:
            ops = make_ops(db)
            report = WriteReport(changes=describe(db, ops), dry_run=options.dry_run)
        if options.dry_run or ops.empty():
            return report
        keep = options.keep_backups or KEEP_BACKUPS
        saved = [backup(path, keep)[0] for path in (self.library, self.data)]
        report.changes = self._transaction(make_ops)
        report.notes.append(f"backup of the databases before writing: {saved[0]} and "
                            f"{saved[1]} (the newest {keep} are kept)")
        return report

    def _wait_for_darktable(self, wait: bool) -> None:
        running = darktable_using([self.library, self.data])
        if running is None:
            return
        if not wait:
            raise LocationError(f"{running}: close it first (it would not see photoplug's "
                                f"tags; the Lua module writes while it runs), or pass --wait "
                                f"to write once it closes")
        wait_while(lambda: darktable_using([self.library, self.data]))
        check_writable(self.versions(), self.library)  # it may have upgraded them meanwhile

    def _transaction(self, make_ops: Callable[[sqlite3.Connection], LibraryOps]) -> list[str]:
        db, rejects, marked = connect(self.library, self.data, readonly=False), self._rejects(), {}
        try:
            with immediate_transaction(db, self.library, "darktable"):
                ops = make_ops(db)
                changes = describe(db, ops)
                existing = tags_named(db, ops.attach)
                self._record_created(sorted(n for n, ids in ops.attach.items()
                                            if ids and n not in existing))
                marked = {str(i): None for i in ops.reject}
                rejects.add(marked)  # noted before the commit, as the tags are
                apply_ops(db, ops)
        except BaseException:
            rejects.remove(marked)
            raise
        return changes

    def _hand_off(self, handoff: Path, dry_run: bool,
                  make_ops: Callable[[sqlite3.Connection], LibraryOps]) -> WriteReport:
        """The Lua module's write: the changes into the ``handoff`` file, for darktable."""
        with closing(self._read()) as db:
            ops = make_ops(db)
            report = WriteReport(changes=describe(db, ops), dry_run=dry_run)
            existing = tags_named(db, ops.attach)
        if dry_run or ops.empty():
            return report
        self._record_created(sorted(n for n, ids in ops.attach.items()
                                    if ids and n not in existing))
        tmp = handoff.with_name(handoff.name + ".tmp")
        tmp.write_text(json.dumps(ops.as_json(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, handoff)
        self._handed_off = ops
        report.notes.append("darktable makes these changes (photoplug's Lua module)")
        return report

    @property
    def reject_mark(self) -> str:
        return "darktable's reject"

    def _rejects(self) -> Rejects:
        return Rejects(self.ledger_path.with_name(f"{self.library.name}.rejected.json"))

    def write(self, plan: WritePlan, options: WriteOptions) -> WriteReport:
        """Keywords added and taken off, albums set to exactly their members and rejects:
        into the databases, or with ``options.handoff`` into that file for the Lua module
        (which does not reject)."""
        attach, detach = _keyword_tags(plan.add_keywords), _keyword_tags(plan.remove_keywords)
        exact = {album_tag(name): {int(m) for m in members}
                 for name, members in plan.albums.items()}
        rejects, kept = self._rejects(), set()

        def make_ops(db: sqlite3.Connection) -> LibraryOps:
            ops = plan_ops(db, attach, detach, exact)
            if plan.reject:
                flags = reject_flags(db, {int(s) for s in plan.reject | set(rejects.before)})
                planned = rejects.plan({s for s in plan.reject if int(s) in flags},
                                       {str(i) for i, flag in flags.items() if flag}, {})
                ops.reject = {int(sid) for sid in planned.mark}
                kept.update(planned.kept)
            return ops
        if options.handoff is not None:
            if plan.reject:
                raise LocationError("darktable's Lua module does not mark rejects: run it "
                                    "with darktable closed")
            return self._hand_off(options.handoff, options.dry_run, make_ops)
        report = self._write(options, make_ops)
        if kept:
            report.notes.append(f"{len(kept)} photos you took photoplug's reject off stay "
                                f"as you left them")
        return report

    def read_back(self, expected: HostState) -> HostState:
        """What photoplug's album and keyword tags are on now, by image id (with what the
        Lua module is about to make, after a handoff)."""
        albums = {album_tag(name): name for name in expected.albums}
        words = {keyword_tag(word): word for word in expected.keywords}
        with closing(self._read()) as db:
            now = tagged(db, [*albums, *words])
        if self._handed_off is not None:
            for name, ids in now.items():
                ids -= self._handed_off.detach.get(name, set())
                ids |= self._handed_off.attach.get(name, set())
        return HostState({albums[t]: set(map(str, now[t])) for t in albums},
                         {words[t]: set(map(str, now[t])) for t in words})

    def undo(self, options: WriteOptions) -> WriteReport:
        """photoplug's tags (and the Lua module's) with all their links, and its rejects
        taken off where you left them; never a tag of yours. Always into the databases
        (darktable closed)."""
        created, rejects = self.created_tags(), self._rejects()

        def make_ops(db: sqlite3.Connection) -> LibraryOps:
            flags = reject_flags(db, {int(sid) for sid in rejects.before})
            back = rejects.to_give_back({str(i) for i, flag in flags.items() if flag})
            return LibraryOps(delete=created, unreject={int(sid) for sid in back})
        report = self._write(options, make_ops)
        if not options.dry_run:
            self.created_path.unlink(missing_ok=True)
            # the Lua module's list of its latest searches, whose tags are gone now
            self.created_path.with_name(f"{self.library.name}.searches").unlink(
                missing_ok=True)
            rejects.clear()
            with suppress(OSError):
                self.ledger_path.parent.rmdir()  # if nothing else is in it
        return report


def keyword_tag(word: str) -> str:
    """``photoplug|tags|animals|dog`` for the keyword ``animals/dog``."""
    return tag_name("tags", *word.strip("/").split("/"))


def album_tag(name: str) -> str:
    return tag_name("albums", name)


def _keyword_tags(keywords: Mapping[str, Collection[str]]) -> dict[str, set[int]]:
    by_tag: dict[str, set[int]] = {}
    for stable_id, words in keywords.items():
        for word in words:
            by_tag.setdefault(keyword_tag(word), set()).add(int(stable_id))
    return by_tag


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _taken_bounds(day: str, add_days: int) -> list[Any]:
    """The start of ``day`` (+ ``add_days``) as both forms of ``datetime_taken``."""
    try:
        when = dt.datetime.strptime(day, "%Y-%m-%d") + dt.timedelta(days=add_days)
    except ValueError:
        raise LocationError(f"{day!r} is not a date (YYYY-MM-DD)") from None
    return [(when - EPOCH) // dt.timedelta(microseconds=1), when.strftime("%Y:%m:%d")]


class DarktableAdapter:
    scheme = "darktable"
    description = "a darktable library (library.db, or its config folder); tags in it"

    def open(self, target: str, **_: Any) -> DarktableLibrary:
        opened = DarktableLibrary(*find_databases(target))
        if opened.available():
            opened.versions()  # both databases and their versions checked up front
        return opened


@hookimpl
def photoplug_adapters() -> list[DarktableAdapter]:
    return [DarktableAdapter()]


photoplug_write, photoplug_read_back, photoplug_undo = library_hooks(DarktableLibrary)


@hookimpl
def photoplug_commands(cli: Any) -> None:
    """``photoplug darktable install|uninstall``."""
    from photoplug.adapters.darktable.commands import darktable
    cli.add_command(darktable)
