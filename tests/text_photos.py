"""Photos with (and without) text, made at test time, and fake OCR engines that hang or
crash: for tests/test_text_in_photos.py and benchmarks/text_index.py.

Text: one to three lines of real words in one of the machine's real fonts (DejaVu,
Liberation, Noto; Noto CJK or Droid for Chinese; Pillow's own font where none is
installed), 3 to 9 % of the short side high, in a colour that stands out, rotated up to
15 degrees, on a sign plate or straight on a photo-like background (gradient, fractal
texture, blurred shapes, sensor noise), JPEG-compressed. Photos without text get the same
backgrounds plus text-like clutter (stripes, bricks, windows, leaves).
"""
from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

WORDS = """harbor tulip garden market coffee bakery station river bridge castle museum
library forest meadow window orange yellow purple silver golden winter summer autumn island
mountain valley village avenue theater cinema hotel kitchen bicycle guitar piano violin
camera pencil rocket planet comet dragon falcon eagle salmon lemon cherry almond pepper
ginger butter cheese bread pizza pasta noodle sunset ocean canyon desert glacier harvest
lantern candle mirror ladder anchor compass marble velvet cotton copper bronze crystal
shadow thunder breeze pharmacy hospital school office dairy vintage classic modern fresh
welcome parking garage ticket platform central grand royal happy lucky sunny quiet""".split()
CHINESE = ["郁金香", "港口", "咖啡", "书店", "欢迎光临", "火车站", "停车场", "超市", "医院",
           "图书馆", "银行", "餐厅", "博物馆", "面包店", "电影院", "茶馆"]
SIZES = [(1600, 1200), (2048, 1536), (1200, 1600), (1536, 2048), (2400, 1800)]


def fonts() -> tuple[list[str], list[str]]:
    """Latin and CJK font files on this machine."""
    latin: list[str] = []
    for pattern in ("/usr/share/fonts/truetype/dejavu/DejaVu*.ttf",
                    "/usr/share/fonts/truetype/liberation*/Liberation*.ttf"):
        latin += [f for f in sorted(glob.glob(pattern)) if "Math" not in f
                  and "ExtraLight" not in f and "Symbol" not in f]
    cjk = sorted(glob.glob("/usr/share/fonts/opentype/noto/Noto*CJK-*.ttc")
                 + glob.glob("/usr/share/fonts/truetype/droid/DroidSansFallback*.ttf"))
    return latin, cjk


def _font(path: str | None, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px) if path else ImageFont.load_default(px)


def background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Sky-to-ground gradient, fractal texture and blurred shapes."""
    sw, sh = max(64, w // 4), max(64, h // 4)
    t = np.linspace(0, 1, sh)[:, None, None]
    img = (1 - t) * rng.integers(0, 256, 3) + t * rng.integers(0, 256, 3)
    img = np.broadcast_to(img, (sh, sw, 3)).copy()
    noise = sum(np.asarray(Image.fromarray((rng.random((c, c)) * 255).astype(np.uint8))
                           .resize((sw, sh), Image.BICUBIC), np.float32) / (i + 1)
                for i, c in enumerate([4, 12, 40, 120]))
    noise = (noise - noise.mean()) / (noise.std() + 1e-6)
    img += noise[..., None] * rng.uniform(10, 40)
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pic)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(-sw // 4, sw)), int(rng.integers(-sh // 4, sh))
        box = (x0, y0, x0 + int(rng.integers(sw // 10, sw // 2)),
               y0 + int(rng.integers(sh // 10, sh // 2)))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    return pic.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 4))).resize((w, h),
                                                                              Image.BICUBIC)


def clutter(rng: np.random.Generator, pic: Image.Image) -> None:
    """Text-like structure without text."""
    w, h = pic.size
    d = ImageDraw.Draw(pic)
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    x1, y1 = x0 + int(rng.integers(w // 5, w // 2)), y0 + int(rng.integers(h // 5, h // 2))
    col = tuple(int(c) for c in rng.integers(0, 256, 3))
    kind = rng.choice(["stripes", "bricks", "windows", "leaves"])
    if kind == "stripes":
        step = int(rng.integers(8, 40))
        for x in range(x0, x1, step):
            d.rectangle((x, y0, x + step // 2, y1), fill=col)
    elif kind == "bricks":
        bh = int(rng.integers(15, 50))
        for row, y in enumerate(range(y0, y1, bh)):
            for x in range(x0 - (row % 2) * bh, x1, bh * 2):
                d.rectangle((x + 2, y + 2, x + bh * 2 - 2, y + bh - 2), outline=col, width=3)
    elif kind == "windows":
        s = int(rng.integers(20, 70))
        for y in range(y0, y1, s * 2):
            for x in range(x0, x1, s * 2):
                d.rectangle((x, y, x + s, y + int(s * 1.4)), fill=col)
    else:
        for _ in range(300):
            cx, cy, r = int(rng.integers(x0, x1)), int(rng.integers(y0, y1)), int(rng.integers(4, 18))
            d.ellipse((cx - r, cy - r // 2, cx + r, cy + r // 2), fill=col)


def _block(lines: list[str], font: ImageFont.FreeTypeFont, fg: tuple, plate: tuple | None
           ) -> Image.Image:
    px = font.size
    gap, pad = int(px * 0.35), int(px * (0.5 if plate else 0.2))
    boxes = [font.getbbox(s) for s in lines]
    tw = max(b[2] - b[0] for b in boxes)
    th = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    img = Image.new("RGBA", (tw + 2 * pad, th + 2 * pad), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if plate:
        d.rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=pad // 2,
                            fill=plate + (255,))
    y = pad
    for s, b in zip(lines, boxes):
        d.text((pad + (tw - (b[2] - b[0])) // 2 - b[0], y - b[1]), s, font=font,
               fill=fg + (255,))
        y += b[3] - b[1] + gap
    return img


def make_photo(path: Path, lines: list[str], seed: int, chinese: bool = False,
               size: tuple[int, int] | None = None) -> dict:
    """Draw ``lines`` (none: a photo without text) on a photo-like background, save a
    JPEG at ``path``; return what was drawn."""
    rng = np.random.default_rng(seed)
    latin, cjk = fonts()
    w, h = size or SIZES[int(rng.integers(0, len(SIZES)))]
    pic = background(rng, w, h)
    meta: dict = {"file": path.name, "lines": lines, "size": [w, h]}
    if not lines:
        for _ in range(int(rng.integers(1, 3))):
            clutter(rng, pic)
    else:
        choices = cjk if chinese else latin
        font_path = str(rng.choice(choices)) if choices else None
        px = int(min(w, h) * rng.uniform(0.03, 0.09))
        plate = tuple(int(c) for c in rng.integers(0, 256, 3)) if rng.random() < 0.5 else None
        angle = float(rng.uniform(-15, 15))
        font = _font(font_path, px)
        rot = _block(lines, font, (0, 0, 0), plate).rotate(angle, expand=True)
        if rot.width >= w or rot.height >= h:
            font = _font(font_path, int(px * 0.9 * min(w / rot.width, h / rot.height)))
            rot = _block(lines, font, (0, 0, 0), plate).rotate(angle, expand=True)
        x = int(rng.integers(0, max(1, w - rot.width)))
        y = int(rng.integers(0, max(1, h - rot.height)))
        under = np.asarray(pic.crop((x, y, x + rot.width, y + rot.height))).reshape(-1, 3)
        ref = np.array(plate) if plate else under.mean(0)
        dark = float(np.dot(ref, [0.299, 0.587, 0.114])) > 128
        fg = tuple(int(c) for c in (rng.integers(0, 80, 3) if dark else rng.integers(180, 256, 3)))
        rot = _block(lines, font, fg, plate).rotate(angle, expand=True, resample=Image.BICUBIC)
        pic.paste(rot, (x, y), rot)
        meta.update(font=os.path.basename(font_path or "pillow-default"), px=font.size,
                    angle=round(angle, 1))
    pic = pic.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    arr = np.asarray(pic, np.int16) + rng.normal(0, rng.uniform(2, 6), (h, w, 3)).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
        path, quality=int(rng.integers(78, 93)))
    return meta


def word_plan(n_text: int, n_chinese: int, seed: int = 0) -> list[list[str]]:
    """Lines for ``n_text`` Latin and ``n_chinese`` Chinese photos: no word in two photos,
    so each word names exactly one photo."""
    rng = np.random.default_rng(seed)
    words = [str(w) for w in rng.permutation(WORDS)]
    zh = [str(w) for w in rng.permutation(CHINESE)]
    plans = []
    for _ in range(n_text):
        lines = []
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.integers(1, 3))
            case = str(rng.choice(["lower", "upper", "title"]))
            lines.append(" ".join(getattr(words.pop(), case)() for _ in range(k)))
        plans.append(lines)
    for _ in range(n_chinese):
        plans.append([zh.pop() for _ in range(int(rng.integers(1, 3)))])
    return plans


# -- fake engines for the reader's worker (top level: the worker imports them) ----------

def hang_or_crash_ocr():
    """An OCR that hangs on a dark picture, dies on a white one, else reads one line."""
    def read(rgb):
        level = float(rgb.mean()) if rgb.size else 128.0
        if level < 20:
            time.sleep(3600)
        if level > 240:
            os._exit(3)
        return [("hello world", 0.99), ("19", 0.99), ("junk", 0.3)]
    return read
