"""Finding model weights on this machine: local folders or the local Hugging Face cache, never the network.

``huggingface_hub`` is imported inside the functions so that importing the package stays fast.
"""

from __future__ import annotations

from pathlib import Path

# The trained default model ships inside the package: model/ (the DiT) and vae/, each config.json + safetensors,
# and README.md, its model card (data, recipe, steps, metrics, limits).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default"


def default_model_name() -> str:
    """``default`` once the trained default model ships inside the package, else ``tiny`` (random weights)."""
    return "default" if (DEFAULT_WEIGHTS / "model" / "config.json").is_file() else "tiny"


class WeightsNotFoundError(FileNotFoundError):
    """Weights that are not on this machine; the message is one line naming what was looked for."""


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def cached_snapshot(model_id: str) -> Path | None:
    """The local snapshot folder of a Hugging Face model id, or None when it is not in the cache."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, local_files_only=True))
    except (OSError, ValueError):
        return None


def resolve_local_model(spec: str | Path, what: str, hint: str, *, subfolders: tuple[str, ...] = ()) -> Path:
    """A folder holding ``config.json``: ``spec`` itself, one of its ``subfolders``, or the cached snapshot of the
    model id ``spec`` (or one of its subfolders).

    Raises:
        WeightsNotFoundError: with one line naming ``what`` was looked for, where, and ``hint``.
    """
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        snapshot = cached_snapshot(str(spec))
        if snapshot is None:
            raise WeightsNotFoundError(
                f"{what} was not found: {str(spec)!r} is neither a local folder nor a model id in the local "
                f"Hugging Face cache ({hf_cache_dir()}); {hint}"
            )
        folder = snapshot
    for sub in ("", *subfolders):
        if (folder / sub / "config.json").is_file():
            return folder / sub
    raise WeightsNotFoundError(f"{what} was not found: {folder} has no config.json; {hint}")
