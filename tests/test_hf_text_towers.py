"""Models whose text tower is a HuggingFace model (open_clip's HFTextEncoder: XLM-RoBERTa,
NLLB), searched without torch through the ONNX export of ``encode_text``.

The models are built offline with random weights: small transformers configs of the same
model types (written with transformers' config classes), tokenizers made from a vocabulary
of a few words, and open_clip's own model configs pointing at them, saved as open_clip
``local-dir:`` folders. Each is indexed by the CLI, then searched in a fresh interpreter
that imports neither torch, nor transformers, nor open_clip; its scores must be torch's.
"""
from __future__ import annotations

import json
import shutil
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import Cli, draw_photo, offline_env
from photoplug.model.compact_tokenizer import FOLDER as COMPACT
from photoplug.model.text_export import (DEFAULT_LANGUAGE, OnnxTextTower, TextTowerBroken,
                                         folder_for)
from photoplug.model.spec import ModelSpec, file_digest, find_checkpoint

WORDS = ("a photo of the red green blue yellow circle square triangle dog beach on in "
         "ein foto von einem roten kreis une photo du rouge cercle").split()
CHARS = string.ascii_letters + string.digits + string.punctuation + "éèüöäçñ写真赤い円"
SMALL_VISION = {"image_size": 64, "layers": 1, "width": 64, "patch_size": 32, "head_width": 32}
PHOTOS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "circle")]
QUERIES = ["a photo of a red circle", "blue square", "un cercle rouge", "赤い円", "x",
           "the " * 60]


def xlm_roberta_model(folder: Path) -> None:
    """xlm-roberta-base-ViT-B-32 in small: an XLM-R config of 2 layers, a Unigram
    tokenizer over WORDS and CHARS."""
    from transformers import XLMRobertaConfig, XLMRobertaTokenizer
    pieces = [(f"\u2581{w}", -2.0) for w in WORDS] + [("\u2581", -3.0)] + \
        [(c, -5.0) for c in CHARS]
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *pieces,
             ("<mask>", 0.0)]
    XLMRobertaTokenizer(vocab=vocab).save_pretrained(str(folder))
    XLMRobertaConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=128, max_position_embeddings=80,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2
                     ).save_pretrained(str(folder / "hf"))
    write_model(folder, "xlm-roberta-base-ViT-B-32", "laion5b_s13b_b90k")


def nllb_model(folder: Path) -> None:
    """nllb-clip-base-siglip in small: an M2M100 (NLLB) config of 2 encoder layers, an
    NLLB tokenizer (BPE over CHARS without merges, its 200 language codes)."""
    from transformers import M2M100Config, NllbTokenizer
    chars = sorted(set(CHARS) | {"\u2581"})
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3,
             **{c: 4 + i for i, c in enumerate(chars)}}
    tokenizer = NllbTokenizer(vocab=vocab, merges=[], src_lang=DEFAULT_LANGUAGE)
    tokenizer.save_pretrained(str(folder))
    M2M100Config(vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=1,
                 encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                 decoder_ffn_dim=128, max_position_embeddings=128, pad_token_id=1,
                 bos_token_id=0, eos_token_id=2, scale_embedding=True
                 ).save_pretrained(str(folder / "hf"))
    write_model(folder, "nllb-clip-base-siglip", "v1")


def write_model(folder: Path, name: str, tag: str) -> None:
    """open_clip's config of ``name`` with the small HF text config and a small ViT, its
    preprocessing of ``tag``, and seeded random weights: a ``local-dir:`` model folder."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    cfg = open_clip.get_model_config(name)
    cfg["embed_dim"] = 32
    cfg["text_cfg"].update(hf_model_name=str(folder / "hf"), hf_tokenizer_name="local")
    cfg["vision_cfg"] = SMALL_VISION
    pre = open_clip.get_pretrained_cfg(name, tag)
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": cfg, "preprocess_cfg": {k: pre[k] for k in (
            "mean", "std", "interpolation", "resize_mode") if k in pre}}, indent=1))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}", pretrained_text=False)
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))


BUILDERS = {"xlm-roberta": xlm_roberta_model, "nllb": nllb_model}

SEARCH = """
import json, sys, time
from photoplug.api import Photoplug
from photoplug.search import parse_query
app = Photoplug(index=sys.argv[1])
scores, times = {}, []
for query in json.loads(sys.argv[2]):
    t0 = time.perf_counter()
    scores[query] = {r.path.name: r.score for r in app.search(parse_query(query), None, top=10)}
    times.append(time.perf_counter() - t0)
print(json.dumps({"scores": scores, "ms": 1e3 * sorted(times)[len(times) // 2],
                  "imported": [m for m in ("torch", "transformers", "open_clip")
                               if m in sys.modules]}))
"""


@pytest.fixture(scope="module", params=list(BUILDERS))
def indexed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Cli, Path, str]:
    """A small random model of this kind, and a few drawn photos indexed with it by the CLI
    (offline), which exports its text tower to ONNX."""
    root = tmp_path_factory.mktemp(request.param)
    folder = root / "model"
    folder.mkdir()
    BUILDERS[request.param](folder)
    photos = root / "photos"
    for n, (colour, shape) in enumerate(PHOTOS):
        draw_photo(photos / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(320, 240))
    cli = Cli(root / "index.sqlite3", f"local-dir:{folder}")
    cli.env.update(offline_env(root / "startup", cli.env))
    cli("index", str(photos))
    return cli, photos, cli.model


def weights_hash(model: str) -> str:
    return file_digest(find_checkpoint(ModelSpec.build(model, None, None, None)))


def search_without_torch(cli: Cli, queries: list[str]) -> tuple[subprocess.CompletedProcess[str],
                                                                 dict | None]:
    done = subprocess.run([sys.executable, "-c", SEARCH, str(cli.index), json.dumps(queries)],
                          capture_output=True, text=True, env=cli.env, timeout=300)
    return done, (json.loads(done.stdout) if done.returncode == 0 else None)


def torch_scores(cli: Cli, queries: list[str]) -> dict[str, dict[str, float]]:
    """The same searches through torch's encode_text (the full engine, its tower unused)."""
    from photoplug.api import Photoplug
    from photoplug.search import parse_query
    app = Photoplug(index=cli.index)
    engine = app.engine(app.model_for(app.store.uris()))
    engine._tower = None  # text through open_clip's tokenizer and torch's encode_text
    return {q: {r.path.name: r.score for r in app.search(parse_query(q), None, top=10)}
            for q in queries}


def test_search_without_torch_gives_torchs_scores(indexed: tuple[Cli, Path, str]) -> None:
    cli, photos, model = indexed
    export = folder_for(weights_hash(model))
    record = json.loads((export / "tower.json").read_text())
    assert record["error"] is None and record["cosine"] >= 0.9999, record
    assert record["language"] == (DEFAULT_LANGUAGE if "nllb" in str(model) else None)
    assert (export / COMPACT).is_dir()  # queries load only the pieces they use
    done, answer = search_without_torch(cli, QUERIES)
    assert answer is not None, done.stderr
    assert answer["imported"] == [], answer["imported"]
    print(f"\n{Path(model).parent.name}: export cosine {record['cosine']:.7f}, "
          f"{answer['ms']:.2f} ms per search without torch", file=sys.stderr)
    theirs = torch_scores(cli, QUERIES)
    for query in QUERIES:
        ours = answer["scores"][query]
        assert ours.keys() == theirs[query].keys() and len(ours) == len(PHOTOS)
        for name, score in ours.items():
            assert abs(score - theirs[query][name]) <= 1e-4, (query, name)


def test_the_language_recorded_is_applied_at_query_time(indexed: tuple[Cli, Path, str]
                                                       ) -> None:
    cli, photos, model = indexed
    tower = OnnxTextTower.load(folder_for(weights_hash(model)))
    assert tower is not None
    ids = tower.tokenizer(["a red circle"])[0]
    if tower.language is None:
        return
    language_id = tower.tokenizer.token_id(tower.language)
    assert ids[0] == language_id  # [lang] text </s>, as open_clip's NLLB tokenizer
    other = OnnxTextTower(tower.folder, {**tower.config, "language": "fra_Latn"})
    assert other.tokenizer(["a red circle"])[0][0] != language_id


@pytest.mark.parametrize("damaged", ["text.onnx", "tokenizer.json"])
def test_a_damaged_export_falls_back_in_one_line(indexed: tuple[Cli, Path, str],
                                                 damaged: str) -> None:
    """A damaged file (same size: load cannot tell) is found when opened: the search says
    so in one line, goes through torch, gives the same results, and the export is made
    again, so the next search is torch-free once more."""
    cli, photos, model = indexed
    export = folder_for(weights_hash(model))
    path = export / damaged
    if damaged == "tokenizer.json":  # read where its compact form is missing (or damaged)
        shutil.rmtree(export / COMPACT)
    data = bytearray(path.read_bytes())
    data[: min(len(data), 4096)] = b"\x00" * min(len(data), 4096)
    path.write_bytes(bytes(data))
    queries = QUERIES[:2]
    done, answer = search_without_torch(cli, queries)
    assert answer is not None, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "damaged" in line]
    assert len(lines) == 1 and lines[0].startswith("photoplug: the exported text model in "), \
        done.stderr
    assert "torch" in answer["imported"]  # it fell back to the full model
    theirs = torch_scores(cli, queries)
    for query in queries:
        for name, score in answer["scores"][query].items():
            assert abs(score - theirs[query][name]) <= 1e-4
    done, answer = search_without_torch(cli, queries)  # exported again
    assert answer is not None and answer["imported"] == [] and not done.stderr.strip(), \
        done.stderr


def test_a_truncated_export_is_made_again(indexed: tuple[Cli, Path, str]) -> None:
    cli, photos, model = indexed
    path = folder_for(weights_hash(model)) / "text.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    done, answer = search_without_torch(cli, QUERIES[:1])
    assert answer is not None and "Traceback" not in done.stderr, done.stderr
    done, answer = search_without_torch(cli, QUERIES[:1])
    assert answer is not None and answer["imported"] == [], done.stderr


def test_an_export_that_cannot_be_opened_fails_in_one_sentence(
        indexed: tuple[Cli, Path, str]) -> None:
    """Where nothing can take over (the tower alone), the error is one sentence."""
    cli, photos, model = indexed
    tower = OnnxTextTower.load(folder_for(weights_hash(model)))
    assert tower is not None
    broken = tower.folder.with_name(tower.folder.name + "-copy")
    shutil.copytree(tower.folder, broken)
    shutil.rmtree(broken / COMPACT)  # so tokenizer.json is read
    (broken / "tokenizer.json").write_text("{not json")
    copy = OnnxTextTower(broken, tower.config)
    with pytest.raises(TextTowerBroken) as caught:
        copy.encode(["x"])
    message = str(caught.value)
    assert "\n" not in message and str(broken) in message and message.endswith(
        "delete that folder to export it again")
    shutil.rmtree(broken)
    assert np.isfinite(tower.encode(["x"])).all()
