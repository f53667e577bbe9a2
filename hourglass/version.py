"""The version of hourglass and its name on the package index, in one place (the package metadata
reads the version from here; ``pyproject.toml`` spells the same distribution name)."""

import warnings
from pathlib import Path

__version__ = "0.2.0.dev0"

#: The distribution's name on PyPI. ``hourglass`` there is an unrelated scheduler for rq, so this
#: package is installed as ``pip install hourglass-ae`` and still imported as ``import hourglass``.
DISTRIBUTION = "hourglass-ae"

# Modules that only the unrelated ``hourglass`` distribution (a scheduler for rq) installs into the
# same ``hourglass/`` folder: finding one beside this file means both are installed in one environment.
_OTHER_DISTRIBUTIONS_MODULES = ("schedule.py", "clock.py", "job.py")


def check_no_name_clash(folder: Path | None = None) -> None:
    """Warn once when the unrelated ``hourglass`` distribution shares this package's folder.

    Both distributions install a top-level ``hourglass`` package and a ``hourglass`` command, so
    the one installed last overwrites the other's ``__init__.py``, ``version.py`` and command, and
    uninstalling either removes files the other needs. One stat per module; no metadata scan.
    """
    here = Path(__file__).parent if folder is None else Path(folder)
    if any((here / name).is_file() for name in _OTHER_DISTRIBUTIONS_MODULES):
        warnings.warn(
            f"the unrelated 'hourglass' distribution (a scheduler for rq) is installed in the same "
            f"environment as {DISTRIBUTION} and shares its 'hourglass' folder ({here}); its files and "
            f"ours overwrite each other. Repair with: pip uninstall -y hourglass {DISTRIBUTION} && "
            f"pip install {DISTRIBUTION}",
            RuntimeWarning,
            stacklevel=3,
        )
