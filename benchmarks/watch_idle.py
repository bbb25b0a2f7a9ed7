"""What `photoplug watch` costs while nothing happens, on a large library, against an idle
Python process measured in the same run.

    .venv/bin/python benchmarks/watch_idle.py --photos 100000 --seconds 30

A library of --photos small JPEGs in folders of 100 is made in a temporary folder: 18
real drawings (toy-clip's classes), hard-linked over and over, so the real indexer reads
and hashes every file but encodes each content once (the index keys embeddings by content
hash). It is indexed with toy-clip by `photoplug index`, then the real `photoplug watch`
runs on it; once it has caught up (its state file is written) and settled, its CPU time
(utime + stime from /proc/PID/stat) and memory (VmRSS, peak VmHWM) are read over
--seconds, and the same for `python -c "import time; time.sleep(...)"` started beside it.
Targets: under 1 % of a core and under 150 MB. Linux only (/proc, inotify).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOY_CLIP = REPO.parent / "shared" / "models" / "toy-clip"
sys.path.insert(0, str(TOY_CLIP))
from draw import CLASSES, draw  # noqa: E402

import numpy as np  # noqa: E402

from photoplug.model import machine  # noqa: E402

PHOTOPLUG = str(Path(sys.executable).with_name("photoplug"))
TICKS = os.sysconf("SC_CLK_TCK")
CPU_TARGET, RSS_TARGET_MB = 1.0, 150.0


def make_library(folder: Path, count: int) -> int:
    """``count`` hard links of 18 drawings, 100 a folder; how many folders."""
    originals = folder / ".originals"
    originals.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sources = []
    for colour, shape in CLASSES:
        path = originals / f"{colour}_{shape}.jpg"
        draw(colour, shape, (96, 72), rng).save(path, quality=85)
        sources.append(path)
    library = folder / "library"
    for n in range(count):
        target = library / f"{n // 100:04}" / f"photo_{n:06}.jpg"
        if n % 100 == 0:
            target.parent.mkdir(parents=True)
        os.link(sources[n % len(sources)], target)
    return (count + 99) // 100


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (after the command name, which may hold
    spaces, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def inotify_watches(pid: int) -> int:
    """The inotify watches a process holds (one line per watch in its fds' fdinfo)."""
    count = 0
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            count += info.read_text().count("inotify wd:")
        except OSError:
            pass
    return count


def measure(pids: dict[str, int], seconds: float) -> dict[str, dict[str, float]]:
    """Per process: % of one core over ``seconds``, and its largest RSS seen (sampled
    every second), in MB."""
    start = {name: cpu_ticks(pid) for name, pid in pids.items()}
    rss = {name: 0.0 for name in pids}
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        time.sleep(1)
        for name, pid in pids.items():
            rss[name] = max(rss[name], memory_mb(pid)["VmRSS"])
    wall = time.monotonic() - began
    return {name: {"cpu": 100 * (cpu_ticks(pid) - start[name]) / TICKS / wall,
                   "rss": rss[name], "peak": memory_mb(pid)["VmHWM"]}
            for name, pid in pids.items()}


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> float:
    began = time.monotonic()
    while not path.exists():
        if proc.poll() is not None or time.monotonic() - began > timeout:
            raise SystemExit(f"the watcher did not catch up:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured idle time")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds after catching up before measuring")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    print(machine.describe())
    limit = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    root = Path(tempfile.mkdtemp(prefix="photoplug-watch-idle-"))
    env = {**os.environ, "PHOTOPLUG_INDEX": str(root / "index.sqlite3"),
           "XDG_CACHE_HOME": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "config"),
           "XDG_DATA_HOME": str(root / "data")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        began = time.monotonic()
        folders = make_library(root, args.photos)
        print(f"library: {args.photos} photos (hard links of {len(CLASSES)} drawings) in "
              f"{folders} folders, made in {time.monotonic() - began:.1f} s")
        library = root / "library"
        began = time.monotonic()
        index = subprocess.run([PHOTOPLUG, "index", str(library), "--json", "--model",
                                f"local-dir:{TOY_CLIP}"], env=env, capture_output=True,
                               text=True)
        if index.returncode:
            raise SystemExit(f"photoplug index failed:\n{index.stderr[-2000:]}")
        report = json.loads(index.stdout)
        print(f"indexed by `photoplug index` in {time.monotonic() - began:.1f} s: "
              f"{report['total']} photos, {report['encoded']} encoded")

        log = root / "watch.log"
        idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**6)"])
        procs.append(idle)
        began = time.monotonic()
        with log.open("wb") as out:
            watcher = subprocess.Popen([PHOTOPLUG, "watch", str(library)], env=env,
                                       stdout=out, stderr=subprocess.STDOUT)
        procs.append(watcher)
        caught_up = wait_for(root / "index.sqlite3.watch.json", watcher, 1800, log)
        print(f"`photoplug watch` caught up in {caught_up:.1f} s; settling {args.settle:g} s")
        time.sleep(args.settle)
        watches = inotify_watches(watcher.pid)
        print(f"inotify: {watches} watches held (one per folder, {folders + 1} folders); "
              f"this system allows {limit} per user (fs.inotify.max_user_watches)")
        got = measure({"photoplug watch": watcher.pid, "idle python": idle.pid},
                      args.seconds)
        print(f"\nover {args.seconds:g} s idle:")
        for name, value in got.items():
            print(f"  {name:<16} CPU {value['cpu']:6.2f} % of a core   RSS {value['rss']:6.1f} MB"
                  f"   peak RSS {value['peak']:6.1f} MB")
        w, base = got["photoplug watch"], got["idle python"]
        print(f"  watcher - idle:  CPU {w['cpu'] - base['cpu']:+.2f} points, RSS "
              f"{w['rss'] / base['rss']:.1f}x ({w['rss'] - base['rss']:+.1f} MB)")
        print(f"targets: CPU < {CPU_TARGET:g} % -> {'met' if w['cpu'] < CPU_TARGET else 'MISSED'}"
              f"; RSS < {RSS_TARGET_MB:g} MB -> "
              f"{'met' if w['rss'] < RSS_TARGET_MB else 'MISSED'}")
        if "error" in log.read_text().lower():
            print(f"watcher log:\n{log.read_text()[-1500:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
