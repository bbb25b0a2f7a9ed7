"""``photoplug serve``: a local search page with thumbnails and a JSON search API.

Starlette app; the model stays loaded between queries. Files are served only when the
index lists them for a served location AND their real path lies inside one of that
library's roots: nothing is ever taken from the URL as a path. Every request passes
``web_security.Guard`` first (Host check, token, security headers); a bad parameter is
answered 400 with ``{"error": sentence}``.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
from contextlib import suppress
from datetime import date
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from photoplug.albums.definitions import default_albums_path, load_albums
from photoplug.media.decode import Unreadable
from photoplug.errors import PhotoplugError
from photoplug.hooks.protocols import roots_of
from photoplug.hooks import (Library, LocationError, Query, QueryTerm, SearchResult,
                             WriteOptions)
from photoplug.media.thumbnails import thumbnail
from photoplug.albums.vocabulary import Concept, system_language, vocabulary
from photoplug.results.present import present
from photoplug.web.security import Access, Guard, content_security_policy
from photoplug.albums.workflows import sync_albums

PAGE = Path(__file__).with_name("page.html")
MAX_TOP = 1000


class Server:
    """What the routes share: the API object, the served libraries, one lock."""

    def __init__(self, app: Any, libraries: list[Library], albums_file: Path | None,
                 concepts: list[Concept]) -> None:
        self.app = app
        self.libraries = {lib.uri: lib for lib in libraries}
        self.albums_file = albums_file
        self.concepts = concepts  # what photos may show: good matches are judged against it
        self.lock = threading.Lock()  # one model and one SQLite connection: one at a time
        self.allowed = {lib.uri: [Path(os.path.realpath(r)) for r in roots_of(lib)]
                        for lib in libraries}

    def item(self, rank: int, r: SearchResult) -> dict[str, Any]:
        """A result as the API gives it: ``search --json``'s fields, the thumbnail's URL
        (a video's: the frame that matched) and the file's."""
        n = list(self.libraries).index(r.location)
        quoted = _url_id(r.id)
        at = "" if r.time is None else f"?t={r.time:g}"
        out = {**r.as_json(rank), "thumb": f"/thumb/{n}/{quoted}{at}",
               "photo": f"/photo/{n}/{quoted}"}
        if r.similar:
            out["similar"] = [self.item(rank, s) for s in r.similar]
        return out

    def served_path(self, n: int, stable_id: str) -> Path | None:
        """The file for (location number, id), if the index has it and it lies inside."""
        uris = list(self.libraries)
        if not 0 <= n < len(uris):
            return None
        with self.lock:
            found = self.app.store.photo_path(uris[n], stable_id)
        if found is None:
            return None
        real = Path(os.path.realpath(found))
        if not any(real.is_relative_to(root) for root in self.allowed[uris[n]]):
            return None
        return real if real.is_file() else None


def _url_id(stable_id: str) -> str:
    from urllib.parse import quote
    return quote(stable_id, safe="")


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: a free one); ``::`` takes IPv4 too."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        everywhere = family == socket.AF_INET6 and address[0] == "::"
        return socket.create_server(address[:2], family=family,
                                    dualstack_ipv6=everywhere and socket.has_dualstack_ipv6())
    except OSError as exc:
        raise PhotoplugError(f"cannot listen on {host} port {port}: {exc.strerror}") from None


class BadRequest(Exception):
    """A parameter the API cannot use; the message is the sentence the client sees."""


def whole_number(text: str, name: str, low: int, high: int) -> int:
    """Parameter ``name``'s ``text`` as a whole number from ``low`` to ``high``, checked."""
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def day(params: QueryParams, name: str) -> str | None:
    """A YYYY-MM-DD date parameter, checked; None when absent."""
    text = params.get(name)
    if not text:
        return None
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        with suppress(ValueError):
            return date.fromisoformat(text).isoformat()
    raise BadRequest(f"{name} must be a date written YYYY-MM-DD, such as 2024-06-01")


def seconds(params: QueryParams) -> float | None:
    """The ``t`` parameter (seconds into a video, such as 2.5), checked; None when absent."""
    text = params.get("t")
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,7}(\.[0-9]{1,3})?", text):
        raise BadRequest("t must be seconds into the video, such as 2.5")
    return float(text)


def text_mode(params: QueryParams) -> str:
    """The ``text`` parameter: match the words in photos too (auto), alone (only) or not
    (off); checked."""
    mode = params.get("text") or "auto"
    if mode not in ("auto", "only", "off"):
        raise BadRequest("text must be auto (words and looks), only (words in photos) or "
                         "off (looks alone)")
    return mode


def sort_of(params: QueryParams) -> str:
    """``sort``: score (the default), date (newest first) or date-asc."""
    sort = params.get("sort") or "score"
    if sort not in ("score", "date", "date-asc"):
        raise BadRequest(f"sort must be score, date or date-asc, not {sort[:40]!r}")
    return sort


def search_filters(params: QueryParams) -> dict[str, Any]:
    """The host filters asked for (album, tags, rating, since, until), checked."""
    tags, rating = params.get("tags"), params.get("rating")
    filters: dict[str, Any] = {
        "album": params.get("album") or None, "tags": [tags] if tags else None,
        "rating": whole_number(rating, "rating", 0, 5) if rating else None,
        "since": day(params, "since"), "until": day(params, "until")}
    if filters["since"] and filters["until"] and filters["since"] > filters["until"]:
        raise BadRequest(f"since ({filters['since']}) is after until ({filters['until']})")
    return {k: v for k, v in filters.items() if v is not None}


def create_app(app: Any, libraries: list[Library], access: Access,
               albums_file: Path | None = None,
               concepts: list[Concept] | None = None) -> Starlette:
    """The page, its API and the files, behind ``access`` (Host check, token, headers);
    results are judged against ``concepts`` (default: the built-in vocabulary in the
    system's language)."""
    server = Server(app, libraries, albums_file,
                    concepts if concepts is not None else vocabulary([], False, system_language()))
    page_html = PAGE.read_text(encoding="utf-8")

    async def page(request: Request) -> Response:
        return HTMLResponse(page_html, headers={"Cache-Control": "no-cache"})

    def query_of(params: QueryParams, uri: str) -> Query:
        """The text ``q`` (never a file path), or the photo ``like`` names in ``uri``."""
        text, like = params.get("q", "").strip(), params.get("like")
        if text and like:
            raise BadRequest("give q (words) or like (a photo), not both")
        if like:
            path = server.served_path(list(server.libraries).index(uri), like)
            if path is None:
                raise BadRequest(f"unknown photo {like!r}: {uri} has no such photo")
            return Query((QueryTerm(str(path), is_image=True),))
        if not text:
            raise BadRequest("the query is empty: say what the photos show, such as "
                             "q=beach at sunset")
        return Query((QueryTerm(text),))

    def search(request: Request) -> Response:
        params = request.query_params
        try:
            top = whole_number(params.get("top", "40"), "top", 1, MAX_TOP)
            uri = params.get("location") or next(iter(server.libraries))
            if uri not in server.libraries:
                raise BadRequest(f"unknown location {uri!r}: this page serves "
                                 f"{', '.join(server.libraries)}")
            query = query_of(params, uri)
            filters = search_filters(params)
            with server.lock:
                only = {uri: server.libraries[uri].select(**filters)} if filters else None
                results = server.app.search(query, [uri], top, only=only,
                                            text=text_mode(params))
                results = present(server.app, query, results, server.concepts,
                                  sort_of(params), fold=True)
        except (BadRequest, PhotoplugError, LocationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse([server.item(i, r) for i, r in enumerate(results, 1)])

    def albums(request: Request) -> Response:
        path = server.albums_file or default_albums_path()
        if not path.exists():
            return JSONResponse([])
        out = []
        try:
            definitions, concepts = load_albums(path), server.concepts
            with server.lock:
                for uri, library in server.libraries.items():
                    sync = sync_albums(server.app, library, definitions, concepts,
                                       WriteOptions(dry_run=True))
                    rows = sync.rows
                    for result in sync.results:
                        members = [SearchResult(Path(rows[i][0]), 0.0, rows[i][1], uri,
                                                rows[i][3]) for i in result.members]
                        out.append({"album": result.album.name, "location": uri,
                                    "members": [server.item(k, m) for k, m in
                                                enumerate(members, 1)]})
        except PhotoplugError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(out)

    def duplicates(request: Request) -> Response:
        """The location's groups of one shot, each member with its thumbnail and whether
        it is the copy to keep (nothing is written)."""
        from photoplug.duplicates.workflow import find_duplicates
        uri = request.query_params.get("location") or next(iter(server.libraries))
        if uri not in server.libraries:
            return JSONResponse({"error": f"unknown location {uri!r}"}, status_code=400)
        try:
            with server.lock:
                found = find_duplicates(server.app, server.libraries[uri],
                                        WriteOptions(dry_run=True))
        except PhotoplugError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        out = []
        for g in found.groups:
            members = [{**server.item(0, SearchResult(m.copy.path, 0.0, m.id, uri)),
                        **member} for m, member in zip(g.members, g.as_json()["members"])]
            out.append({"group": g.keyword, "reason": g.reason, "members": members})
        return JSONResponse(out)

    def thumb(request: Request) -> Response:
        try:
            time = seconds(request.query_params)
        except BadRequest as exc:
            return Response(str(exc), status_code=400)
        path = server.served_path(request.path_params["n"], request.path_params["id"])
        if path is None:
            return Response("not found", status_code=404)
        try:
            data = thumbnail(path, time=time)
        except (Unreadable, OSError):
            return Response("not found", status_code=404)
        etag = hashlib.sha1(data).hexdigest()[:16]
        headers = {"Cache-Control": "private, max-age=86400", "ETag": f'"{etag}"'}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    def photo(request: Request) -> Response:
        path = server.served_path(request.path_params["n"], request.path_params["id"])
        if path is None:
            return Response("not found", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    def locations(request: Request) -> Response:
        return JSONResponse(list(server.libraries))

    guard = Middleware(Guard, access=access, csp=content_security_policy(page_html))
    return Starlette(middleware=[guard], routes=[
        Route("/", page),
        Route("/api/search", search),
        Route("/api/albums", albums),
        Route("/api/duplicates", duplicates),
        Route("/api/locations", locations),
        Route("/thumb/{n:int}/{id:path}", thumb),
        Route("/photo/{n:int}/{id:path}", photo),
    ])
