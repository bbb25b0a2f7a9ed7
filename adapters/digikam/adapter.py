"""The digiKam host: ``digikam:PATH`` (``digikam4.db`` or the folder that holds it).

Photos are digiKam's visible items (not trashed, obsolete or hidden) of its categories
image and video, their stable id digiKam's image id. Indexing only reads the database.
Write-back puts keywords under ``photoplug/tags/…``, albums under ``photoplug/albums/…``
with one saved search each, after a timestamped backup, in one transaction, and never
while a digiKam has this database open (unless forced; ``wait`` waits for it to close); with
``--sidecars`` the keywords also go into each photo's XMP sidecar under the same path
(``photoplug/tags/beach``), so digiKam's "Read metadata from files" finds the tag
photoplug made instead of making a second one.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping

from photoplug.adapters.digikam.db import (
    IMAGE,
    ROOT_TAG,
    VISIBLE,
    Writer,
    album_roots,
    internal_tag,
    our_tag,
    tag_by_path,
    tagged,
    check_version,
    check_writable,
)
from photoplug.adapters.digikam.process import (
    database_settings,
    digikam_using,
    digikamrc,
)
from photoplug.adapters.common.host_process import wait_while
from photoplug.adapters.common.sqlite_write import (KEEP_BACKUPS, backup, connect_readonly,
                                                   immediate_transaction)
from photoplug.adapters.common.rejects import RejectPlan, Rejects
from photoplug.adapters.common.sidecars import SidecarKeywords
from photoplug.adapters.digikam.labels import REJECTED, pick_labels, set_pick_labels
from photoplug.adapters.common.host_hooks import library_hooks
from photoplug.hooks import (HostState, LocationError, PhotoRef, WriteOptions, WritePlan,
                             WriteReport, hookimpl)
from photoplug.media.formats import live_motions

DB_NAME = "digikam4.db"
# Images.category of what photoplug indexes: digiKam's DatabaseItem::Category Image (1) and
# Video (2) (core/libs/database/coredb/coredbconstants.h); not Audio (3) or Other (4)
CATEGORIES = (IMAGE, 2)
KEYWORD_PATH = (ROOT_TAG, "tags")  # where keywords are tags, in the database and sidecars


class DigikamLibrary:
    """One digiKam collection database."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.uri = f"digikam:{db_path}"
        # sidecars live beside the photos; their journal beside the database
        self.sidecars = SidecarKeywords(Path("/"), db_path.with_name("photoplug-sidecars"),
                                        parents=KEYWORD_PATH)

    def available(self) -> bool:
        return self.db_path.is_file()

    def _read(self) -> sqlite3.Connection:
        db = connect_readonly(self.db_path)
        try:
            check_version(db, self.db_path)
        except LocationError:
            db.close()
            raise
        return db

    def scan(self) -> Iterator[PhotoRef]:
        """Visible images and videos (a Live Photo's ``.MOV`` goes with its still); those on
        album roots not mounted here are listed offline."""
        with closing(self._read()) as db:
            roots = album_roots(db)
            rows = db.execute("""
                SELECT i.id, i.name, a.relativePath, a.albumRoot
                FROM Images i JOIN Albums a ON a.id = i.album
                WHERE i.status = ? AND i.category IN (?, ?) ORDER BY i.id""",
                              (VISIBLE, *CATEGORIES)).fetchall()
        names: dict[tuple[int, str], list[str]] = {}  # per album: its files
        for _, name, album, root_id in rows:
            names.setdefault((root_id, album), []).append(name)
        motions = {(root_id, album, name) for (root_id, album), listed in names.items()
                   for name in live_motions(listed)}
        for image_id, name, album, root_id in rows:
            if (root_id, album, name) in motions:
                continue  # a Live Photo's motion: its still stands for both
            root = roots.get(root_id)
            host_ref = {"imageid": image_id, "album": album, "name": name}
            if root is None or root.path is None:
                yield PhotoRef(str(image_id), Path(album) / name, 0, 0.0, host_ref,
                               offline=True)
                continue
            path = root.path / album.strip("/") / name
            try:
                st = path.stat()
            except OSError as exc:
                yield PhotoRef(str(image_id), path, 0, 0.0, host_ref,
                               problem=f"listed by digiKam but unreadable: {exc.strerror}")
                continue
            yield PhotoRef(str(image_id), path, st.st_size, st.st_mtime, host_ref)

    def select(self, album: str | None = None, tags: Collection[str] = (),
               rating: int | None = None, color_label: str | None = None,
               pick_label: str | None = None, since: str | None = None,
               until: str | None = None) -> set[str]:
        """Image ids matching digiKam's own knowledge: album (with sub-albums), tags (with
        the tags below them, People tags from face recognition too), minimum rating,
        colour and pick labels, and a capture-date range (inclusive, YYYY-MM-DD)."""
        sql = ["SELECT i.id FROM Images i JOIN Albums a ON a.id = i.album "
               "LEFT JOIN ImageInformation ii ON ii.imageid = i.id "
               "WHERE i.status = ? AND i.category IN (?, ?)"]
        args: list[Any] = [VISIBLE, *CATEGORIES]
        with closing(self._read()) as db:
            if album:
                path = "/" + album.strip("/")
                if not db.execute("SELECT 1 FROM Albums WHERE relativePath = ? OR "
                                  "relativePath LIKE ?", (path, path + "/%")).fetchone():
                    raise LocationError(f"digiKam has no album {path}")
                sql.append("AND (a.relativePath = ? OR a.relativePath LIKE ?)")
                args += [path, path + "/%"]
            labels = [f"Color Label {color_label.title()}" if color_label else None,
                      f"Pick Label {pick_label.title()}" if pick_label else None]
            tag_ids = [tag_by_path(db, t.strip("/").split("/")) for t in tags]
            tag_ids += [internal_tag(db, label) for label in labels if label]
            for tid in tag_ids:
                sql.append("AND i.id IN (SELECT imageid FROM ImageTags WHERE tagid = ? OR "
                           "tagid IN (SELECT id FROM TagsTree WHERE pid = ?))")
                args += [tid, tid]
            if rating is not None:
                sql.append("AND ii.rating >= ?")
                args.append(rating)
            if since:
                sql.append("AND substr(ii.creationDate, 1, 10) >= ?")
                args.append(since)
            if until:
                sql.append("AND substr(ii.creationDate, 1, 10) <= ?")
                args.append(until)
            return {str(i) for (i,) in db.execute(" ".join(sql), args)}

    def roots(self) -> list[Path]:
        with closing(self._read()) as db:
            return [r.path for r in album_roots(db).values() if r.path is not None]

    def offline_roots(self) -> list[str]:
        with closing(self._read()) as db:
            roots = album_roots(db)
        return [f"{r.label or r.id}: {r.why_offline}" for r in roots.values() if r.path is None]

    # -- write-back -------------------------------------------------------------------

    def _write(self, options: WriteOptions, change: Any,
               record: Callable[[], None] | None = None) -> WriteReport:
        """Run ``change(writer)`` in one transaction: a rehearsal first, then for real
        after a backup (``record``: what undo must know, noted before the commit), so a
        dry run and a real run report the same changes."""
        if not self.available():
            raise LocationError(f"{self.db_path} does not exist")
        self._check_writable()
        if not options.dry_run and not options.force and self._waited_for_digikam(options.wait):
            self._check_writable()  # digiKam may have upgraded it meanwhile
        rehearsal = self._transaction(change, commit=False)
        report = WriteReport(changes=rehearsal, dry_run=options.dry_run)
        if options.dry_run or not rehearsal:
            return report
        keep = options.keep_backups or KEEP_BACKUPS
        saved, removed = backup(self.db_path, keep)
        report.changes = self._transaction(change, commit=True, record=record)
        report.notes.append(f"backup of the database before writing: {saved} (the newest "
                            f"{keep} are kept"
                            + (f"; removed {len(removed)} older)" if removed else ")"))
        return report

    def _check_writable(self) -> None:
        with closing(connect_readonly(self.db_path)) as db:
            check_writable(check_version(db, self.db_path), self.db_path)

    def _waited_for_digikam(self, wait: bool) -> bool:
        """Whether a digiKam had this database open and we waited for it to close; refuses
        when one has it open and waiting was not asked for."""
        using = digikam_using(self.db_path)
        if using is None:
            return False
        if not wait:
            raise LocationError(f"{using}: close it first (it keeps tags in memory and would "
                                f"overwrite photoplug's changes), or pass --wait to write "
                                f"once it closes")
        wait_while(lambda: digikam_using(self.db_path))
        return True

    def _transaction(self, change: Any, commit: bool,
                     record: Callable[[], None] | None = None) -> list[str]:
        db = sqlite3.connect(self.db_path, timeout=5, isolation_level=None)
        with immediate_transaction(db, self.db_path, "digiKam", commit):
            writer = Writer(db)
            change(writer)
            if record is not None:
                record()
        return writer.changes

    @property
    def ledger_path(self) -> Path:
        """photoplug's record of its writes to this database (the user's corrections come
        from it), in a hidden folder beside the database."""
        return self.db_path.with_name(".photoplug") / f"{self.db_path.name}.ledger.json"

    @property
    def reject_mark(self) -> str:
        return "digiKam's pick label Rejected"

    def _rejects(self) -> Rejects:
        return Rejects(self.ledger_path.with_name(f"{self.db_path.name}.rejected.json"))

    def write(self, plan: WritePlan, options: WriteOptions) -> WriteReport:
        """Keywords (added and taken off), albums and rejects in one transaction, after
        one backup; with ``--sidecars`` the keywords into the photos' sidecars too."""
        adds, removes = _by_word(plan.add_keywords), _by_word(plan.remove_keywords)
        rejects, planned = self._rejects(), RejectPlan()

        def change(w: Writer) -> None:
            nonlocal planned
            for word, ids in sorted(adds.items()):
                w.link(w.tag(_keyword_path(word)), _keyword_name(word), ids)
            for word, ids in sorted(removes.items()):
                tag_id = our_tag(w.db, _keyword_path(word))
                if tag_id is not None:
                    w.unlink(tag_id, _keyword_name(word), ids)
            for name, members in sorted(plan.albums.items()):
                tag_id = w.tag(_album_path(name))
                ids = {int(m) for m in members}
                w.unlink_others(tag_id, "/".join([ROOT_TAG, *_album_path(name)]), ids)
                w.link(tag_id, "/".join([ROOT_TAG, *_album_path(name)]), ids)
                w.saved_search(name, tag_id)
            if plan.reject:
                planned = _reject(w, rejects, plan.reject)
        try:
            report = self._write(options, change, lambda: rejects.add(planned.mark))
        except BaseException:
            rejects.remove(planned.mark)  # not made: nothing for undo to give back
            raise
        if planned.kept:
            report.notes.append(f"{len(planned.kept)} photos you took photoplug's reject "
                                f"off stay as you left them")
        if options.sidecars and (plan.add_keywords or plan.remove_keywords):
            paths = self.photo_paths(set(plan.add_keywords) | set(plan.remove_keywords))
            for words_of, write in ((plan.add_keywords, self.sidecars.add),
                                    (plan.remove_keywords, self.sidecars.remove)):
                side = write({sid: (paths[sid], words) for sid, words in words_of.items()
                              if sid in paths and words}, options.dry_run)
                report.changes += side.changes
                report.errors += side.errors
        return report

    def read_back(self, expected: HostState) -> HostState:
        """What photoplug's album and keyword tags are on now, by image id."""
        with closing(self._read()) as db:
            albums = {name: set(map(str, tagged(db, _album_path(name))))
                      for name in expected.albums}
            keywords = {word: set(map(str, tagged(db, _keyword_path(word))))
                        for word in expected.keywords}
        return HostState(albums, keywords)

    def photo_paths(self, stable_ids: Collection[str]) -> dict[str, Path]:
        """Where these images are on this machine (those on mounted roots)."""
        wanted = set(stable_ids)
        return {ref.stable_id: ref.path for ref in self.scan()
                if ref.stable_id in wanted and not ref.offline}

    def undo(self, options: WriteOptions) -> WriteReport:
        """photoplug's tags and smart albums go; photos it rejected get their pick label
        back (unless you changed it since)."""
        rejects = self._rejects()

        def change(w: Writer) -> None:
            w.remove_all()
            labels = pick_labels(w.db, {int(sid) for sid in rejects.before})
            back = rejects.to_give_back({str(i) for i, name in labels.items()
                                         if name == REJECTED})
            set_pick_labels(w.db, {int(sid): mark for sid, mark in back.items()})
            if back:
                w.changes.append(f"give {len(back)} photos back the pick label they had "
                                 f"before photoplug rejected them")
        report = self._write(options, change)
        side = self.sidecars.undo(options.dry_run)
        report.changes += side.changes
        report.errors += side.errors
        if not options.dry_run and not report.errors:
            rejects.clear()
            with suppress(OSError):
                self.ledger_path.parent.rmdir()  # if nothing else is in it
        return report


def _by_word(keywords: Mapping[str, Collection[str]]) -> dict[str, set[int]]:
    by_word: dict[str, set[int]] = {}
    for stable_id, words in keywords.items():
        for word in words:
            by_word.setdefault(word, set()).add(int(stable_id))
    return by_word


def _keyword_path(word: str) -> list[str]:
    """Below ``photoplug``: ``tags/animals/dog`` for the keyword ``animals/dog``."""
    return [*KEYWORD_PATH[1:], *word.strip("/").split("/")]


def _keyword_name(word: str) -> str:
    return "/".join([ROOT_TAG, *_keyword_path(word)])


def _album_path(name: str) -> list[str]:
    """Below ``photoplug``: ``albums/NAME``, a "/" in the name kept in one tag as "∕"."""
    return ["albums", name.replace("/", "∕")]


def find_database(target: str) -> Path:
    """``digikam4.db`` itself or the folder holding it; MySQL setups are named as such."""
    path = Path(target).expanduser().absolute()
    if path.is_dir():
        path = path / DB_NAME
    if path.name == "digikamrc" or (not path.exists() and _configured_for_mysql()):
        raise LocationError("digiKam is configured for MySQL/MariaDB, which photoplug does "
                            "not support yet; only SQLite collections (digikam4.db) work")
    return path


def _reject(w: Writer, rejects: Rejects, wanted: set[str]) -> RejectPlan:
    """The pick label Rejected on the ``wanted`` images not rejected now, except those the
    user took photoplug's reject off (``Rejects.plan``)."""
    wanted = {sid for sid in wanted if w.db.execute("SELECT 1 FROM Images WHERE id = ?",
                                                    (int(sid),)).fetchone()}
    labels = pick_labels(w.db, {int(sid) for sid in wanted | set(rejects.before)})
    planned = rejects.plan(wanted, {str(i) for i, name in labels.items() if name == REJECTED},
                           {sid: labels.get(int(sid)) for sid in wanted})
    set_pick_labels(w.db, {int(sid): REJECTED for sid in planned.mark})
    if planned.mark:
        w.changes.append(f"pick label Rejected on {len(planned.mark)} photos")
    return planned


def _configured_for_mysql() -> bool:
    rc = digikamrc(os.environ, Path.home())
    settings = database_settings(rc) if rc else None
    return "MYSQL" in (settings or {}).get("database type", "").upper()


class DigikamAdapter:
    scheme = "digikam"
    description = "a digiKam collection (digikam4.db); tags and smart albums in its database"

    def open(self, target: str, **_: Any) -> DigikamLibrary:
        library = DigikamLibrary(find_database(target))
        if library.available():
            library._read().close()  # version and format checked up front
        return library


@hookimpl
def photoplug_adapters() -> list[DigikamAdapter]:
    return [DigikamAdapter()]


photoplug_write, photoplug_read_back, photoplug_undo = library_hooks(DigikamLibrary)
