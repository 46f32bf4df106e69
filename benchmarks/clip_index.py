"""What `vidcap index --clip` costs: CLIP ViT-B/32 shot vectors against the default index, on the CPU.

The published CLIP weights cannot be downloaded here, but their cost does not depend on
their values: ``CLIPModel(CLIPConfig())`` is ViT-B/32's architecture (image tower 12
layers of 768, 224 px, patch 32; text tower 12 layers of 512; 512-d vectors), built with
random weights and saved with ``save_pretrained`` with its image processor (224 px) and a
character-level tokenizer (BPE merges are not here, so a query is ~4x longer in tokens
than with CLIP's own: the query time is an upper bound). Videos: scikit-image photos, one
shot each, cut together (``--videos`` videos of ``--shots`` shots of 2 s, 320x240, 25 fps).

Baseline in the same run: the default `vidcap index` (bundled retrieval and caption
models, shot tags, no transcripts) into a new library; then the same with ``--clip``;
both after one video was indexed with every model (so no model is loaded while timed).
Query time: `vidcap search --mode learned` on the baseline against ``--mode clip``
(median of the queries). Accuracy is not measured (random weights).

    python benchmarks/clip_index.py                    # 6 videos x 3 shots
    python benchmarks/clip_index.py --videos 10 --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "camera", "brick", "coins"]
QUERIES = ["a cup of coffee", "a cat sleeping", "a rocket on the launch pad", "a man in a space suit",
           "a brick wall"]


def make_videos(folder: Path, n: int, shots: int) -> list[Path]:
    import cv2
    import skimage.data

    from vidcap.io import write_video

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for v in range(n):
        frames = []
        for s in range(shots):
            img = getattr(skimage.data, PHOTOS[(v * shots + s) % len(PHOTOS)])()
            img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
            frames += [cv2.resize(np.ascontiguousarray(img), (320, 240), interpolation=cv2.INTER_AREA)] * 50
        out.append(write_video(folder / f"photos{v:02d}.mp4", frames, fps=25))
    return out


def clip_folder(folder: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in (chr(i) for i in range(33, 127)):
            vocab.setdefault(c + suffix, len(vocab))
    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    CLIPProcessor(image_processor=images, tokenizer=CLIPTokenizer(vocab=vocab, merges=[])).save_pretrained(folder)
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    from vidcap import api

    torch.set_num_threads(args.threads)
    os.environ["HF_HUB_OFFLINE"] = "1"  # never fetch
    work = Path(tempfile.mkdtemp(prefix="vidcap-clip-bench-"))
    videos = make_videos(work / "videos", args.videos, args.shots)
    model = clip_folder(work / "clip-vit-b32-random")

    t0 = time.perf_counter()
    api.index(videos[:1], work / "warm-up", transcripts=False, clip=str(model))  # every model loaded once
    warm = time.perf_counter() - t0
    rows = []
    for name, clip, mode in (("default index", None, "learned"), ("+ --clip ViT-B/32", str(model), "clip")):
        lib = work / f"lib-{mode}"
        t0 = time.perf_counter()
        summary = api.index(videos, lib, transcripts=False, clip=clip)
        seconds = time.perf_counter() - t0
        assert len(summary.added) == len(videos), summary.failed
        api.search(QUERIES[0], lib, mode=mode)  # models loaded once, as in a server
        times = []
        for q in QUERIES:
            t0 = time.perf_counter()
            api.search(q, lib, mode=mode)
            times.append(time.perf_counter() - t0)
        rows.append((name, mode, seconds, statistics.median(times)))

    n_shots = args.videos * args.shots
    print(f"# {args.videos} videos x {args.shots} shots of 2 s (320x240, 25 fps); torch threads {args.threads}; "
          f"{os.cpu_count()} cores visible; torch {torch.__version__}; loading the models and one video: {warm:.1f} s")
    print(f"{'index':<20}{'s':>8}{'s/video':>9}{'search mode':>13}{'query s':>9}")
    for name, mode, seconds, query in rows:
        print(f"{name:<20}{seconds:>8.2f}{seconds / args.videos:>9.2f}{mode:>13}{query:>9.3f}")
    extra = rows[1][2] - rows[0][2]
    print(f"--clip adds {extra:.2f} s ({extra / n_shots:.3f} s a shot, {extra / (n_shots * 3):.3f} s a keyframe), "
          f"x{rows[1][2] / rows[0][2]:.2f} the default index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
