"""BLIP image captioning per shot (``Salesforce/blip-image-captioning-base`` and any BLIP folder).

BLIP reads one image, so a video is cut into shots (:func:`vidcap.features.shots.detect_shots`)
and each shot's middle frame is captioned: the model's own processor (resize to its size,
normalisation), ``generate`` with beam search as for GIT. The result is the same
:class:`~vidcap.results.CaptionResult`: ``caption`` and ``score`` are the longest shot's,
``shots`` every shot's times and caption.
"""
from __future__ import annotations

from vidcap.errors import DataError
from vidcap.results import CaptionResult
from vidcap.tasks.hub import ModelRef, load_pretrained
from vidcap.tasks.hub_git import GitCaptioner


class BlipCaptioner(GitCaptioner):
    """A loaded BLIP captioner; ``caption(videos)`` as :class:`vidcap.tasks.caption.Captioner`."""

    @classmethod
    def load(cls, ref: ModelRef, **options) -> BlipCaptioner:
        model, processor = load_pretrained(ref, family="blip", model_class="BlipForConditionalGeneration")
        return cls(model, processor, ref.lasting(), **options)

    def caption_one(self, video, *, beam_size: int | None = None, length_penalty: float | None = None) -> CaptionResult:
        """Each shot's middle frame captioned; the longest shot's caption is the video's."""
        from vidcap.features.shots import detect_shots, keyframes
        from vidcap.io import frames_at

        beam, lp = self._decoding(beam_size, length_penalty)
        cuts = detect_shots(video)
        middle = [keyframes(shot, 1)[0] for shot in cuts.shots]
        frames, _ = frames_at(video, sorted(set(middle)))
        shots = []
        for shot, i in zip(cuts.shots, middle):
            if i not in frames:  # past what the file could decode
                continue
            pixels = self.processor(images=[frames[i]], return_tensors="pt")["pixel_values"]  # (1, 3, S, S)
            text, score = self.generate(pixels, beam, lp)
            shots.append({"start": shot.start, "end": shot.end, "frame": int(i), "caption": text,
                          "score": round(score, 6)})
        if not shots:
            raise DataError(f"{video}: none of its shots' middle frames could be decoded")
        main = max(shots, key=lambda s: s["end"] - s["start"])  # the first of the longest
        return CaptionResult(str(video), main["caption"], main["score"], beam, shots=shots)
