"""``photoplug serve``: a local search page with thumbnails and a JSON search API.

Starlette app; the model stays loaded between queries. Files are served only when the
index lists them for a served location AND their real path lies inside one of that
library's roots: nothing is ever taken from the URL as a path.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from photoplug.albums import default_albums_path, load_albums
from photoplug.decode import Unreadable
from photoplug.errors import PhotoplugError
from photoplug.hooks import Library, LocationError, SearchResult
from photoplug.membership import albums_members
from photoplug.search import parse_query
from photoplug.thumbnails import thumbnail

PAGE = Path(__file__).with_name("web_page.html")
FILTERS = ("album", "tags", "rating", "since", "until")


class Server:
    """What the routes share: the API object, the served libraries, one lock."""

    def __init__(self, app: Any, libraries: list[Library], albums_file: Path | None) -> None:
        self.app = app
        self.libraries = {lib.uri: lib for lib in libraries}
        self.albums_file = albums_file
        self.lock = threading.Lock()  # one model and one SQLite connection: one at a time
        self.allowed = {lib.uri: [Path(os.path.realpath(r)) for r in lib.roots()]
                        for lib in libraries}

    def item(self, rank: int, r: SearchResult) -> dict[str, Any]:
        n = list(self.libraries).index(r.location)
        quoted = _url_id(r.id)
        return {**r.as_json(rank), "thumb": f"/thumb/{n}/{quoted}",
                "photo": f"/photo/{n}/{quoted}"}

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


def create_app(app: Any, libraries: list[Library], albums_file: Path | None = None
               ) -> Starlette:
    server = Server(app, libraries, albums_file)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-cache"})

    def search(request: Request) -> Response:
        params = request.query_params
        try:
            top = int(params.get("top", "40"))
            uri = params.get("location") or next(iter(server.libraries))
            if uri not in server.libraries:
                return JSONResponse({"error": "unknown location"}, status_code=400)
            like = params.get("like")
            if like:
                path = server.served_path(list(server.libraries).index(uri), like)
                if path is None:
                    return JSONResponse({"error": "unknown photo"}, status_code=404)
                query = parse_query(str(path))
            else:
                query = parse_query(params.get("q", ""))
            filters = {k: params.get(k) for k in FILTERS if params.get(k)}
            if "tags" in filters:
                filters["tags"] = [filters["tags"]]
            if "rating" in filters:
                filters["rating"] = int(filters["rating"])
            with server.lock:
                only = {uri: server.libraries[uri].select(**filters)} if filters else None
                results = server.app.search(query, [uri], top, only=only)
        except (PhotoplugError, LocationError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse([server.item(i, r) for i, r in enumerate(results, 1)])

    def albums(request: Request) -> Response:
        path = server.albums_file or default_albums_path()
        if not path.exists():
            return JSONResponse([])
        out = []
        try:
            definitions = load_albums(path)
            with server.lock:
                for uri, library in server.libraries.items():
                    engine, matrix, rows = server.app.library_vectors(library)
                    for result in albums_members(
                            definitions, matrix,
                            lambda t: server.app.text_vectors(engine, t), engine):
                        members = [SearchResult(Path(rows[i][0]), 0.0, rows[i][1], uri,
                                                rows[i][3]) for i in result.members]
                        out.append({"album": result.album.name, "location": uri,
                                    "members": [server.item(k, m) for k, m in
                                                enumerate(members, 1)]})
        except PhotoplugError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(out)

    def thumb(request: Request) -> Response:
        path = server.served_path(request.path_params["n"], request.path_params["id"])
        if path is None:
            return Response("not found", status_code=404)
        try:
            data = thumbnail(path)
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

    return Starlette(routes=[
        Route("/", page),
        Route("/api/search", search),
        Route("/api/albums", albums),
        Route("/api/locations", locations),
        Route("/thumb/{n:int}/{id:path}", thumb),
        Route("/photo/{n:int}/{id:path}", photo),
    ])
