"""Videos: a few frames per video, chosen to cover it, decoded through PyAV (FFmpeg).

A video of length L is cut into n = min(MAX_FRAMES, ceil(L / MIN_STEP)) equal slots (a
frame a second for short videos, 16 spread over a long one); each slot takes the first
keyframe that starts in it. Encoders put keyframes at scene changes and every second or
few, so they cover what the video shows, and a keyframe decodes alone: for most videos
one pass over the packets decodes only the chosen keyframes, and a video costs about its
frames' worth of photos, not a decode of every frame. A slot with no keyframe of its own
(x264 and x265 by default put one every 250 frames) takes the first frame at its start,
decoded in a second pass from the keyframe before it, frames nothing refers to skipped:
at most one decode of the video. Frames come out upright (the display matrix's rotation)
and scaled down to what the model needs. Bad input raises ``Unreadable`` with a one-line
reason; the work is bounded by the file (two reads of its packets, at most one decode)
and FFmpeg gives up waiting for data after ``TIMEOUTS``.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from PIL import Image

from photoplug.media.decode import DRAFT_OVERSAMPLE, Unreadable, first_line

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

MAX_FRAMES = 16
MIN_STEP = 1.0  # seconds between frames, at the most
# A video whose packets end this far before the length its header declares is truncated
# (the sound may outlast the picture a little): seconds, or a share of the length.
TRUNCATED_BY = (1.0, 0.05)
TIMEOUTS = (30.0, 10.0)  # seconds FFmpeg waits to open the file, and for each read
_TURNS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
          -180: Image.Transpose.ROTATE_180, -90: Image.Transpose.ROTATE_270}


def clock(seconds: float) -> str:
    """Seconds into a video as a player shows them: m:ss, or h:mm:ss."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def frames(path: Path, min_side: int) -> list[tuple[float, Image.Image]]:
    """(seconds from the start, upright RGB image) of the frames that stand for the video,
    in order; each image's short side at least ``min_side`` px where the video has it."""
    with _opened(path) as (container, stream), _reasons():
        declared = _declared_length(container, stream)
        slots = _Slots(declared or _scan_length(container, stream))
        chosen, keyframes, end = _keyframes(container, stream, slots)
        if declared and end < declared - max(TRUNCATED_BY[0], TRUNCATED_BY[1] * declared):
            raise Unreadable(f"truncated video (it ends at {end:.1f} s of {declared:.1f} s)")
        taken = {slots.of(time) for time, _ in chosen}
        gaps = [n for n in range(slots.count) if n not in taken and slots.start(n) < end]
        if gaps and keyframes:
            chosen += _between_keyframes(path, slots, gaps, keyframes)
        out = [(time, _upright(frame, stream, min_side))
               for time, frame in sorted(chosen, key=lambda c: c[0])]
    if not out:
        raise Unreadable("corrupt or truncated video (no frame could be decoded)")
    return out


class _Slots:
    """A video's length cut into equal slots, one frame each."""

    def __init__(self, length: float) -> None:
        self.count = min(MAX_FRAMES, max(1, math.ceil(length / MIN_STEP)))
        self.length = length / self.count if length > 0 else 1.0

    def of(self, time: float) -> int:
        return min(self.count - 1, int(time / self.length + 1e-6))

    def start(self, n: int) -> float:
        return n * self.length


def _keyframes(container: InputContainer, stream: VideoStream, slots: _Slots
               ) -> tuple[list[tuple[float, VideoFrame]], list[float], float]:
    """The first keyframe of each slot, decoded, with its time; when every keyframe
    starts; and where the packets end. Only those keyframes reach the decoder (each
    decodes alone)."""
    taken, sent, keyframes, end = -1, [], [], 0.0
    decoded: list[VideoFrame] = []
    for packet in container.demux(stream):
        time = _seconds(packet.pts if packet.pts is not None else packet.dts, stream)
        if time is None:
            continue
        end = max(end, time + float((packet.duration or 0) * stream.time_base))
        if packet.is_keyframe and time >= 0:
            keyframes.append(time)
            if slots.of(time) > taken:
                taken = slots.of(time)
                sent.append(time)
                decoded += stream.codec_context.decode(packet)
    decoded += stream.codec_context.decode(None)  # the decoder may hold the last back
    return [(_seconds(frame.pts, stream) if frame.pts is not None else sent[n], frame)
            for n, frame in enumerate(decoded)], keyframes, end  # type: ignore[misc]


def _between_keyframes(path: Path, slots: _Slots, gaps: list[int], keyframes: list[float]
                       ) -> list[tuple[float, VideoFrame]]:
    """For each slot in ``gaps`` (none of its own keyframes), the first frame at or after
    its start and inside it, decoded from the keyframe before that start. One pass over
    the packets; between those stretches nothing is decoded, and within them frames no
    other frame refers to are skipped."""
    pending = [(slots.start(n), slots.start(n) + slots.length) for n in gaps]
    origin = [max((k for k in keyframes if k <= start + 1e-6), default=keyframes[0])
              for start, _ in pending]
    out: list[tuple[float, VideoFrame]] = []
    with _opened(path) as (container, stream):
        stream.codec_context.skip_frame = "NONREF"
        feeding = False

        def take(decoded: list[VideoFrame]) -> None:
            nonlocal feeding
            for frame in decoded:
                time = _seconds(frame.pts, stream)
                while time is not None and pending and time >= pending[0][0] - 1e-3:
                    (_, stop), first = pending.pop(0), origin.pop(0)
                    if time < stop:
                        out.append((time, frame))
                    feeding = bool(origin) and origin[0] == first

        for packet in container.demux(stream):
            if not pending:
                break
            time = _seconds(packet.pts if packet.pts is not None else packet.dts, stream)
            if packet.is_keyframe and time is not None and abs(time - origin[0]) < 1e-6:
                feeding = True
            if feeding:
                take(stream.codec_context.decode(packet))
        if pending:
            take(stream.codec_context.decode(None))
    return out


def frame_at(path: Path, time: float, min_side: int) -> Image.Image:
    """The frame shown at ``time`` seconds (the last one at or before it), upright:
    decoded from the keyframe before it."""
    with _opened(path) as (container, stream), _reasons():
        container.seek((stream.start_time or 0) + int(time / stream.time_base), stream=stream,
                       backward=True)
        shown = None
        for frame in container.decode(stream):
            at = _seconds(frame.pts, stream)
            if shown is not None and at is not None and at > time + 1e-3:
                break  # past it: the frame before shows it
            shown = frame
            if at is not None and at >= time - 1e-3:
                break  # this very frame
        if shown is None:
            raise Unreadable("corrupt or truncated video (no frame could be decoded)")
        return _upright(shown, stream, min_side)


@contextmanager
def _reasons() -> Iterator[None]:
    """PyAV's errors for bad input as ``Unreadable``."""
    import av
    try:
        yield
    except (av.FFmpegError, ValueError, MemoryError) as exc:
        raise Unreadable(f"corrupt or truncated video ({_why(exc)})") from None


@contextmanager
def _opened(path: Path) -> Iterator[tuple[InputContainer, VideoStream]]:
    """The file and its first video stream (cover art does not count); refused with a
    reason when it is empty, unreadable, has no picture or frames too large."""
    import av
    if path.stat().st_size == 0:
        raise Unreadable("empty file (0 bytes)")
    try:
        container = av.open(str(path), timeout=TIMEOUTS)
    except (av.FFmpegError, ValueError) as exc:
        raise Unreadable(f"corrupt, truncated or not a video ({_why(exc)})") from None
    with container:
        streams = [s for s in container.streams.video
                   if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            raise Unreadable("no video stream (sound only, or not a video)")
        stream = streams[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        limit = Image.MAX_IMAGE_PIXELS
        if limit and width * height > 2 * limit:  # Pillow's rule for decompression bombs
            raise Unreadable(f"refused as too large ({width}x{height} pixels a frame)")
        stream.codec_context.thread_count = 1  # one thread per video: the indexer runs several
        yield container, stream


def _declared_length(container: InputContainer, stream: VideoStream) -> float | None:
    """The length in seconds the header gives: the video stream's own (its duration, or
    its frame count at its rate, whichever is longer), else the file's."""
    lengths = [float(stream.duration * stream.time_base)] if stream.duration else []
    if stream.frames and stream.average_rate:
        lengths.append(float(stream.frames / stream.average_rate))
    if not lengths and container.duration:
        lengths.append(container.duration / 1_000_000)
    return max(lengths, default=None)


def _scan_length(container: InputContainer, stream: VideoStream) -> float:
    """The length from the packets, for a header that gives none (a live recording); the
    file is then read again from its start."""
    end = 0.0
    for packet in container.demux(stream):
        time = _seconds(packet.pts if packet.pts is not None else packet.dts, stream)
        end = max(end, time or 0.0)
    container.seek(0)
    return end


def _seconds(pts: int | None, stream: Any) -> float | None:
    """A timestamp as seconds from the stream's start."""
    if pts is None:
        return None
    return float((pts - (stream.start_time or 0)) * stream.time_base)


def _why(exc: BaseException) -> str:
    """FFmpeg's words for what went wrong (without its error number and file name)."""
    return getattr(exc, "strerror", None) or first_line(exc)


def _upright(frame: VideoFrame, stream: VideoStream, min_side: int) -> Image.Image:
    """The frame as RGB in its display proportions, scaled down to no less than
    ``min_side`` times the draft oversampling on its short side, turned as it is shown."""
    aspect = stream.codec_context.sample_aspect_ratio or Fraction(1)
    width, height = frame.width * float(aspect), frame.height
    scale = min(1.0, min_side * DRAFT_OVERSAMPLE / min(width, height))
    image = frame.to_image(width=max(1, round(width * scale)),
                           height=max(1, round(height * scale)), interpolation="AREA")
    turn = _TURNS.get(round(frame.rotation or 0))
    return image.transpose(turn) if turn is not None else image
