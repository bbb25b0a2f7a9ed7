"""The built-in text reader: rapidocr (PP-OCR models bundled in its wheel, run by ONNX
Runtime) in a worker process, so that a photo that hangs or crashes the engine is killed
on time and skipped with a reason while the rest are read.

Measured (docs/text-in-photos.md): the whole photo reduced to a 640 px long side reads
every Latin word and Chinese line of the test photos at about 0.6 s a photo on 2 cores;
960, 1600 px or the full size read *fewer* words, and more slowly (the detector wants text
10 to 40 px high). The worker decodes the photo itself (a JPEG in draft mode), so a file
that hangs the decoder is covered by the same time limit.
"""
from __future__ import annotations

import functools
import multiprocessing
import re
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable

from photoplug.errors import PhotoplugError
from photoplug.hooks import PhotoText

LONG_SIDE = 640  # px: measured, see the module's docstring
MIN_SCORE = 0.8  # a line the recogniser is less sure of is mostly junk (stripes, leaves)
MAX_ASPECT = 20  # rapidocr fails on 20000x100 (ResizeImgError): such a strip is skipped
MIN_SIDE = 8  # px: nothing smaller can hold a readable letter
START_LIMIT = 120.0  # s: starting a worker (imports, model load) on a busy machine
THREADS = 2

Ocr = Callable[[Any], list[tuple[str, float]]]  # RGB uint8 array -> (line, confidence)


def engine_identity(long_side: int = LONG_SIDE) -> str:
    from importlib.metadata import version
    return f"rapidocr-{version('rapidocr')}/PP-OCRv6_small@{long_side}"


def rapid_ocr(long_side: int = LONG_SIDE, threads: int = THREADS) -> Ocr:
    """rapidocr with both the picture cap and the detector's size at ``long_side``
    (its defaults detect a 12 MP photo at 2000x1500: 5x slower, fewer words). One
    instance for reading only: per-call options would stick to it."""
    from rapidocr import RapidOCR
    ocr = RapidOCR(params={
        "Global.log_level": "error", "Global.max_side_len": long_side,
        "Det.limit_type": "max", "Det.limit_side_len": long_side,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    def read(rgb: Any) -> list[tuple[str, float]]:
        import numpy as np
        out = ocr(np.ascontiguousarray(rgb[:, :, ::-1]))  # an array is taken as BGR
        texts, scores = getattr(out, "txts", None) or (), getattr(out, "scores", None) or ()
        return [(str(t), float(s)) for t, s in zip(texts, scores)]
    return read


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def keep_line(text: str, score: float) -> bool:
    """Whether a recognised line goes into the index: sure enough, and not one of the
    engine's habitual misreadings of stripes and bars (a lone CJK character such as 一,
    a short number such as 19)."""
    text = text.strip()
    if score < MIN_SCORE or not text:
        return False
    if len(text) == 1 and _is_cjk(text):
        return False
    if re.fullmatch(r"[\d\s.,:;/-]*", text) and len(re.sub(r"\D", "", text)) < 3:
        return False
    return True


def _picture(path: Path, long_side: int) -> Any:
    """The photo upright, reduced to ``long_side``: an RGB array, or a reason string."""
    import numpy as np
    from photoplug.media.decode import Unreadable, decode
    try:
        image = decode(path.read_bytes(), path, long_side // 2)
    except (OSError, Unreadable) as exc:
        return f"unreadable: {exc}"
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        return np.zeros((0, 0, 3), np.uint8)  # too small to hold text: none
    if max(w, h) > MAX_ASPECT * min(w, h):
        return f"too narrow to read text in ({w}x{h})"
    image.thumbnail((long_side, long_side))
    return np.asarray(image.convert("RGB"))


def serve(conn: Any, make_ocr: Callable[[], Ocr], long_side: int) -> None:
    """The worker: build the engine (and load its models on a blank picture), say
    "ready", then answer each path with ("ok", lines) or ("failed", reason)."""
    import numpy as np
    ocr = make_ocr()
    ocr(np.full((64, 64, 3), 128, np.uint8))
    conn.send(("ready", None))
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        if path is None:
            return
        try:
            picture = _picture(Path(path), long_side)
            if isinstance(picture, str):
                conn.send(("failed", picture))
                continue
            lines = ocr(picture) if picture.size else []
            conn.send(("ok", [t.strip() for t, s in lines if keep_line(t, s)]))
        except Exception as exc:  # the engine's own errors: this photo only
            conn.send(("failed", f"text reader error: {type(exc).__name__}: {exc}"))


class RapidReader:
    """``photoplug_read_text``'s built-in reader: one worker process, started on the first
    photo, killed and started again when a photo takes longer than ``time_limit``."""

    def __init__(self, time_limit: float = 30.0, long_side: int = LONG_SIDE,
                 make_ocr: Callable[[], Ocr] | None = None,
                 identity: str | None = None) -> None:
        self.time_limit = time_limit
        self.long_side = long_side
        self.make_ocr = make_ocr or functools.partial(rapid_ocr, long_side)
        self.identity = identity or engine_identity(long_side)
        self._worker: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child = context.Pipe()
        self._worker = context.Process(target=serve, name="photoplug-ocr", daemon=True,
                                       args=(child, self.make_ocr, self.long_side))
        self._worker.start()
        child.close()
        if not self._conn.poll(START_LIMIT):
            self.close()
            raise PhotoplugError(f"the text reader did not start in {START_LIMIT:.0f} s")
        try:
            self._conn.recv()
        except EOFError:
            self.close()
            raise PhotoplugError("the text reader failed to start (is rapidocr "
                               "installed? pip install rapidocr)") from None

    def read(self, path: Path) -> PhotoText:
        if self._worker is None or not self._worker.is_alive():
            self._start()
        started = time.monotonic()
        self._conn.send(str(path))
        try:
            ready = self._conn.poll(self.time_limit)
            answer = self._conn.recv() if ready else None
        except (EOFError, OSError):
            answer = ("failed", "the text reader crashed on this photo")
        if answer is None:
            answer = ("failed", f"text reading took over {self.time_limit:g} s "
                                f"({time.monotonic() - started:.0f} s): stopped")
        if answer[0] != "ok":
            if answer[1].startswith(("the text reader crashed", "text reading took")):
                self.close()  # a fresh worker for the next photo
            return PhotoText(failed=answer[1])
        return PhotoText(lines=tuple(answer[1]))

    def close(self) -> None:
        if self._worker is not None:
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                pass
            self._worker.join(0.5)
            if self._worker.is_alive():
                self._worker.kill()
                self._worker.join(5)
            self._conn.close()
        self._worker = self._conn = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
