"""How far a video is from the videos a model was trained on: the in-domain check.

A model trained on vidcap's generated world (moving shapes on flat backgrounds)
answers every video in that world's words, a cat video included. To say when an
answer means nothing, a checkpoint stores where its training videos lie in the
feature space the model reads (the backbone's per-frame features), as a
probabilistic PCA fitted to their frames (Tipping & Bishop 1999):

* the mean ``mu (D,)``, the top ``k`` principal directions ``W (k, D)`` with their
  variances ``lam (k,)``, and one variance ``sigma2`` for the rest of the space;
* a frame's squared distance is its Mahalanobis distance under that Gaussian, per
  dimension: ``(sum_i z_i^2 / lam_i + |r|^2 / sigma2) / D`` with ``z = W (x - mu)``
  and ``r`` the part of ``x - mu`` outside the k directions; a video's distance is
  the mean over its frames;
* ``edge``: the distance beyond which a video is called out of domain, ``MARGIN``
  times the largest distance among held-out videos of the training data (the
  validation split; the training videos' own when there is none).

``Domain.check(frames).distance`` is a video's distance divided by ``edge``: at most
1 inside the domain, more outside. docs/captioning.md has the numbers measured for
the bundled model; per-frame distances separated generated from real videos better
than one averaged vector per video there (4.2x vs 2.9x between the farthest
generated and the nearest real video).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcap.errors import ModelError

COMPONENTS = 64  # principal directions kept (fewer when there are fewer vectors)
MIN_VIDEOS = 8  # fewer training videos than this: no domain is stored (it would mean nothing)
MAX_FIT_VECTORS = 20000  # frames the fit uses at most (an even subsample beyond)
MARGIN = 2.5  # edge = MARGIN x the largest held-out distance
GENERATED = "vidcap's generated world of moving shapes"


def video_vectors(features, mask=None) -> list[np.ndarray]:
    """The vectors of each video of ``(N, T, D)`` features: its frames where ``mask (N, T)`` is set."""
    f = np.asarray(features, dtype=np.float32)
    if mask is None:
        return list(f)
    m = np.asarray(mask, dtype=bool)
    return [f[i][m[i]] for i in range(len(f))]


@dataclass
class DomainCheck:
    """Where one video lies: ``distance`` in units of the domain's edge (``<= 1``: in the domain)."""

    distance: float
    domain: str

    @property
    def in_domain(self) -> bool:
        return self.distance <= 1.0


@dataclass
class Domain:
    """A fitted training distribution (see the module docstring); stored in checkpoints as ``to_dict()``."""

    space: str  # what the vectors are, e.g. "mobilenet_v2 frames"
    description: str  # the training data in words, for messages
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D) orthonormal rows
    variances: np.ndarray  # (k,)
    residual: float  # variance per dimension outside the k directions
    edge: float  # squared distance at the domain's edge
    videos: int  # how many videos it was fitted on

    @classmethod
    def fit(cls, train: list[np.ndarray], held_out: list[np.ndarray] | None = None, *, space: str,
            description: str = GENERATED) -> Domain | None:
        """Fit to the vectors ``(n_i, D)`` of each training video (its frames); the edge from the
        ``held_out`` videos (the training ones when None or empty). None with fewer than MIN_VIDEOS videos."""
        videos = [np.asarray(v, dtype=np.float64).reshape(-1, np.shape(v)[-1]) for v in train if len(v)]
        if len(videos) < MIN_VIDEOS:
            return None
        x = np.concatenate(videos)
        if len(x) > MAX_FIT_VECTORS:
            x = x[np.linspace(0, len(x) - 1, MAX_FIT_VECTORS).astype(np.int64)]
        mu = x.mean(0)
        _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
        var = s**2 / max(len(x) - 1, 1)
        k = int(min(COMPONENTS, len(x) - 1, x.shape[1] - 1))
        floor = max(float(var[0]) * 1e-6, 1e-12)
        residual = max(float(var[k:].sum() / max(x.shape[1] - k, 1)), floor)
        dom = cls(space, description, mu.astype(np.float32), vt[:k].astype(np.float32),
                  np.maximum(var[:k], residual).astype(np.float32), residual, 1.0, len(videos))
        ref = [v for v in (held_out or []) if len(v)] or videos
        dom.edge = MARGIN * max(dom.video_distance(v) for v in ref)
        return dom

    def squared_distance(self, x: np.ndarray) -> np.ndarray:
        """Mahalanobis distance per dimension of vectors ``(N, D)`` under the fitted Gaussian: ``(N,)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.mean.shape[0]:
            raise ModelError(f"the in-domain check expects {self.mean.shape[0]}-d vectors ({self.space}), "
                             f"got {x.shape[-1]}-d")
        d = x - self.mean
        z = d @ self.components.T.astype(np.float64)  # (N, k)
        inside = (z**2 / self.variances).sum(-1)
        outside = np.maximum((d**2).sum(-1) - (z**2).sum(-1), 0.0) / self.residual
        return (inside + outside) / x.shape[-1]

    def video_distance(self, vectors: np.ndarray) -> float:
        """The squared distance of one video: the mean over its vectors ``(n, D)``."""
        vectors = np.asarray(vectors)
        return float(self.squared_distance(vectors.reshape(-1, vectors.shape[-1])).mean())

    def check(self, vectors: np.ndarray) -> DomainCheck:
        """How far one video (its vectors ``(n, D)``, e.g. frames) is from the training videos."""
        return DomainCheck(self.video_distance(vectors) / self.edge, self.description)

    def to_dict(self) -> dict:
        """For a checkpoint: arrays as tensors (``torch.load(weights_only=True)`` reads them)."""
        import torch

        return {"space": self.space, "description": self.description, "mean": torch.from_numpy(self.mean),
                "components": torch.from_numpy(self.components.astype(np.float16)),
                "variances": torch.from_numpy(self.variances), "residual": self.residual, "edge": self.edge,
                "videos": self.videos}

    @classmethod
    def from_dict(cls, d: dict | None) -> Domain | None:
        if not d:
            return None
        try:
            arrays = [np.asarray(d[k], dtype=np.float32) for k in ("mean", "components", "variances")]
            return cls(str(d["space"]), str(d["description"]), *arrays, float(d["residual"]), float(d["edge"]),
                       int(d["videos"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the checkpoint's in-domain statistics are damaged: {exc}") from exc


def fit_domain(features, train: list[str], held_out: list[str], *, space: str) -> Domain | None:
    """The domain of the videos named ``train`` in loaded features (``.names``, ``.feats (N, T, D)``,
    ``.mask (N, T)``, as :func:`vidcap.features.store.load_features` gives), the edge from ``held_out``."""
    index = {n: i for i, n in enumerate(features.names)}

    def vectors(names):
        rows = [index[n] for n in names if n in index]
        return video_vectors(np.asarray(features.feats[rows]), np.asarray(features.mask[rows])) if rows else []

    return Domain.fit(vectors(train), vectors(held_out), space=space)


def assess(domain: Domain | None, vectors, *, model: str, answer: str) -> dict:
    """The result fields of one video (its ``vectors (n, D)``): ``in_domain``, ``domain_distance`` and
    the ``warning`` sentence. ``model`` names the model in it ("bundled caption model"), ``answer`` what
    it gave ("this caption"). Without a fitted domain (or vectors) every field is None: unknown."""
    if domain is None or vectors is None or len(vectors) == 0:
        return {"in_domain": None, "domain_distance": None, "warning": None}
    check = domain.check(vectors)
    warning = None
    if not check.in_domain:
        warning = (f"out of the {model}'s domain ({check.domain}; {check.distance:.1f}x the edge of its "
                   f"training videos): {answer} is probably meaningless")
    return {"in_domain": check.in_domain, "domain_distance": round(check.distance, 4), "warning": warning}
