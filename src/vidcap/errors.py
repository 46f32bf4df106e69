"""The exceptions vidcap raises. Every message names the bad value and what to do."""


class VidcapError(Exception):
    """Base class of every error vidcap raises on purpose."""


class DecodeError(VidcapError):
    """A video (or image) could not be opened or decoded."""


class ConfigError(VidcapError):
    """An argument, option or configuration value is invalid."""


class ModelError(VidcapError):
    """Model weights are missing, corrupt or do not fit the data."""


class DataError(VidcapError):
    """A dataset, corpus or annotation file is missing or malformed."""


class NoAudioError(DataError):
    """The file has no audio track."""


class SilentAudioError(DataError):
    """The audio track holds only silence."""


class MissingDependencyError(VidcapError):
    """An optional package is not installed."""


def require(module: str, extra: str):
    """Import an optional dependency or raise naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"vidcap needs the package {module!r} for this; install it with "
            f"`pip install {extra}`"
        ) from exc
