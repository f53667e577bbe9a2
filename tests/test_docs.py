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
    assert "adbench_defaults.py" in benchmarks and "Headline results" in benchmarks  # the generated page
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


def test_the_benchmarks_page_and_the_readme_table_are_generated_from_the_results():
    """docs/benchmarks.md and the README's headline table are what scripts/benchmarks_page.py
    makes of benchmarks/results/*.json: a rerun benchmark, or a hand edit, shows here."""
    out = subprocess.run(
        [sys.executable, "scripts/benchmarks_page.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_the_readme_is_a_landing_page_whose_examples_on_shipped_data_run(tmp_path):
    """At most 250 lines; its examples on the data that ships with the package (ECG5000, a
    synthetic recording) run as written. The image and VAE examples train for minutes on data
    from HOURGLASS_DATA_DIR, like the guides' runnable versions."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    blocks = FENCE.findall(readme)
    shipped = blocks[: next(i for i, b in enumerate(blocks) if "fashion-mnist" in b)]
    assert len(shipped) >= 3
    script = tmp_path / "readme.py"
    script.write_text("\n".join(shipped))
    env = {**os.environ, "MPLBACKEND": "Agg", "HOURGLASS_PROGRESS": "off"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]


def test_the_readme_shell_synopsis_names_every_option_of_fit_and_score():
    """Issue 43: the synopsis once left out --steps, --train-steps, --model, --models and --color."""
    from hourglass.cli import main

    readme = (ROOT / "README.md").read_text()
    synopsis = readme[readme.index("**From the shell**") :].split("```")[1]
    for command in ("fit", "score"):
        line = next(line for line in synopsis.split("hourglass ")[1:] if line.startswith(command))
        options = [o for p in main.commands[command].params for o in p.opts if o.startswith("--")]
        assert [o for o in options if o not in line] == [], command
