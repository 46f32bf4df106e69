"""Frame features: a backbone registry, one-video extraction, a cached store, many-video pipeline."""
from vidcap.features.backbones import BACKBONES, Backbone, get_backbone
from vidcap.features.extract import Engine, extract, get_engine
from vidcap.results import Features


def extract_many(*args, **kwargs):
    """See :func:`vidcap.features.pipeline.extract_many`."""
    from vidcap.features.pipeline import extract_many as run

    return run(*args, **kwargs)


__all__ = ["BACKBONES", "Backbone", "Engine", "Features", "extract", "extract_many", "get_backbone", "get_engine"]
