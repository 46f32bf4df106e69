"""Store the in-domain statistics (vidcap.features.domain) in a checkpoint trained before they existed.

Training runs store them by themselves; this is for older checkpoints, such as the bundled
models, whose training data can be made again:

    vidcap synth world --num-videos 1000 --seed 11 --level easy      # the bundled models' world
    vidcap extract world/videos --out world/features --num-frames 16 # mobilenet_v2, as they were trained
    python scripts/fit_domain.py src/vidcap/assets/s2vt_synth.pt world/features world/splits.json

The training split gives the distribution, the validation split its edge.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="a caption, classifier or retrieval checkpoint (.pt), rewritten")
    ap.add_argument("features", type=Path, help="feature folder of the training videos (vidcap extract)")
    ap.add_argument("splits", type=Path, help="splits.json with 'train' and 'val' video names")
    args = ap.parse_args(argv)

    from vidcap.errors import VidcapError
    from vidcap.features.domain import fit_domain
    from vidcap.io.checkpoints import read_checkpoint_dict, save_checkpoint
    from vidcap.io.files import read_json
    from vidcap.train.caption import load_features

    try:
        ckpt = read_checkpoint_dict(args.checkpoint)
        splits = read_json(args.splits, "splits")
        names = list(splits["train"]) + list(splits.get("val", []))
        feats = load_features(args.features, names, num_frames=int(ckpt["sampling"]["num_frames"]))
        domain = fit_domain(feats, splits["train"], splits.get("val", []), space=f"{ckpt['backbone']} frames")
        if domain is None:
            raise VidcapError(f"{args.splits}: too few training videos to fit a domain")
        ckpt["domain"] = domain.to_dict()
        save_checkpoint(ckpt, args.checkpoint)
    except VidcapError as exc:
        print(f"fit_domain: {exc}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: domain of {domain.videos} videos ({domain.space}), "
          f"{len(domain.variances)} components, edge {domain.edge:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
