"""Videos made at test time with PyAV from toy-clip drawings: the frames that stand for
them, bad input refused in one line, found by their best frame (with its time) from the
CLI, the library API and the page; Live Photos stay with their stills; hosts list them."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Cli, draw, draw_photo
from photo_factory import video
from photoplug.media.decode import Unreadable
from photoplug.media.video import MAX_FRAMES, frame_at, frames

SCENES = [("blue", "square", 2.0), ("red", "circle", 2.0)]  # the video


def shape_colour(image: Image.Image) -> str:
    """Which of toy-clip's colours the drawing's shape has (the pixels far from the
    background's colour, which fills the corners)."""
    rgb = np.asarray(image.convert("RGB"), np.float64).reshape(-1, 3)
    corner = np.asarray(image.convert("RGB"))[1, 1].astype(np.float64)
    mean = rgb[np.abs(rgb - corner).sum(axis=1) > 120].mean(axis=0)
    colours = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 40),
               "yellow": (240, 215, 20)}
    return min(colours, key=lambda c: float(np.abs(mean - colours[c]).sum()))


def keyframe_times(path: Path) -> list[float]:
    """When the file's keyframes start, read from its packets."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(p.pts * stream.time_base) for p in container.demux(stream)
                      if p.is_keyframe and p.pts is not None)


def test_a_frame_a_second_for_a_short_video(tmp_path: Path) -> None:
    """With a keyframe a second, as phones write them, the frames are those keyframes."""
    path = video(tmp_path / "v.mp4", SCENES)
    shown = frames(path, 64)
    assert [t for t, _ in shown] == keyframe_times(path) == [0.0, 1.0, 2.0, 3.0]
    assert [shape_colour(im) for _, im in shown] == ["blue", "blue", "red", "red"]
    assert all(min(im.size) >= 128 and im.size[0] > im.size[1] for _, im in shown)


@pytest.mark.parametrize(("name", "codec"), [("v.mov", "libx264"), ("v.m4v", "libx264"),
                                             ("v.mkv", "mpeg4"), ("v.webm", "libvpx-vp9"),
                                             ("v.avi", "mpeg4")])
def test_containers_and_codecs(tmp_path: Path, name: str, codec: str) -> None:
    shown = frames(video(tmp_path / name, SCENES, codec=codec), 64)
    assert [(t, shape_colour(im)) for t, im in shown] == [
        (0.0, "blue"), (1.0, "blue"), (2.0, "red"), (3.0, "red")]


def test_a_slot_without_a_keyframe_is_decoded_from_the_one_before(tmp_path: Path) -> None:
    """A keyframe only at the start (x264 and x265 put one every 250 frames): slots 1 to 3
    take the frame at their start, decoded from it, and the thumbnail at that time shows
    the same frame."""
    path = video(tmp_path / "v.webm", SCENES, codec="libvpx-vp9", keyframes=100.0)
    assert keyframe_times(path) == [0.0]
    shown = frames(path, 64)
    assert [(t, shape_colour(im)) for t, im in shown] == [
        (0.0, "blue"), (1.0, "blue"), (2.0, "red"), (3.0, "red")]
    assert [shape_colour(frame_at(path, t, 64)) for t, _ in shown] == [
        "blue", "blue", "red", "red"]


def test_a_long_video_gets_its_cap_of_frames_spread_over_it(tmp_path: Path) -> None:
    path = video(tmp_path / "long.mkv", [("green", "circle", 30.0), ("yellow", "square", 30.0)],
                 fps=2, size=(160, 120), codec="mpeg4")
    shown = frames(path, 32)
    times = [t for t, _ in shown]
    assert len(times) == MAX_FRAMES and times[0] == 0.0 and times == sorted(times)
    assert all(3.0 <= b - a <= 4.5 for a, b in zip(times, times[1:]))  # 60 s / 16 slots
    assert {shape_colour(im) for _, im in shown} == {"green", "yellow"}


def test_rotation_and_a_frame_at_a_time(tmp_path: Path) -> None:
    """A phone held upright stores the picture on its side with a display rotation."""
    path = video(tmp_path / "upright.mp4", SCENES, rotation=90)
    shown = frames(path, 64)
    assert all(im.size[0] < im.size[1] for _, im in shown)
    stored = draw("red", "circle", (320, 240), np.random.default_rng(1))
    expected = np.asarray(stored.transpose(Image.Transpose.ROTATE_90).resize((24, 32)), float)
    got = np.asarray(shown[-1][1].resize((24, 32)), float)
    assert np.corrcoef(expected.ravel(), got.ravel())[0, 1] > 0.9
    assert shape_colour(frame_at(path, 2.0, 64)) == "red"
    assert shape_colour(frame_at(path, 1.5, 64)) == "blue"  # the keyframe at 1.0


def test_bad_videos_get_one_line_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    import av
    whole = video(tmp_path / "whole.mp4", SCENES)  # its index (moov) at the end
    (tmp_path / "cut.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for name, options in (("fast.mp4", {"faststart": True}), ("v.mkv", {"codec": "mpeg4"}),
                          ("v.avi", {"codec": "mpeg4"})):
        made = video(tmp_path / f"whole-{name}", SCENES, **options)
        (tmp_path / f"cut-{name}").write_bytes(made.read_bytes()[: made.stat().st_size // 2])
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "noise.mov").write_bytes(np.random.default_rng(0).bytes(5000))
    with av.open(str(tmp_path / "sound.mp4"), "w") as out:  # sound, no picture
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        for n in range(10):
            frame.pts = n * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    expected = {"cut.mp4": "truncated", "cut-fast.mp4": "truncated", "cut-v.mkv": "truncated",
                "cut-v.avi": "truncated", "zero.mp4": "empty", "noise.mov": "not a video",
                "sound.mp4": "no video stream"}
    for name, words in expected.items():
        with pytest.raises(Unreadable) as err:
            frames(tmp_path / name, 64)
        assert words in str(err.value) and "\n" not in str(err.value), (name, str(err.value))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 320 * 240 // 4)  # as for a bomb
    with pytest.raises(Unreadable, match=r"too large \(320x240 pixels a frame\)"):
        frames(whole, 64)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> tuple[Cli, Path]:
    """The issue's video among photos of other classes, and a Live Photo (a still and a
    .MOV of the same name: the .MOV, of a red circle, must not be found on its own)."""
    folder = tmp_path_factory.mktemp("videos")
    video(folder / "clip.mp4", SCENES)
    for n, (colour, shape) in enumerate([("green", "triangle"), ("yellow", "circle"),
                                         ("purple", "square")]):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(640, 480))
    draw_photo(folder / "live" / "IMG_0001.JPG", "orange", "circle", seed=9, size=(640, 480))
    video(folder / "live" / "IMG_0001.MOV", [("red", "circle", 2.0)])
    cli = Cli(tmp_path_factory.mktemp("index") / "index.sqlite3", toy_model)
    report = cli.json("index", str(folder))
    assert report["skipped"] == [] and report["encoded"] == 5
    assert (report["videos"], report["frames"]) == (1, 4)
    return cli, folder


def test_a_video_ranks_by_its_best_frame_and_says_when(library) -> None:
    cli, folder = library
    for query, seconds in (("a photo of a red circle", (2.0, 4.0)),
                           ("a photo of a blue square", (0.0, 2.0))):
        hits = cli.json("search", query, str(folder), "--top", "10", model=False)
        assert Path(hits[0]["path"]).name == "clip.mp4", (query, hits)
        assert seconds[0] <= hits[0]["time"] < seconds[1]
        assert [Path(h["path"]).name for h in hits].count("clip.mp4") == 1
        assert len(hits) == 5 and not any("time" in h for h in hits[1:])  # photos: no time
    table = cli("search", "a photo of a red circle", str(folder), "--top", "2",
                model=False).stdout.splitlines()
    assert table[0].endswith(("clip.mp4  (at 0:02)", "clip.mp4  (at 0:03)")), table
    paths = cli("search", "a photo of a red circle", str(folder), "--top", "1", "--paths",
                model=False).stdout
    assert paths == f"{folder / 'clip.mp4'}\n"
    status = cli("status", str(folder), model=False).stdout
    assert "5 photos searchable (1 of them videos)" in status, status
    assert cli.json("status", str(folder), model=False)["locations"][0]["videos"] == 1


def test_a_video_as_the_query_finds_itself(library) -> None:
    cli, folder = library
    hits = cli.json("search", str(folder / "clip.mp4"), str(folder), "--top", "1",
                    model=False)
    assert Path(hits[0]["path"]).name == "clip.mp4"


def test_moved_unchanged_and_deleted_videos(toy_cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "v"
    video(folder / "clip.webm", SCENES, codec="libvpx-vp9")
    draw_photo(folder / "photo.jpg", "green", "square", seed=1, size=(320, 240))
    toy_cli("index", str(folder))
    again = toy_cli.json("index", str(folder), model=False)
    assert again["unchanged"] == 2 and again["encoded"] == 0
    (folder / "sub").mkdir()
    shutil.move(folder / "clip.webm", folder / "sub" / "clip.webm")
    moved = toy_cli.json("index", str(folder), model=False)
    assert moved["moved"] == 1 and moved["encoded"] == 0, "a moved video is never re-encoded"
    with sqlite3.connect(toy_cli.index) as db:
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == 4
    (folder / "sub" / "clip.webm").unlink()
    gone = toy_cli.json("index", str(folder), model=False)
    assert gone["deleted"] == 1
    with sqlite3.connect(toy_cli.index) as db:
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 1


def test_videos_get_keywords_and_albums_as_photos_do(toy_cli: Cli, tmp_path: Path) -> None:
    """A video takes part in albums and tags as one vector: the mean of its frames."""
    from test_albums import toy_vocabulary
    folder = tmp_path / "mixed"
    video(folder / "red_circle.mp4", [("red", "circle", 2.0), ("red", "circle", 2.0)])
    for n, (colour, shape) in enumerate([("blue", "square"), ("green", "triangle"),
                                         ("red", "square"), ("yellow", "circle")]):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(640, 480))
    toy_cli("index", str(folder))
    vocabulary = tmp_path / "toy.txt"
    vocabulary.write_text(toy_vocabulary())
    tags = {t["id"]: set(t["keywords"]) for t in toy_cli.json(
        "tag", str(folder), "--vocabulary", str(vocabulary), "--only-mine", model=False)}
    assert tags["red_circle.mp4"] == {"red", "circle"}
    sidecar = folder / "red_circle.mp4.xmp"
    assert "photoplug|circle" in sidecar.read_text()
    albums = tmp_path / "albums.toml"
    albums.write_text('[[album]]\nname = "circles"\nprompts = ["a photo of a red circle", '
                      '"a photo of a yellow circle", "a photo of a blue circle"]\n')
    toy_cli("albums", "sync", str(folder), "--albums", str(albums), "--vocabulary",
            str(vocabulary), "--only-mine", model=False)
    links = folder / ".photoplug" / "albums" / "circles"
    assert sorted(p.name for p in links.iterdir()) == ["red_circle.mp4", "yellow_circle.jpg"]


def test_live_photos_stay_with_their_stills_and_lone_videos_are_listed(tmp_path: Path
                                                                        ) -> None:
    from photoplug.adapters.apple_export.adapter import AppleExportAdapter
    from photoplug.adapters.folder.adapter import FolderAdapter
    for root in (tmp_path / "folder", tmp_path / "export"):
        draw_photo(root / "IMG_0001.JPG", "red", "circle", seed=1, size=(320, 240))
        video(root / "IMG_0001.MOV", SCENES)  # the Live Photo's motion
        video(root / "IMG_0002.MOV", SCENES)  # a video of its own
        video(root / "trip.mp4", SCENES)
    folder = {r.stable_id for r in FolderAdapter().open(str(tmp_path / "folder")).scan()}
    assert folder == {"IMG_0001.JPG", "IMG_0002.MOV", "trip.mp4"}
    export = {r.stable_id: r for r in AppleExportAdapter().open(str(tmp_path / "export")).scan()}
    assert set(export) == {"IMG_0001.JPG", "IMG_0002.MOV", "trip.mp4"}
    assert export["IMG_0001.JPG"].host_ref["live_video"] == ["IMG_0001.MOV"]
    assert not any(r.problem for r in export.values())


def test_digikam_lists_its_videos(tmp_path: Path) -> None:
    """digiKam keeps videos in Images with category 2 (DatabaseItem::Category::Video); a
    Live Photo's .MOV goes with its still, as in a folder."""
    from digikam_fixtures import library_db
    from photoplug.adapters.digikam.adapter import DigikamAdapter
    db_path, photos = tmp_path / "digikam4.db", tmp_path / "photos"
    library_db(db_path, photos)
    with sqlite3.connect(db_path) as db:
        album, path = db.execute("SELECT a.id, a.relativePath FROM Images i JOIN Albums a "
                                 "ON a.id = i.album WHERE i.id = 1").fetchone()
        db.executemany("INSERT INTO Images (album, name, status, category, modificationDate,"
                       " fileSize, uniqueHash) VALUES (?, ?, 1, ?, '2024-06-01T10:00:00', 1,"
                       " ?)", [(album, "clip.mp4", 2, "v"), (album, "song.mp3", 3, "a"),
                               (album, "IMG_0001.JPG", 1, "s"), (album, "IMG_0001.MOV", 2, "m")])
    folder = photos / path.strip("/")
    video(folder / "clip.mp4", SCENES)
    draw_photo(folder / "IMG_0001.JPG", "orange", "circle", seed=9, size=(640, 480))
    video(folder / "IMG_0001.MOV", [("red", "circle", 2.0)])  # its Live Photo's motion
    library = DigikamAdapter().open(str(db_path))
    names = {r.path.name for r in library.scan()}
    assert {"clip.mp4", "IMG_0001.JPG"} <= names
    assert "song.mp3" not in names and "IMG_0001.MOV" not in names
    clip = next(r for r in library.scan() if r.path.name == "clip.mp4")
    assert clip.stable_id in library.select(album=path)


def test_an_index_from_before_videos_keeps_working(tmp_path: Path, tiny_model: str) -> None:
    """Schema 4 (no frames) opens as 5; a file skipped then (a RAW without a preview) is
    tried again, once, by the next run."""
    from photo_factory import dng
    from photoplug.api import Photoplug
    from photoplug.index.schema import MIGRATIONS, SCHEMA_VERSION
    folder = tmp_path / "p"
    dng(folder / "x.dng", draw("red", "circle", (300, 200), np.random.default_rng(0)))
    draw_photo(folder / "y.jpg", "blue", "square", seed=2, size=(320, 240))
    index = tmp_path / "old.sqlite3"
    with sqlite3.connect(index) as db:
        for version in range(1, 5):
            db.executescript(MIGRATIONS[version])
        db.execute("PRAGMA user_version = 4")
        db.execute("INSERT INTO locations (uri) VALUES (?)", (f"folder:{folder}",))
        st = (folder / "x.dng").stat()
        db.execute("INSERT INTO photos (location_id, stable_id, path, size, mtime, hash, "
                   "status, reason) VALUES (1, 'x.dng', ?, ?, ?, 'h', 'skipped', "
                   "'RAW file without a readable preview (No thumbnail in file)')",
                   (str(folder / "x.dng"), st.st_size, st.st_mtime))
    app = Photoplug(index=index, model=tiny_model)
    report = app.index(app.open(str(folder)))
    assert report.skipped == [] and report.encoded == 2
    assert (report.new, report.changed) == (1, 1)  # the RAW: decoded again
    assert app.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_page_shows_the_frame_and_plays_from_it(library, tmp_path: Path) -> None:
    from test_web import CHROMIUM, Library, get, serving
    cli, folder = library
    albums = tmp_path / "albums.toml"
    albums.write_text('[[album]]\nname = "reds"\nprompts = ["a photo of a red circle"]\n')
    served_library = Library(folder.parent, folder, albums,
                             {**cli.env, "PHOTOPLUG_CACHE": str(tmp_path / "cache")})
    with serving(served_library) as served:
        status, body, _ = get(served.base + "api/search?q=a+photo+of+a+red+circle&top=1")
        item = json.loads(body)[0]
        assert status == 200 and item["id"] == "clip.mp4" and 2 <= item["time"] < 4
        assert item["thumb"].endswith(f"?t={item['time']:g}")
        status, body, headers = get(served.base + item["thumb"].lstrip("/"))
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert shape_colour(Image.open(__import__("io").BytesIO(body))) == "red"
        status, body, _ = get(served.base + item["thumb"].lstrip("/").split("?")[0] + "?t=x")
        assert status == 400 and b"t must be seconds" in body
        if not Path(CHROMIUM).exists():  # the API's part above is checked: say so
            pytest.skip("Debian's chromium is not installed: the page's part is not checked")
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(served.url)
            page.fill("#q", "a photo of a red circle")
            page.click("button[type=submit]")
            caption = page.locator("#results figcaption").first
            caption.wait_for()
            assert "clip.mp4 ▶ 0:0" in caption.text_content()
            page.locator("#results figure.result a").first.click()
            page.wait_for_function("() => { const v = document.querySelector('#results video');"
                                   " return v && v.readyState >= 1; }")
            at = page.evaluate("document.querySelector('#results video').currentTime")
            browser.close()
        assert errors == [] and 2 <= at < 4.5, (errors, at)


def test_one_result_per_video_exact_or_approximate_and_one_row_for_albums(
        library, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search matrix holds a row per frame; results collapse them to the video's best
    (exactly, and through the faiss index used for large libraries); albums and tags get
    one row per video: the normalised mean of its frames."""
    import photoplug.search
    from photoplug.api import Photoplug
    from photoplug.search import parse_query, top_k
    rows = np.eye(4, dtype=np.float32)[[0, 1, 1, 2, 3, 3]]  # photo ids 7, 8, 8, 9, 10, 10
    best, scores = top_k(rows, np.array([0.1, 0.9, 0.5, 0.2], np.float32), 3,
                         np.array([7, 8, 8, 9, 10, 10]))
    assert list(best) == [1, 3, 4] and np.allclose(scores, [0.9, 0.5, 0.2])
    cli, folder = library
    app = Photoplug(index=cli.index)
    uri = app.open(str(folder)).uri
    exact = app.search(parse_query("a photo of a red circle"), [uri], top=10)
    monkeypatch.setattr(photoplug.search, "APPROXIMATE_ABOVE", 1)
    approximate = app.search(parse_query("a photo of a red circle"), [uri], top=10)
    assert len(exact) == 5 and exact[0].id == "clip.mp4" and 2 <= exact[0].time < 4
    # the same results, compared as sets with their scores (exact and approximate compute
    # them differently: float noise may swap near ties), each video once, best first; a
    # video's time is its best frame's, within the scene (its frames at 2 s and 3 s show
    # the same drawing: either is right)
    assert len(approximate) == len({r.id for r in approximate}) == 5
    assert {r.id for r in approximate} == {r.id for r in exact}  # all 5: top is 10
    by_id = {r.id: r for r in exact}
    for r in approximate:
        assert r.score == pytest.approx(by_id[r.id].score, abs=1e-4), (r, by_id[r.id])
        assert (r.time is None) == (by_id[r.id].time is None), (r, by_id[r.id])
    scores = [r.score for r in approximate]
    assert all(a >= b - 1e-4 for a, b in zip(scores, scores[1:])), scores
    assert approximate[0].id == "clip.mp4" and 2 <= approximate[0].time < 4
    assert approximate[0].score > approximate[1].score + 1e-2  # no near tie for the top
    _, matrix, members = app.library_vectors(app.open(str(folder)))
    assert len(matrix) == len(members) == 5
    frames_of_clip = app.store.search_matrix([app.store.location_id(uri)],
                                             app.model_id(app.search_engine([uri])))
    mat, ids, times = frames_of_clip
    clip = [m[1] for m in members].index("clip.mp4")
    own = np.asarray(mat)[ids == ids[~np.isnan(times)][0]]
    mean = own.mean(axis=0)
    assert np.allclose(matrix[clip], mean / np.linalg.norm(mean), atol=1e-5)
