"""GIT video captioning (``microsoft/git-base-vatex`` and any GIT folder) through transformers.

A GIT model fine-tuned on video reads ``config.num_image_with_embedding`` frames (6 for
the VATEX models), each with its own temporal embedding; they are sampled evenly over
the whole video (``short="repeat"`` for videos with fewer frames), turned into
``pixel_values (1, T, 3, S, S)`` by the model's own processor (CLIP resize, crop,
normalisation) and decoded with ``generate`` (beam search when ``beam_size > 1``). A GIT
image captioner (no ``num_image_with_embedding``) reads the middle frame. Results are
the same :class:`~vidcap.results.CaptionResult` objects the S2VT captioner returns.
"""
from __future__ import annotations

import logging

import torch

from vidcap.errors import ConfigError
from vidcap.progress import Callback
from vidcap.results import CaptionResult
from vidcap.tasks.hub import ModelRef, load_pretrained

log = logging.getLogger(__name__)


class GitCaptioner:
    """A loaded GIT model with its processor; ``caption(videos)`` as :class:`vidcap.tasks.caption.Captioner`."""

    backend = "torch"
    bundled = False
    backbone = None  # reads the video's frames itself, not vidcap's frame features
    domain = None  # its training videos are not known here: no in-domain check

    def __init__(self, model, processor, source: str, *, beam_size: int = 3, max_length: int = 40):
        self.model, self.processor, self.path = model, processor, source
        self.num_frames = int(getattr(model.config, "num_image_with_embedding", None) or 1)
        self.beam_size, self.length_penalty, self.max_length = beam_size, 1.0, max_length

    @classmethod
    def load(cls, ref: ModelRef, **options) -> GitCaptioner:
        model, processor = load_pretrained(ref, family="git", model_class="GitForCausalLM")
        return cls(model, processor, ref.lasting(), **options)

    def _decoding(self, beam_size: int | None, length_penalty: float | None) -> tuple[int, float]:
        beam = self.beam_size if beam_size is None else int(beam_size)
        if beam < 1:
            raise ConfigError(f"beam_size={beam} must be at least 1")
        return beam, self.length_penalty if length_penalty is None else float(length_penalty)

    @torch.no_grad()
    def generate(self, pixels: torch.Tensor, beam: int, lp: float) -> tuple[str, float]:
        """``(caption, score)`` of one input: beam search (``log p / length**lp``) or greedy (``log p``)."""
        out = self.model.generate(pixel_values=pixels, max_length=self.max_length, num_beams=beam,
                                  length_penalty=lp, do_sample=False, return_dict_in_generate=True,
                                  output_scores=True)
        seq = out.sequences[0]
        text = self.processor.batch_decode(seq[None], skip_special_tokens=True)[0].strip()
        if beam > 1 and getattr(out, "sequences_scores", None) is not None:
            return text, float(out.sequences_scores[0])  # as beam search ranks them
        steps = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        return text, float(steps[0].sum())

    def caption_one(self, video, *, beam_size: int | None = None, length_penalty: float | None = None) -> CaptionResult:
        """Sample the model's frames, run its processor, decode with ``generate``."""
        from vidcap.io import sample_frames

        beam, lp = self._decoding(beam_size, length_penalty)
        if self.num_frames == 1:
            clip = sample_frames(video, 3, short="repeat")
            frames = clip.frames[1:2]  # the middle one of three
        else:
            frames = sample_frames(video, self.num_frames, short="repeat").frames  # (T, H, W, 3) uint8
        pixels = self.processor(images=list(frames), return_tensors="pt")["pixel_values"]  # (T, 3, S, S)
        if self.num_frames > 1:
            pixels = pixels[None]  # (1, T, 3, S, S): one video of T frames
        text, score = self.generate(pixels, beam, lp)
        return CaptionResult(str(video), text, score, beam)

    def caption(self, videos, *, beam_size: int | None = None, length_penalty: float | None = None,
                errors: str = "raise", progress: Callback | None = None) -> list[CaptionResult]:
        """Caption video files (folders and ``.txt`` lists are expanded), as ``Captioner.caption`` does."""
        from vidcap.tasks.caption import caption_videos

        return caption_videos(self, videos, beam_size, length_penalty, errors, progress)
