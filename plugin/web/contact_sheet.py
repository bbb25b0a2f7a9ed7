"""A self-contained HTML contact sheet of search results (thumbnails embedded)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from photoplug.media.decode import Unreadable
from photoplug.hooks import SearchResult
from photoplug.media.thumbnails import thumbnail
from photoplug.media.video import clock

STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5rem;background:#fafafa;color:#222}
h1{font-size:1.2rem}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));
gap:12px}figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
img{width:100%;height:200px;object-fit:contain;background:#eee}figcaption{font-size:12px;
overflow-wrap:anywhere}.score{font-weight:600}
"""


def contact_sheet(query: str, results: list[SearchResult]) -> str:
    """The page: one figure per result, its thumbnail (a video's: the frame that matched)
    as a data URI, a link to the file."""
    cells = []
    for rank, r in enumerate(results, 1):
        try:
            data = base64.b64encode(thumbnail(r.path, time=r.time)).decode()
            img = f'<img alt="" src="data:image/jpeg;base64,{data}">'
        except (Unreadable, OSError):
            img = '<div class="missing">(unreadable)</div>'
        # a video plays from the frame that matched
        at, when = ("", "") if r.time is None else (f"#t={r.time:g}", f" at {clock(r.time)}")
        cells.append(
            f'<figure>{img}<figcaption><span class="score">#{rank} · {r.score:.3f}</span> '
            f'<a href="{html.escape(Path(r.path).as_uri() + at)}">'
            f'{html.escape(str(r.path))}</a>{when}</figcaption></figure>')
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>photoplug: '
            f'{html.escape(query)}</title><style>{STYLE}</style></head><body>'
            f'<h1>{html.escape(query)} — {len(results)} results</h1>'
            f'<div class="grid">{"".join(cells)}</div></body></html>')
