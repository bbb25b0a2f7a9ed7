"""Indexing videos against indexing photos, and photoplug's frame choice against decoding
every frame, all measured in the same run.

    .venv/bin/python benchmarks/video_index.py --videos 4
    .venv/bin/python benchmarks/video_index.py --arch ViT-B-32 --videos 4 --photos 64

Videos of --seconds at --size and --fps are made with PyAV (libx264, preset ultrafast,
a keyframe every --keyframes seconds as phones write them; 0: x264's own choice), each a
sequence of toy-clip drawings with sensor-like noise so that frames cost what camera
frames cost to decode. Photos are JPEGs of the same size. Printed: the pipeline's photos/s
and videos/s (and frames/s), so what one video costs in photos against the frames it
gets; and, for one video, ``video.frames`` (photoplug's choice of keyframes) against
PyAV decoding every frame (threads on), the naive way.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import TOY_CLIP, make_photos  # noqa: E402
from random_models import model_folder  # noqa: E402
from draw import CLASSES, draw  # noqa: E402  (toy-clip's, on the path index_and_search set)

from photoplug.model import machine  # noqa: E402
from photoplug.api import Photoplug  # noqa: E402
from photoplug.media.video import frames  # noqa: E402


def make_video(path: Path, seconds: int, size: tuple[int, int], fps: int, keyframes: float,
               seed: int) -> None:
    """Ten scenes of toy-clip drawings, each frame with one of four noise patterns."""
    import av
    rng = np.random.default_rng(seed)
    width, height = size
    noise = [rng.normal(0, 6, (height, width, 3)).astype(np.int16) for _ in range(4)]
    options = {"preset": "ultrafast", **({"g": str(round(keyframes * fps))} if keyframes else {})}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for scene in range(10):
            colour, shape = CLASSES[(seed * 7 + scene) % len(CLASSES)]
            base = np.asarray(draw(colour, shape, size, rng)).astype(np.int16)
            for n in range(seconds * fps // 10):
                pixels = np.clip(base + noise[n % 4], 0, 255).astype(np.uint8)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(stream.encode())


def decode_every_frame(path: Path) -> int:
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--keyframes", type=float, default=1.0,
                    help="seconds between keyframes (0: x264 decides, up to 250 frames)")
    ap.add_argument("--photos", type=int, default=64)
    ap.add_argument("--arch", help="open_clip architecture with random weights (e.g. ViT-B-32)")
    ap.add_argument("--repeat", type=int, default=3, help="timings of the frame choice")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    size = tuple(int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="photoplug-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        print(machine.describe())
        model = model_folder(args.arch, tmp / "model") if args.arch \
            else f"local-dir:{TOY_CLIP}"
        started = time.perf_counter()
        (tmp / "videos").mkdir()
        for n in range(args.videos):
            make_video(tmp / "videos" / f"v{n:03}.mp4", args.seconds, size, args.fps,
                       args.keyframes, seed=n)
        megabytes = sum(p.stat().st_size for p in (tmp / "videos").iterdir()) / 1e6
        make_photos(tmp / "photos", args.photos, size)
        print(f"made {args.videos} videos of {args.seconds} s at {size[0]}x{size[1]}, "
              f"{args.fps} fps ({megabytes / args.videos:.0f} MB each) and {args.photos} "
              f"JPEGs of that size in {time.perf_counter() - started:.0f} s; model "
              f"{args.arch or 'toy-clip'}")

        app = Photoplug(index=tmp / "warm.sqlite3", model=model, device="cpu")
        engine = app.engine(app.requested)
        print(f"images encoded by {engine.image_backend}")
        app.index(app.open(str(tmp / "photos")))  # warm: the export, the runtime's choice

        rates = {}
        for kind in ("photos", "videos"):
            run = Photoplug(index=tmp / f"{kind}.sqlite3", model=model, device="cpu")
            run._engines[run.requested] = engine
            rates[kind] = run.index(run.open(str(tmp / kind)))
        photos, videos = rates["photos"], rates["videos"]
        per_video = videos.frames / max(videos.videos, 1)
        print(f"\nindexing (pipeline, {engine.image_backend})")
        print(f"  photos   {photos.rate:7.2f} photos/s ({photos.encoded} photos)")
        print(f"  videos   {videos.rate:7.2f} videos/s ({videos.videos} videos, "
              f"{per_video:.1f} frames each: {videos.frames / videos.seconds:.1f} frames/s)")
        print(f"  one video costs {photos.rate / videos.rate:.1f} photos for its "
              f"{per_video:.1f} frames")

        sample = tmp / "videos" / "v000.mp4"
        chosen = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            count = len(frames(sample, engine.image_size))
            chosen.append(time.perf_counter() - start)
        start = time.perf_counter()
        every = decode_every_frame(sample)
        naive = time.perf_counter() - start
        print(f"\ndecoding one video (median of {args.repeat})")
        print(f"  photoplug's keyframes  {statistics.median(chosen):6.2f} s for {count} frames"
              f" (scaled for the model)")
        print(f"  every frame (PyAV)     {naive:6.2f} s for {every} frames   "
              f"= {naive / statistics.median(chosen):.0f}x photoplug's")


if __name__ == "__main__":
    main()
