"""Find, download, verify and cache data files: the one path every data set shares.

Lookup order for a file ``<folder>/<filename>``:

1. the ``data_dir`` argument,
2. the ``HOURGLASS_DATA_DIR`` environment variable,
3. the user cache (``HOURGLASS_CACHE_DIR``, else the platform's cache folder),
4. a download from the resource's official address into the cache, verified against its pinned
   sha256 before use (pooch does the download, the temporary file and the hash check).

Files a user places in ``data_dir`` or ``HOURGLASS_DATA_DIR`` are trusted as to origin (mirrors
often re-compress the same content, which changes the hash) but each loader validates their
structure, so a truncated or corrupt file is still a clear error. Files in the cache were put
there by a verified download and are checked against the hash again before use.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from hourglass.errors import ChecksumError, DatasetNotFoundError


@dataclass(frozen=True)
class Resource:
    """One downloadable file: its name on disk, its official address, its pinned sha256."""

    filename: str
    url: str
    sha256: str


# A relative folder in an environment variable means the directory it was given in (the working
# directory when hourglass was imported, or when a value first appeared), not whatever directory the
# code runs in later: a notebook kernel, a test or a script may change directory after that.
_ENV_DIRS: dict[tuple[str, str], Path] = {}


def env_dir(name: str) -> Path | None:
    """The folder named by environment variable ``name``, resolved once to an absolute path."""
    value = os.environ.get(name)
    if not value:
        return None
    key = (name, value)
    if key not in _ENV_DIRS:
        _ENV_DIRS[key] = Path(os.path.abspath(os.path.expanduser(value)))
    return _ENV_DIRS[key]


for _name in ("HOURGLASS_DATA_DIR", "HOURGLASS_CACHE_DIR"):
    env_dir(_name)  # pin the values set at import against the directory they were given in


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder downloads go to: ``path``, else ``HOURGLASS_CACHE_DIR``, else the OS cache."""
    if path is not None:
        return Path(path)
    env = env_dir("HOURGLASS_CACHE_DIR")
    if env is not None:
        return env
    import pooch

    return Path(pooch.os_cache("hourglass"))


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The user-supplied folders searched before the cache, in order."""
    dirs = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    env = env_dir("HOURGLASS_DATA_DIR")
    if env is not None:
        dirs.append(env)
    return dirs


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    folder: str,
    resource: Resource,
    *,
    data_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
    progress: bool = False,
) -> Path:
    """Return a local path to ``resource``, downloading and verifying it if needed.

    Parameters
    ----------
    folder : str
        The data set's folder name under each search directory, e.g. ``"fashion-mnist"``.
    resource : Resource
        The file to find.
    data_dir : path, optional
        Searched first.
    cache : path, optional
        Download folder; defaults to :func:`cache_dir`.
    download : bool
        If False, never touch the network; a missing file is an error.
    base_url : str, optional
        Download from ``base_url + filename`` instead of the official address (a mirror).
    progress : bool
        Show a download progress bar.
    """
    for d in search_dirs(data_dir):
        candidate = d / folder / resource.filename
        if candidate.is_file():
            return candidate

    target_dir = cache_dir(cache) / folder
    cached = target_dir / resource.filename
    if cached.is_file():
        if sha256sum(cached) == resource.sha256:
            return cached
        # A damaged cache entry is not the user's data: drop it and fetch a fresh copy.
        cached.unlink()

    looked = [str(d / folder) for d in search_dirs(data_dir)] + [str(target_dir)]
    if not download:
        raise DatasetNotFoundError(
            f"{folder}/{resource.filename} not found (looked in: {', '.join(looked)}) and "
            "download=False; set HOURGLASS_DATA_DIR or pass data_dir= to the folder holding "
            f"{folder}/"
        )
    url = base_url.rstrip("/") + "/" + resource.filename if base_url else resource.url
    return _download(url, resource, target_dir, looked, progress)


def _download(url: str, resource: Resource, target_dir: Path, looked: list[str], progress: bool) -> Path:
    import pooch

    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{resource.sha256}",
            fname=resource.filename,
            path=target_dir,
            progressbar=progress,
        )
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise ChecksumError(
                f"the file downloaded from {url} does not match its pinned sha256 "
                f"{resource.sha256}; it was discarded. The server may be serving a different or "
                "corrupted file."
            ) from None
        raise DatasetNotFoundError(f"could not download {url}: {exc}") from None
    except Exception as exc:  # requests' connection, HTTP and timeout errors
        raise DatasetNotFoundError(
            f"{resource.filename} is not on disk (looked in: {', '.join(looked)}) and could not "
            f"be downloaded from {url}: {type(exc).__name__}: {exc}"
        ) from None
    return Path(path)
