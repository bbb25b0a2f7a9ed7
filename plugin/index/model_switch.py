"""Changing a location's model without losing search.

A location answers with one model (``locations.model_id``). Indexing it with another model
makes that one the location's next model (``next_model_id``): the old vectors keep
answering every search while the new ones are written, and the switch happens only when
the new model holds every photo the old one did (an interrupted run resumes it, offline
photos wait for their disk). The old model's vectors stay in the index until
``forget_model`` drops them, so nothing is lost until the user says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from photoplug.errors import PhotoplugError
from photoplug.index.store import IndexStore


@dataclass(frozen=True)
class StoredModel:
    """A model the index holds vectors of, and which locations use it."""

    id: int
    name: str
    pretrained: str
    vectors: int
    searched_by: tuple[str, ...]  # locations that answer with it
    next_for: tuple[str, ...]  # locations being re-indexed with it


def begin(store: IndexStore, location_id: int, model_id: int) -> int:
    """Index ``location_id`` with ``model_id``: the model it answers with meanwhile (the
    one it had when that one holds any vectors of it, else ``model_id`` at once)."""
    current = store.db.execute("SELECT model_id FROM locations WHERE id=?",
                               (location_id,)).fetchone()[0]
    keeps = current is not None and current != model_id and searchable(
        store, location_id, current) > 0
    answering = current if keeps else model_id
    store.set_location(location_id, model_id=answering,
                       next_model_id=model_id if keeps else None, online=1)
    return answering


def finish(store: IndexStore, location_id: int, model_id: int) -> bool:
    """After a complete run with ``model_id``: switch to it when it holds every photo that
    is not skipped (offline ones included). True when the location answers with it now."""
    row = store.db.execute("SELECT next_model_id FROM locations WHERE id=?",
                           (location_id,)).fetchone()
    if row is None or row[0] != model_id:
        return True
    if missing(store, location_id, model_id):
        return False
    store.set_location(location_id, model_id=model_id, next_model_id=None)
    return True


def searchable(store: IndexStore, location_id: int, model_id: int) -> int:
    """The photos of a location ``model_id`` has a vector of."""
    return store.db.execute(
        "SELECT count(*) FROM photos p WHERE p.location_id=? AND p.status='ok' AND EXISTS "
        "(SELECT 1 FROM embeddings e WHERE e.model_id=? AND e.hash=p.hash)",
        (location_id, model_id)).fetchone()[0]


def missing(store: IndexStore, location_id: int, model_id: int) -> int:
    """The photos of a location (not skipped) ``model_id`` has no vector of yet."""
    return store.db.execute(
        "SELECT count(*) FROM photos p WHERE p.location_id=? AND p.status='ok' AND NOT "
        "EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id=? AND e.hash=p.hash)",
        (location_id, model_id)).fetchone()[0]


def stored_models(store: IndexStore) -> list[StoredModel]:
    """Every model the index knows, with its vector count and the locations using it."""
    uses: dict[int, tuple[list[str], list[str]]] = {}
    for uri, current, upcoming in store.db.execute(
            "SELECT uri, model_id, next_model_id FROM locations ORDER BY uri"):
        if current is not None:
            uses.setdefault(current, ([], []))[0].append(uri)
        if upcoming is not None:
            uses.setdefault(upcoming, ([], []))[1].append(uri)
    return [StoredModel(i, name, pretrained, count, tuple(uses.get(i, ([], []))[0]),
                        tuple(uses.get(i, ([], []))[1]))
            for i, name, pretrained, count in store.db.execute(
                "SELECT m.id, m.name, m.pretrained, (SELECT count(*) FROM embeddings e "
                "WHERE e.model_id=m.id) FROM models m ORDER BY m.id")]


def forget_model(store: IndexStore, matches: list[StoredModel]) -> tuple[int, list[str]]:
    """Drop the vectors (photos', videos' frames', cached texts') of these models; a switch
    to one of them is called off. Refused for a model a location still answers with.
    Returns the vectors dropped and the locations whose switch was called off."""
    for model in matches:
        if model.searched_by:
            raise PhotoplugError(
                f"{model.name} is what {', '.join(model.searched_by)} is searched with; index "
                f"it with another model first (the switch happens when that one is complete)")
    ids = [m.id for m in matches]
    marks = ",".join("?" * len(ids))
    with store.transaction() as db:
        db.execute(f"UPDATE locations SET next_model_id=NULL WHERE next_model_id IN ({marks})",
                   ids)
        db.execute(f"DELETE FROM models WHERE id IN ({marks})", ids)  # cascades to vectors
    for model_id in ids:
        for stale in store.cache_dir().glob(f"m{model_id}-l*"):
            stale.unlink(missing_ok=True)
    return sum(m.vectors for m in matches), [uri for m in matches for uri in m.next_for]
