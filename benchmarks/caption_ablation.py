"""Per-epoch caption quality at the seed configuration: one change at a time, with the peer beside it.

Data: a generated easy world (default 300 videos, seed 11: 210 train / 30 val / 30 test /
30 compositional), 16 evenly spaced frames per video, MobileNetV2 features (1280-d),
generated and extracted once into ``--work``. Configuration ("seed"): S2VT fig 5.3,
hidden 512, batch 32, Adam 1e-4, 20 word steps, gradient norm clipped at 5, no dropout,
one random caption per video per epoch, 1 thread -- the seed's, and vidcap's defaults
before this benchmark. Each row changes one thing; every row trains through vidcap's
own trainer (:class:`vidcap.train.caption.CaptionTrainer`). Scored: greedy captions of
the test and compositional videos (60 by default), CIDEr-D by pycocoevalcap (PTB
tokenizer), at each epoch of ``--epochs``; "distinct": how many different captions
the model wrote for them (a model that ignores the video writes few).

``--peer DIR`` adds xiadingZ/video-caption.pytorch (a checkout of it; nothing of it is
copied here): its ``S2VTModel`` (LSTM1 reads the 1280-d features, LSTM cells), trained
the way its ``train.py`` trains -- ``LanguageModelCriterion`` (summed word losses /
batch), ``clip_grad_value_(5)``, Adam with its weight decay (5e-4) -- on the same
features, captions and batch size, one random caption per video per epoch, its own
vocabulary rule (words seen more than once, the rest ``<UNK>``), on the CPU (its
``.cuda()`` calls are made no-ops for the run). Its greedy captions are scored by the
same scorer.

Speed: training samples/s of the peer and of vidcap's default configuration, measured
batch by batch in turns on the same batches (who goes first alternates), so a busy
machine slows both alike; ``vs peer`` is the ratio.

    python benchmarks/caption_ablation.py --work /tmp/ablation --peer ~/src/video-caption.pytorch
    python benchmarks/caption_ablation.py --work /tmp/ablation --rows seed no-projection --seeds 0 1
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch

SEED_CONFIG = {"variant": "s2vt", "hidden": 512, "batch_size": 32, "lr": 1e-4, "max_words": 20, "grad_clip": 5.0,
               "dropout": 0.0, "project": True, "normalize": False, "captions_per_video": 1, "min_count": 1}

# name -> (what changes, overrides of SEED_CONFIG)
ROWS = {
    "seed": ("the seed's configuration (vidcap's defaults before)", {}),
    "no-projection": ("LSTM1 reads the 1280-d features (no Linear 1280->512 first)", {"project": False}),
    "normalize": ("features standardised per dimension (training mean / std)", {"normalize": True}),
    "no-projection+normalize": ("both of the above", {"project": False, "normalize": True}),
    "no-clip": ("no gradient clipping", {"grad_clip": 0.0}),
    "dropout-0.3": ("dropout 0.3 on frames, embeddings, outputs", {"dropout": 0.3}),
    "5-captions": ("5 captions per video per epoch (5x the updates)", {"captions_per_video": 5}),
    "projection-xavier": ("the projection initialised with Xavier (larger) weights", {"_init": "xavier"}),
    "no-projection+flow": ("no projection, plus the motion stream (DIS flow on a 4x4 grid, 55 numbers a frame)",
                           {"project": False, "flow": True}),
    "no-projection+attention": ("no projection, encoder-decoder with soft temporal attention",
                                {"project": False, "variant": "attention"}),
    "default": ("vidcap's default configuration now", None),
}


def default_config() -> dict:
    """The defaults of CaptionTrainConfig for the options the seed configuration fixes."""
    from vidcap.config import CaptionTrainConfig

    d = CaptionTrainConfig().to_dict()
    return {**SEED_CONFIG, **{k: d[k] for k in ("variant", "project", "normalize", "grad_clip", "dropout",
                                                "captions_per_video")}}


# ------------------------------------------------------------------------------ data
def prepare(work: Path, num_videos: int, world_seed: int, flow: dict | None = None):
    """The world's features (with the motion stream's rows appended when ``flow``) and its splits."""
    from vidcap.data.synthetic import generate_world
    from vidcap.features import extract_many
    from vidcap.train.caption import prepare_data

    world = work / "world"
    if not (world / "splits.json").is_file():
        generate_world(world, num_videos=num_videos, seed=world_seed, level="easy", workers=1)
    feats = work / "features16"
    extract_many([world / "videos"], feats, num_frames=16, workers=1)
    if flow is not None:
        from vidcap.features.flow import MotionFeatures, extract_motion_many

        stream = MotionFeatures.from_dict(flow)
        extract_motion_many([world / "videos"], feats / stream.name, num_frames=16, stream=stream, workers=1)
    splits = json.loads((world / "splits.json").read_text())
    data = prepare_data(world / "video_corpus.csv", features=feats, splits=splits, flow=flow)
    return data, splits


def score(refs: dict, preds: dict) -> float:
    from vidcap.metrics.caption import score_captions

    return score_captions(refs, preds, metrics=("cider",))["CIDEr"]


# ------------------------------------------------------------------------------ vidcap
def run_vidcap(data, splits, scored, overrides: dict, seed: int, epochs: list[int], out: Path) -> dict:
    from vidcap.config import CaptionTrainConfig
    from vidcap.tasks.caption import predict
    from vidcap.train.caption import CaptionTrainer
    from vidcap.train.loop import Rng, fit

    overrides = dict(overrides)
    init = overrides.pop("_init", None)
    cfg = CaptionTrainConfig(**{**overrides, "epochs": max(epochs), "seed": seed})
    train_only = type(data)(data.corpus, data.features, {"train": splits["train"]}, data.features_dir)
    index = {n: i for i, n in enumerate(data.features.names)}
    rows = torch.tensor([index[n] for n in scored])
    refs = {n: data.corpus.captions[n] for n in scored}
    result, done, seconds = {}, 0, 0.0
    for e in sorted(epochs):
        rng = Rng.seeded(seed)
        trainer = CaptionTrainer(cfg, train_only)
        if init == "xavier" and done == 0:
            torch.nn.init.xavier_uniform_(trainer.model.proj.weight)
        res = fit(trainer, out, config=cfg, epochs=max(epochs), rng=rng, resume=done > 0, stop_after=e - done)
        seconds += sum(r["seconds"] for r in res.history[done:])
        done = e
        preds = [t for t, _ in predict(trainer.model, trainer.vocab, data.features.feats[rows],
                                       data.features.mask[rows], beam_size=1)]
        result[e] = {"cider": score(refs, dict(zip(scored, preds))), "distinct": len(set(preds))}
    result["samples_per_s"] = len(splits["train"]) * cfg.captions_per_video * done / seconds
    return result


# ------------------------------------------------------------------------------ the peer
@contextlib.contextmanager
def peer_on_cpu(peer_dir: Path):
    """Import the peer's package from its checkout; its ``.cuda()`` calls do nothing meanwhile."""
    if not (peer_dir / "models" / "S2VTModel.py").is_file():
        sys.exit(f"--peer {peer_dir}: no models/S2VTModel.py there (give a checkout of xiadingZ/video-caption.pytorch)")
    sys.path.insert(0, str(peer_dir))
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self
    try:
        from misc.utils import LanguageModelCriterion
        from models.S2VTModel import S2VTModel

        yield S2VTModel, LanguageModelCriterion
    finally:
        torch.Tensor.cuda = cuda
        sys.path.remove(str(peer_dir))


class PeerData:
    """The peer's preprocessing (prepro_vocab.py, dataloader.py) of vidcap's cleaned captions."""

    def __init__(self, data, train: list[str], max_len: int):
        counts = Counter(w for caps in data.corpus.captions.values() for c in caps for w in re.sub(r"[.!,;?]", " ", c).split())
        vocab = [w for w, n in counts.items() if n > 1] + ["<UNK>"]
        self.itow = {0: "<eos>", 1: "<sos>", **{i + 2: w for i, w in enumerate(vocab)}}
        wtoi = {w: i for i, w in self.itow.items()}
        self.max_len = max_len
        index = {n: i for i, n in enumerate(data.features.names)}
        self.rows = torch.tensor([index[n] for n in train])
        self.feats = data.features.feats
        self.labels = []
        for n in train:
            gts = torch.zeros(len(data.corpus.captions[n]), max_len, dtype=torch.long)
            for i, c in enumerate(data.corpus.captions[n]):
                words = ["<sos>"] + [w if counts[w] > 1 else "<UNK>" for w in re.sub(r"[.!,;?]", " ", c).split()]
                words = (words + ["<eos>"])[:max_len]
                words[-1] = "<eos>" if len(words) == max_len else words[-1]
                gts[i, : len(words)] = torch.tensor([wtoi[w] for w in words])
            self.labels.append(gts)

    def epoch(self, gen: torch.Generator, pick: random.Random, batch_size: int):
        order = torch.randperm(len(self.rows), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size].tolist()
            labels = torch.stack([self.labels[j][pick.randint(0, len(self.labels[j]) - 1)] for j in idx])
            masks = torch.zeros(labels.shape)
            for r, lab in enumerate(labels):
                masks[r, : int((lab == 0).nonzero()[0]) + 1] = 1
            yield self.feats[self.rows[idx]], labels, masks

    def decode(self, seq: torch.Tensor) -> list[str]:
        out = []
        for row in seq.tolist():
            words = []
            for ix in row:
                if ix == 0:
                    break
                words.append(self.itow[ix])
            out.append(" ".join(words))
        return out


def build_peer(S2VTModel, vocab_size: int, max_len: int, seed: int):
    torch.manual_seed(seed)
    return S2VTModel(vocab_size, max_len, 512, 512, 1280, rnn_cell="lstm", n_layers=1, rnn_dropout_p=0.0)


def peer_step(model, crit, opt, feats, labels, masks):
    opt.zero_grad()
    seq_probs, _ = model(feats, labels, "train")
    loss = crit(seq_probs, labels[:, 1:], masks[:, 1:])
    loss.backward()
    torch.nn.utils.clip_grad_value_(model.parameters(), 5)
    opt.step()
    return loss


def run_peer(peer_dir: Path, data, splits, scored, seed: int, epochs: list[int], weight_decay: float) -> dict:
    with peer_on_cpu(peer_dir) as (S2VTModel, Criterion):
        pd = PeerData(data, splits["train"], max_len=21)
        model = build_peer(S2VTModel, len(pd.itow), pd.max_len, seed)
        crit = Criterion()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=weight_decay)
        gen, pick = torch.Generator().manual_seed(seed), random.Random(seed)
        index = {n: i for i, n in enumerate(data.features.names)}
        test = data.features.feats[torch.tensor([index[n] for n in scored])]
        refs = {n: data.corpus.captions[n] for n in scored}
        result, seconds = {}, 0.0
        for epoch in range(1, max(epochs) + 1):
            model.train()
            t = time.perf_counter()
            for f, lab, m in pd.epoch(gen, pick, 32):
                peer_step(model, crit, opt, f, lab, m)
            seconds += time.perf_counter() - t
            if epoch in epochs:
                model.eval()
                with torch.no_grad():
                    _, seq = model(test, mode="inference")
                preds = pd.decode(seq)
                result[epoch] = {"cider": score(refs, dict(zip(scored, preds))), "distinct": len(set(preds))}
        result["samples_per_s"] = len(splits["train"]) * max(epochs) / seconds
    return result


def interleaved_speed(peer_dir: Path, data, splits, overrides: dict, batches: int) -> tuple[float, float]:
    """Median training samples/s of (peer, vidcap) taking turns on the same batches."""
    from vidcap.config import CaptionTrainConfig
    from vidcap.train.caption import CaptionTrainer

    cfg = CaptionTrainConfig(**overrides)
    trainer = CaptionTrainer(cfg, type(data)(data.corpus, data.features, {"train": splits["train"]}, data.features_dir))
    ours = list(trainer.batches.epoch(torch.Generator().manual_seed(0), 32))
    with peer_on_cpu(peer_dir) as (S2VTModel, Criterion):
        pd = PeerData(data, splits["train"], max_len=21)
        model, crit = build_peer(S2VTModel, len(pd.itow), pd.max_len, 0), Criterion()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-4)
        theirs = list(pd.epoch(torch.Generator().manual_seed(0), random.Random(0), 32))
        times = {"peer": [], "vidcap": []}

        def step_ours(f, m, c):
            _, loss = trainer.model(f, m, c)
            trainer.optimizer.zero_grad()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), cfg.grad_clip)
            trainer.optimizer.step()

        for i in range(batches + 2):
            a, b = ours[i % (len(ours) - 1)], theirs[i % (len(theirs) - 1)]  # full batches only
            for name in (("peer", "vidcap") if i % 2 else ("vidcap", "peer")):
                t = time.perf_counter()
                step_ours(*a) if name == "vidcap" else peer_step(model, crit, opt, *b)
                if i >= 2:
                    times[name].append(time.perf_counter() - t)
    return 32 / statistics.median(times["peer"]), 32 / statistics.median(times["vidcap"])


# ------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="folder for the world, features and runs (reused)")
    ap.add_argument("--num-videos", type=int, default=300)
    ap.add_argument("--world-seed", type=int, default=11)
    ap.add_argument("--epochs", type=int, nargs="+", default=[25, 50])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (each row runs once per seed)")
    ap.add_argument("--rows", nargs="*", default=["seed", "no-projection", "default"], choices=list(ROWS))
    ap.add_argument("--peer", type=Path, default=None, help="a checkout of xiadingZ/video-caption.pytorch")
    ap.add_argument("--peer-weight-decay", type=float, default=5e-4, help="the peer's Adam weight decay (its default)")
    ap.add_argument("--speed-batches", type=int, default=30, help="interleaved batches for the speed ratio")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import logging

    logging.getLogger("vidcap").setLevel(logging.WARNING)
    data, splits = prepare(args.work, args.num_videos, args.world_seed)
    scored = splits["test"] + splits["test_compositional"]
    epochs = sorted(args.epochs)
    results = {}
    with_flow = {}
    for name in args.rows:
        overrides = {**SEED_CONFIG, **ROWS[name][1]} if ROWS[name][1] is not None else default_config()
        if overrides.get("flow"):
            from vidcap.config import CaptionTrainConfig

            if not with_flow:
                with_flow["data"], _ = prepare(args.work, args.num_videos, args.world_seed,
                                               CaptionTrainConfig(flow=True).flow_params())
        for seed in args.seeds:
            out = args.work / "runs" / f"{name}-s{seed}"
            if (out / "last.pt").exists():
                import shutil

                shutil.rmtree(out)
            rows_data = with_flow["data"] if overrides.get("flow") else data
            results[(name, seed)] = run_vidcap(rows_data, splits, scored, overrides, seed, epochs, out)
            print(name, seed, json.dumps(results[(name, seed)]), flush=True)
    if args.peer is not None:
        for seed in args.seeds:
            results[("peer", seed)] = run_peer(args.peer, data, splits, scored, seed, epochs, args.peer_weight_decay)
            print("peer", seed, json.dumps(results[("peer", seed)]), flush=True)

    print(f"\n{args.num_videos}-video easy world (seed {args.world_seed}), {len(splits['train'])} train videos, "
          f"scored on {len(scored)} test + compositional videos, greedy, CIDEr-D (PTB); seeds {args.seeds}; "
          f"{args.threads} thread(s)")
    head = " | ".join(f"CIDEr @{e}" for e in epochs) + " | " + " | ".join(f"distinct @{e}" for e in epochs)
    print(f"| row | what changes | {head} | samples/s |")
    print("|---|---|" + "---|" * (2 * len(epochs) + 1))
    for name in [*args.rows, *(["peer"] if args.peer else [])]:
        runs = [results[(name, s)] for s in args.seeds]
        what = "xiadingZ/video-caption.pytorch S2VTModel, its criterion and clipping" if name == "peer" else ROWS[name][0]
        cider = " | ".join(" / ".join(f"{r[e]['cider']:.2f}" for r in runs) for e in epochs)
        distinct = " | ".join(" / ".join(str(r[e]["distinct"]) for r in runs) for e in epochs)
        speed = statistics.mean(r["samples_per_s"] for r in runs)
        print(f"| {name} | {what} | {cider} | {distinct} | {speed:.1f} |")
    if args.peer is not None:
        peer, ours = interleaved_speed(args.peer, data, splits, default_config(), args.speed_batches)
        print(f"\ntraining speed, batches of 32 in turns: peer {peer:.1f} samples/s, vidcap default {ours:.1f} "
              f"samples/s: {ours / peer:.2f}x the peer")


if __name__ == "__main__":
    main()
