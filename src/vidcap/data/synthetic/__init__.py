"""A procedural video world: captioned, labelled videos with per-frame ground truth.

No real video dataset can be downloaded on our machines, so vidcap generates one
that goes through the same code paths as MSVD and folder-style action datasets:

* ``videos/<VideoID>_<Start>_<End>.mp4`` -- real H.264 (PyAV), e.g. ``syn00042_0_3.mp4``
* ``video_corpus.csv`` -- MSVD's columns ``VideoID, Start, End, WorkerID, Source,
  AnnotationTime, Language, Description``, 10-20 English captions per video written
  in the styles of different (simulated) annotators, plus a few non-English rows and
  a few empty descriptions, as in the real file
* ``labels.csv`` -- video -> action class (a short identifier such as ``move_left``),
  its human phrase, split and the objects
* ``splits.json`` -- ``{"train", "val", "test", "test_compositional"}`` lists of video
  names; split by video; every class outside train also has a train video; the
  colour-shape-action combinations of ``test_compositional`` never occur in the
  other splits
* ``classes/<split>/<label>/<video>.mp4`` -- class-folder layout (symbolic links)
* ``gt/<video>.json`` -- per-frame ground truth: object centre (pixels, the centre of
  the top-left pixel is (0, 0)), radius, angle, opacity, visible fraction, box
* ``hfr/<video>.mkv`` -- with ``high_fps_factor=k``: the same scene rendered at
  ``k * fps``, stored losslessly; its frames ``0, k, 2k, ...`` are the frames of the
  normal video before compression and the others are the true in-between frames
* ``world.json`` -- the parameters, classes and held-out combinations
* with ``events=(lo, hi)``: multi-event videos (several actions in sequence, scene
  continuations and shot cuts), ``events.json`` (ActivityNet Captions layout) and
  ``youcook2.json``; see :func:`generate_world`

Everything is a function of ``(seed, video index, parameters)``: the same seed gives
the same rendered frames, captions, labels, splits, ground truth and tables, whatever
the number of worker processes, and videos that decode to the same frames. The video
files are not promised byte for byte (they are muxed with ``fflags=+bitexact``, but
another FFmpeg or x264 build encodes differently); ``tests/test_synthetic.py``
compares what is promised.

Modules: :mod:`.vocabulary` (colours, shapes, actions, levels, phrase tables),
:mod:`.plans` (labels, splits, per-video plans and trajectories), :mod:`.render`
(backgrounds, objects, noise), :mod:`.captions` (corpus rows, statistics),
:mod:`.world` (writing a world and reading it back).
"""
from vidcap.data.synthetic.captions import CORPUS_COLUMNS, caption_stats
from vidcap.data.synthetic.plans import SPLITS, video_name
# _ROLL (the rolling circle's extra verbs) is read by tests/test_caption_cli.py and benchmarks/caption_accuracy.py
from vidcap.data.synthetic.vocabulary import (_ROLL, ACTIONS, ADVERBS, CLASSES, COLOR_WORDS, COLORS, FOREIGN,
                                             LEVELS, PAIR_TEMPLATES, SHAPE_WORDS, SHAPES, SIZE_WORDS, SIZES, VERBS,
                                             Action, Level)
from vidcap.data.synthetic.world import (FORMAT_VERSION, LABEL_COLUMNS, WorldSummary, contact_sheet, generate_world,
                                         iter_world)

__all__ = ["ACTIONS", "ADVERBS", "CLASSES", "COLORS", "COLOR_WORDS", "CORPUS_COLUMNS", "FOREIGN", "FORMAT_VERSION",
           "LABEL_COLUMNS", "LEVELS", "PAIR_TEMPLATES", "SHAPES", "SHAPE_WORDS", "SIZES", "SIZE_WORDS", "SPLITS",
           "VERBS", "Action", "Level", "WorldSummary", "caption_stats", "contact_sheet", "generate_world",
           "iter_world", "video_name"]
