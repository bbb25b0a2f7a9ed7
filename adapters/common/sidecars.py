"""Keywords in XMP sidecars beside photos, journalled so undo reverses exactly them.

Shared by every host that writes sidecars (folders, digiKam's ``--sidecars``). Before a
sidecar changes, its original is kept and the change recorded; ``undo`` restores an
untouched sidecar byte for byte, deletes one photoplug created, and from one edited
since takes out only photoplug's values.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Collection, Mapping

from photoplug.adapters.common.journal import Journal, SidecarEntry
from photoplug.adapters.common.xmp import (
    FIELDS,
    NAMESPACE,
    SidecarError,
    Sidecars,
    field_values,
    sha256,
)
from photoplug.hooks import WriteReport


def sidecar_for(photo: Path) -> Path:
    """``FILE.EXT.xmp`` (digiKam's and darktable's naming), unless only ``FILE.xmp``
    (Lightroom's) already exists."""
    long_form = photo.with_name(photo.name + ".xmp")
    short_form = photo.with_suffix(".xmp")
    return short_form if short_form.exists() and not long_form.exists() else long_form


class SidecarKeywords:
    """Sidecars under ``root``, journalled in ``state_dir``: keywords go into ``fields``
    below the tags ``parents``, in the sidecar ``naming`` picks for a photo."""

    def __init__(self, root: Path, state_dir: Path, fields: tuple[str, ...] = FIELDS,
                 naming: Callable[[Path], Path] = sidecar_for,
                 parents: tuple[str, ...] = (NAMESPACE,)) -> None:
        self.root = root
        self.state_dir = state_dir
        self.fields = fields
        self.naming = naming
        self.parents = parents

    def _rel(self, sidecar: Path) -> str:
        return os.path.relpath(sidecar, self.root)

    def add(self, photos: Mapping[str, tuple[Path, Collection[str]]], dry_run: bool
            ) -> WriteReport:
        """Add keywords to each photo's sidecar (``stable_id -> (photo path, keywords)``)."""
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        with Sidecars() as sidecars:
            for stable_id, (photo, words) in sorted(photos.items()):
                try:
                    self._add(sidecars, journal, self.naming(photo), words, report)
                except (SidecarError, OSError) as exc:
                    report.errors.append(f"{stable_id}: {exc}")
        return report

    def _add(self, sidecars: Sidecars, journal: Journal, sidecar: Path,
             words: Collection[str], report: WriteReport) -> None:
        current = sidecars.read(sidecar, self.fields)
        add: dict[str, list[str]] = {f: [] for f in self.fields}
        for word in sorted(set(words)):
            for name, value in field_values(word, self.fields, self.parents).items():
                if value not in current[name] and value not in add[name]:
                    add[name].append(value)
        if not any(add.values()):
            return
        rel = self._rel(sidecar)
        shown = add.get("XMP-digiKam:TagsList") or add.get("XMP-lr:HierarchicalSubject") \
            or add["XMP-dc:Subject"]
        report.changes.append(f"{rel}: + " + ", ".join(shown))
        if report.dry_run:
            return
        entry = journal.sidecars.get(rel)
        if entry is None:
            existed = sidecar.exists()
            original = journal.keep_original(sidecar, sha256(sidecar)) if existed else None
            entry = SidecarEntry(created=not existed, original=original, written=None)
            journal.sidecars[rel] = entry
        for name, values in add.items():
            entry.added.setdefault(name, []).extend(values)
        journal.save()  # before the write: a crash leaves a record, never an unrecorded change
        sidecars.edit(sidecar, add, {})
        entry.written = sha256(sidecar)
        journal.save()

    def undo(self, dry_run: bool) -> WriteReport:
        """Reverse every journalled sidecar change; the journal forgets what was undone."""
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        with Sidecars() as sidecars:
            for rel, entry in sorted(journal.sidecars.items()):
                try:
                    self._undo(sidecars, journal, self.root / rel, entry, report)
                except (SidecarError, OSError) as exc:
                    report.errors.append(f"{rel}: {exc}")
                    continue
                if not dry_run:
                    del journal.sidecars[rel]
        if not dry_run and journal.file.exists():
            journal.save()
        return report

    def _undo(self, sidecars: Sidecars, journal: Journal, sidecar: Path,
              entry: SidecarEntry, report: WriteReport) -> None:
        rel = self._rel(sidecar)
        if not sidecar.exists():
            return
        untouched_since = entry.written is not None and sha256(sidecar) == entry.written
        if untouched_since and entry.created:
            report.changes.append(f"{rel}: delete (photoplug created it)")
            if not report.dry_run:
                sidecar.unlink()
        elif untouched_since and entry.original:
            report.changes.append(f"{rel}: restore the original")
            if not report.dry_run:
                tmp = sidecar.with_name(f".{os.getpid()}.photoplug-tmp.xmp")
                shutil.copyfile(journal.original_path(entry.original), tmp)
                os.replace(tmp, sidecar)
        else:  # edited since: take out only what photoplug added
            current = sidecars.read(sidecar, tuple(entry.added))
            remove = {f: [v for v in vals if v in current.get(f, [])]
                      for f, vals in entry.added.items()}
            if any(remove.values()):
                report.changes.append(f"{rel}: - " + ", ".join(sorted(
                    {v for vals in remove.values() for v in vals})))
                if not report.dry_run:
                    sidecars.edit(sidecar, {}, remove)

    # -- taking photoplug's keywords off, and seeing which are still there -------------

    def _required(self, word: str, entry: SidecarEntry) -> dict[str, str]:
        """The values that say ``word`` is there: its namespaced values, and the plain
        ones photoplug itself added (a plain "beach" may be the user's own)."""
        return {f: v for f, v in field_values(word, self.fields, self.parents).items()
                if f != "XMP-dc:Subject" or v in entry.added.get(f, [])}

    def present(self, photos: Mapping[str, tuple[Path, Collection[str]]]
                ) -> dict[str, set[str]]:
        """Which of the given keywords each photo's sidecar holds now (``stable_id ->
        (photo path, keywords)``). A sidecar unchanged since photoplug's last write is
        answered from the journal; others are read."""
        journal = Journal(self.state_dir)
        out: dict[str, set[str]] = {}
        with Sidecars() as sidecars:
            for stable_id, (photo, words) in photos.items():
                sidecar = self.naming(photo)
                entry = journal.sidecars.get(self._rel(sidecar))
                if entry is None or not sidecar.exists():
                    out[stable_id] = set()
                    continue
                required = {w: self._required(w, entry) for w in words}
                if entry.written is not None and sha256(sidecar) == entry.written:
                    current = entry.added
                else:
                    try:
                        current = sidecars.read(sidecar, self.fields)
                    except SidecarError:  # unreadable now: nothing to learn from it
                        current = entry.added
                out[stable_id] = {w for w, values in required.items()
                                  if all(v in current.get(f, []) for f, v in values.items())}
        return out

    def remove(self, photos: Mapping[str, tuple[Path, Collection[str]]], dry_run: bool
               ) -> WriteReport:
        """Take keywords off each photo's sidecar: only the values photoplug added there
        and no other keyword of photoplug's still needs; never the user's own."""
        report = WriteReport(dry_run=dry_run)
        journal = Journal(self.state_dir)
        with Sidecars() as sidecars:
            for stable_id, (photo, words) in sorted(photos.items()):
                sidecar = self.naming(photo)
                rel = self._rel(sidecar)
                entry = journal.sidecars.get(rel)
                if entry is None or not sidecar.exists():
                    continue
                try:
                    self._remove(sidecars, journal, sidecar, entry, set(words), report)
                except (SidecarError, OSError) as exc:
                    report.errors.append(f"{stable_id}: {exc}")
        return report

    def _remove(self, sidecars: Sidecars, journal: Journal, sidecar: Path,
                entry: SidecarEntry, words: set[str], report: WriteReport) -> None:
        staying = {w for w in self._words_of(entry) if w not in words}
        needed = {(f, v) for w in staying for f, v in
                  field_values(w, self.fields, self.parents).items()}
        ours: dict[str, list[str]] = {f: [] for f in self.fields}
        for word in words:
            for f, v in field_values(word, self.fields, self.parents).items():
                if v in entry.added.get(f, []) and (f, v) not in needed and v not in ours[f]:
                    ours[f].append(v)
        current = sidecars.read(sidecar, tuple(ours))
        remove = {f: sorted({v for v in vals if v in current.get(f, [])})
                  for f, vals in ours.items()}
        if not any(remove.values()):
            return
        report.changes.append(f"{self._rel(sidecar)}: - " + ", ".join(sorted(words)))
        if report.dry_run:
            return
        sidecars.edit(sidecar, {}, remove)  # then the journal: undo of a value already
        for f, vals in remove.items():      # gone is harmless, a forgotten one is not
            entry.added[f] = [v for v in entry.added.get(f, []) if v not in vals]
        entry.written = sha256(sidecar)
        journal.save()

    def _words_of(self, entry: SidecarEntry) -> set[str]:
        """photoplug's keywords in a sidecar, from the namespaced values it added."""
        for name, sep in (("XMP-lr:HierarchicalSubject", "|"), ("XMP-digiKam:TagsList", "/")):
            if name in self.fields:
                prefix = sep.join(self.parents) + sep
                return {v[len(prefix):].replace(sep, "/") for v in entry.added.get(name, [])
                        if v.startswith(prefix)}
        return set()
