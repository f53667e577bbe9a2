"""The documentation site builds without a warning (mkdocs --strict, the API pages from the
docstrings), and every guide's code runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    detection = (tmp_path / "site" / "reference" / "detection" / "index.html").read_text()
    assert "score_frame" in detection and "FixedFPR" in detection  # the API pages have the docstrings
    benchmarks = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    assert "adbench_defaults.py" in benchmarks  # the README's benchmark section, included
    assert "1.1.0" in (tmp_path / "site" / "changelog" / "index.html").read_text()  # Keep a Changelog link


def test_every_guide_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f"guides/{g.name}" in nav for g in GUIDES)


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_guide_code_runs(guide, tmp_path):
    blocks = [b for b in FENCE.findall(guide.read_text()) if not b.startswith("# not run")]
    assert blocks, f"{guide.name} has no code"
    script = tmp_path / "guide.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, f"{guide.name}:\n{out.stderr[-3000:]}"
