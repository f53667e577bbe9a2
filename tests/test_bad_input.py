"""Issue 43's table of bad input: each case is the input, the error class it must raise and words
its message must contain. Every error is the library's (:class:`hourglass.HourglassError`) and
one line in the CLI, never a traceback from deep inside scikit-learn or torch. The estimators'
errors also subclass ``ValueError``, so scikit-learn's own checks still pass
(tests/test_estimators.py runs ``check_estimator``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hourglass as hg
from hourglass.cli import main

ROWS = np.random.default_rng(0).normal(size=(60, 4))


def with_value(value, row=3, col=1):
    x = ROWS.copy()
    x[row, col] = value
    return x


# (id, X given to AutoencoderDetector.fit, error class, words of the message)
FIT_CASES = [
    ("nan", with_value(np.nan), hg.InvalidInputError, "NaN"),
    ("inf", with_value(np.inf), hg.InvalidInputError, "inf"),
    ("-inf", with_value(-np.inf), hg.InvalidInputError, "first at sample 3"),
    ("1-d", ROWS[:, 0], hg.InvalidInputError, "Expected 2D array"),
    ("3-d", ROWS.reshape(60, 2, 2), hg.InvalidInputError, "dim 3"),
    ("no rows", ROWS[:0], hg.InvalidInputError, "0 sample"),
    ("no columns", ROWS[:, :0], hg.InvalidInputError, "0 feature"),
    ("strings", np.array([["a", "b"]] * 30), hg.InvalidInputError, "could not convert"),
    ("text column", pd.DataFrame({"a": ROWS[:, 0], "kind": ["x"] * 60}), hg.InvalidInputError, "['kind']"),
    (
        "category column",
        pd.DataFrame({"a": ROWS[:, 0], "c": pd.Categorical(["x", "y"] * 30)}),
        hg.InvalidInputError,
        "['c']",
    ),
    ("NaN in a frame", pd.DataFrame(with_value(np.nan)), hg.InvalidInputError, "NaN"),
    ("None", None, hg.InvalidInputError, "None"),
    ("a scalar", 3.0, hg.InvalidInputError, "2D array"),
]


@pytest.mark.parametrize("x, error, words", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_fit_refuses_bad_rows_with_the_librarys_error(x, error, words):
    with pytest.raises(error, match=None) as info:
        hg.AutoencoderDetector(epochs=1, progress=False).fit(x)
    assert isinstance(info.value, ValueError)  # scikit-learn's convention holds too
    assert words in str(info.value), str(info.value)


@pytest.fixture(scope="module")
def fitted():
    return hg.AutoencoderDetector(epochs=1, n_models=2, progress=False, random_state=0).fit(ROWS)


SCORE_CASES = [
    ("fewer columns", ROWS[:, :3], hg.InvalidInputError, "has 3 features"),
    ("more columns", np.hstack([ROWS, ROWS]), hg.InvalidInputError, "expecting 4 features"),
    ("nan", with_value(np.nan), hg.InvalidInputError, "NaN"),
    ("inf", with_value(np.inf), hg.InvalidInputError, "inf"),
    ("1-d", ROWS[0], hg.InvalidInputError, "Expected 2D array"),
    ("no rows", ROWS[:0], hg.InvalidInputError, "0 sample"),
    ("values too large for float32 errors", ROWS * 1e30, hg.InvalidInputError, "non-finite scores"),
]


@pytest.mark.parametrize("x, error, words", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
@pytest.mark.parametrize("method", ["score_samples", "predict", "decision_function"])
def test_scoring_refuses_bad_rows(fitted, method, x, error, words):
    with pytest.raises(error) as info:
        getattr(fitted, method)(x)
    assert words in str(info.value), str(info.value)


def test_transformer_refuses_bad_rows_too():
    est = hg.AutoencoderTransformer(epochs=1, latent_dim=2, progress=False).fit(ROWS)
    with pytest.raises(hg.InvalidInputError, match="NaN"):
        est.transform(with_value(np.nan))
    with pytest.raises(hg.InvalidInputError, match="['kind']"):
        est.fit(pd.DataFrame({"a": ROWS[:, 0], "kind": ["x"] * 60}))


def write_csv(path, x):
    pd.DataFrame(x, columns=["a", "b", "c", "d"]).to_csv(path, index=False)
    return path


def write(path, content):
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


# (id, file writer, words of the one-line error)
CLI_FILES = [
    ("inf cell", lambda p: write_csv(p / "x.csv", with_value(np.inf)), "non-finite values (inf)"),
    ("nan cell", lambda p: write_csv(p / "x.csv", with_value(np.nan)), "line 5, column 'b': an empty cell"),
    ("NaN written out", lambda p: write(p / "x.csv", "a,b,c,d\n1,2,3,4\n1,nan,3,4\n"), "NaN"),
    ("random bytes .npy", lambda p: write(p / "x.npy", bytes(range(256)) * 4), "not a valid .npy"),
    ("empty csv", lambda p: write(p / "x.csv", ""), "x.csv"),
    ("text column", lambda p: write(p / "x.csv", "a,b\n1,x\n2,y\n"), "b"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    good = write_csv(base / "good.csv", ROWS)
    result = CliRunner().invoke(main, ["fit", str(good), "--out", str(base / "run"), "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    return base / "run"


@pytest.mark.parametrize("make, words", [c[1:] for c in CLI_FILES], ids=[c[0] for c in CLI_FILES])
@pytest.mark.parametrize("command", ["fit", "score"])
def test_cli_gives_one_line_errors(tmp_path, run_dir, command, make, words):
    path = make(tmp_path)
    if command == "fit":
        args = ["fit", str(path), "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"]
    else:
        args = ["score", str(run_dir), str(path), "--out", str(tmp_path / "scores.csv"), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert words in lines[0], result.output


# -- degenerate runs: a one-line warning that names what to change (issue 43) -----------------
def test_a_run_that_learns_nothing_warns(data_dir):
    beats = hg.datasets.load("ecg5000").x_train
    model = hg.create_model("dense", input_shape=(140,), seed=0)  # lr=1e6 saturates its sigmoid output
    with pytest.warns(UserWarning, match=r"did not reduce the loss.*lr=1e\+06"):
        hg.fit(model, beats, lr=1e6, epochs=6, progress=False)
    breastw = hg.datasets.load("adbench/4_breastw", seed=0).x_train
    with pytest.warns(UserWarning, match=r"did not reduce the loss.*lr=10"):  # a loss of 1e11, still falling
        hg.AutoencoderDetector(lr=10, random_state=0, progress=False).fit(breastw)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that learns: no warning
        hg.fit(
            hg.create_model("stacked", input_shape=(140,), output_activation="none", seed=0),
            beats,
            epochs=3,
            progress=False,
        )


def test_too_few_rows_and_constant_data_warn():
    with pytest.warns(UserWarning, match="fitting on 3 row"):
        hg.AutoencoderDetector(epochs=2, progress=False).fit(ROWS[:3])
    with pytest.warns(UserWarning, match="all the same"):
        hg.SeriesDetector(epochs=2, progress=False).fit(np.ones(3000))


# -- SeriesDetector: (id, call, error class, words) --------------------------------------------
WAVE = np.sin(2 * np.pi * np.arange(1200) / 40)


@pytest.fixture(scope="module")
def series():
    return hg.SeriesDetector(epochs=1, progress=False, random_state=0).fit(WAVE)


SERIES_CASES = [
    ("empty recording", lambda sd: hg.SeriesDetector().fit(np.array([])), hg.InvalidInputError, "empty"),
    (
        "NaN step",
        lambda sd: hg.SeriesDetector().fit(np.where(np.arange(1200) == 7, np.nan, WAVE)),
        hg.InvalidInputError,
        "NaN",
    ),
    (
        "shorter than the window",
        lambda sd: hg.SeriesDetector(window=50).fit(WAVE[:40]),
        hg.InvalidInputError,
        "shorter than the window",
    ),
    ("window of 1", lambda sd: hg.SeriesDetector(window=1).fit(WAVE), hg.InvalidInputError, "at least 2"),
    ("negative min_window", lambda sd: hg.SeriesDetector(min_window=-1).fit(WAVE), hg.InvalidInputError, "min_window"),
    ("unknown score_by", lambda sd: hg.SeriesDetector(score_by="x").fit(WAVE), hg.InvalidInputError, "score_by"),
    (
        "neighbours with step scores",
        lambda sd: hg.SeriesDetector(score_by="step", neighbors=3).fit(WAVE),
        hg.InvalidInputError,
        "neighbors=None",
    ),
    ("trim too large", lambda sd: hg.SeriesDetector(trim=0.6).fit(WAVE), hg.InvalidInputError, "trim"),
    (
        "unknown model",
        lambda sd: hg.SeriesDetector(model="gpt").fit(WAVE),
        hg.InvalidInputError,
        "model must be one of",
    ),
    ("not a threshold", lambda sd: hg.SeriesDetector(threshold=0.5).fit(WAVE), hg.InvalidInputError, "threshold"),
    (
        "different channel counts",
        lambda sd: hg.SeriesDetector().fit([WAVE, np.stack([WAVE, WAVE], 1)]),
        hg.InvalidInputError,
        "channel counts",
    ),
    ("scored before fit", lambda sd: hg.SeriesDetector().score_steps(WAVE), hg.NotFittedError, "not fitted"),
    (
        "two channels for one",
        lambda sd: sd.score_steps(np.stack([WAVE, WAVE], 1)),
        hg.InvalidInputError,
        "2 channel(s)",
    ),
    ("shorter than a window", lambda sd: sd.score_steps(WAVE[:10]), hg.InvalidInputError, "fewer than the window"),
    ("evaluate without labels", lambda sd: sd.evaluate(WAVE), hg.InvalidInputError, "needs labels"),
]


@pytest.mark.parametrize("call, error, words", [c[1:] for c in SERIES_CASES], ids=[c[0] for c in SERIES_CASES])
def test_series_detector_refuses_bad_input(series, call, error, words):
    with pytest.raises(error) as info:
        call(series)
    assert words in str(info.value), str(info.value)


# -- saved folders ----------------------------------------------------------------------------
def test_bad_folders_are_model_file_errors(tmp_path, run_dir):
    with pytest.raises(hg.ModelFileError, match="no such model folder"):
        hg.load(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(hg.ModelFileError, match="not a folder"):
        hg.load(tmp_path / "file")
    import shutil

    tampered = tmp_path / "run"
    shutil.copytree(run_dir, tampered)
    model = next(p for p in tampered.rglob("hourglass.json"))
    model.write_text(model.read_text().replace('"threshold_value": ', '"threshold_value": -5.0, "was": '))
    args = ["score", str(tampered), str(run_dir.parent / "good.csv"), "--out", str(tmp_path / "s.csv"), "--quiet"]
    result = CliRunner().invoke(main, args)
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert result.exit_code != 0 and len(lines) == 1 and "does not match the checksum" in lines[0], result.output
