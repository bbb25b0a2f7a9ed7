"""Cold ``photoplug search`` (a new process, print included) for each model family, against
OpenAI-style CLIP ViT-B-32 measured in the same run.

    .venv/bin/python benchmarks/cold_search_families.py --runs 5

Each architecture gets seeded random weights (the real model's compute). SigLIP2's Gemma
tokenizer cannot be downloaded here, so a stand-in of the same size (a Unigram
tokenizer.json of 256,000 pieces, read by the same ``tokenizers`` code) takes its place:
its load time is the real one's to within the file's size (photoplug keeps a compact form
of it beside the text tower, so a query loads only the pieces it uses). Every photo library
is the same 8 drawings; each model indexes it into an index of its own first (exporting
its towers), untimed; then the searches run in rounds, one per model in turn, so a busy
moment of a shared machine falls on every model alike.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from index_and_search import make_photos  # noqa: E402

from photoplug.model import machine  # noqa: E402

PHOTOPLUG = str(Path(sys.executable).with_name("photoplug"))
ARCHS = ("ViT-B-32", "ViT-B-32-SigLIP2-256", "MobileCLIP2-S0")


def stand_in_tokenizer(folder: Path, size: int, context: int) -> None:
    """A Unigram tokenizer of ``size`` pieces, SigLIP2's shape (Metaspace, </s> appended)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<s>", 0.0), ("<unk>", 0.0)]
    pieces += [(chr(c), -20.0) for c in range(33, 127)]
    pieces += [(f"\u2581w{i}", -10.0 - i * 1e-5) for i in range(size - len(pieces))]
    tok = Tokenizer(models.Unigram(pieces, unk_id=3))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                       special_tokens=[("</s>", 1)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>",
        "eos_token": "</s>", "unk_token": "<unk>", "model_max_length": context}))


def model_folder(arch: str, root: Path) -> str:
    """``arch`` with seeded random weights as a local-dir model (a stand-in tokenizer
    where the real one is a download)."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    cfg = open_clip.get_model_config(arch)
    folder = root / arch
    text = cfg.get("text_cfg", {})
    if "hf_tokenizer_name" in text:
        stand_in_tokenizer(folder, text["vocab_size"], text["context_length"])
        text["hf_tokenizer_name"] = "local"  # the folder's own tokenizer.json
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": cfg, "preprocess_cfg": model.visual.preprocess_cfg}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"


def cold_search(model: str, photos: Path, env: dict[str, str]) -> float:
    """Seconds of one ``photoplug search`` in a new process."""
    start = time.perf_counter()
    done = subprocess.run([PHOTOPLUG, "search", "a photo of a red circle", str(photos),
                           "--no-text", "--model", model], env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{model}: {done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    args = parser.parse_args()
    print(machine.describe())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = root / "photos"
        make_photos(photos, 8, (800, 600))
        base_env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"),
                    "HF_HUB_OFFLINE": "1", "LC_ALL": "C.UTF-8"}
        models, envs = {}, {}
        for arch in args.archs:  # each its own index: a search finds its model alone
            models[arch] = model_folder(arch, root / "models")
            envs[arch] = {**base_env, "PHOTOPLUG_INDEX": str(root / f"{arch}.sqlite3")}
            subprocess.run([PHOTOPLUG, "index", str(photos), "--model", models[arch]],
                           env=envs[arch], check=True, capture_output=True)
        times: dict[str, list[float]] = {arch: [] for arch in args.archs}
        for _ in range(args.runs):
            for arch in args.archs:
                times[arch].append(cold_search(models[arch], photos, envs[arch]))
        rows = list(times.items())
        base = statistics.median(rows[0][1])
        print(f"{'model':<24} {'cold search p50':>16} {'p95':>8}  vs {rows[0][0]}")
        for arch, seconds in rows:
            p50 = statistics.median(seconds)
            p95 = sorted(seconds)[max(0, int(round(0.95 * len(seconds))) - 1)]
            print(f"{arch:<24} {p50:>14.2f} s {p95:>6.2f} s  {p50 / base:.2f}x")


if __name__ == "__main__":
    main()
