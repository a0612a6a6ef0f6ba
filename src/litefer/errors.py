"""Typed errors. Every message says what was wrong and, where possible, how to fix it."""


class LiteferError(Exception):
    """Base class of every error litefer raises on purpose."""


class InvalidImageError(LiteferError, ValueError):
    """An input could not be decoded or is not an image litefer can use."""


class InvalidInputError(LiteferError, ValueError):
    """An argument other than an image is unusable (a box, a size, a count); the message says
    what is allowed."""


class DatasetError(LiteferError, ValueError):
    """A dataset file or folder is malformed; the message names the file (and line)."""


class ModelNotFoundError(LiteferError, KeyError):
    """A model name is not registered and is not a path to an existing file."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(LiteferError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def require(module: str, extra: str):
    """Import ``module`` or raise MissingDependencyError naming ``pip install 'litefer[extra]'``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is needed for this; install it with: pip install 'litefer[{extra}]'"
        ) from exc
