"""Tables from files: every CSV engine reads the same table and names the same bad cell; Parquet;
large files read in chunks; `hourglass score` streams them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hourglass as hg
from hourglass.cli import main
from hourglass.datasets import csvfile

ENGINES = ["pyarrow", "pandas", "numpy", "python"]


@pytest.fixture(scope="module")
def thyroid():
    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    names = ["age", "sex", "on_thyroxine", "TSH", "T3", "TT4"]
    return ds, names


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_read_the_same_table(tmp_path, engine):
    text = (
        "\n"  # a blank line before the header
        'id;"size, cm";weight;label\n'
        "1; 2.5 ;3e-2;normal\n"
        "\n"
        "2;-1;7;  odd \n"
        '3;"4.25";inf;normal\n'
    )
    t = hg.datasets.read_csv(write(tmp_path / "t.csv", text), label_column="label", engine=engine)
    np.testing.assert_array_equal(t.x, np.array([[1, 2.5, 0.03], [2, -1, 7], [3, 4.25, np.inf]], np.float32))
    assert t.y.tolist() == ["normal", "odd", "normal"] and t.feature_names == ["id", "size, cm", "weight"]
    picked = hg.datasets.read_csv(tmp_path / "t.csv", columns=["weight", "id"], engine=engine)
    np.testing.assert_array_equal(picked.x, t.x[:, [2, 0]])
    bare = hg.datasets.read_csv(write(tmp_path / "n.csv", "1,2,0\n3,4,1\n"), label_column=-1, engine=engine)
    assert bare.y.tolist() == [0.0, 1.0] and bare.feature_names == ["x0", "x1"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "body, match",
    [
        ("a,b\n1,2\n3,oops\n", r"line 3, column 'b': 'oops' is not a number"),
        ("a,b\n1,2\n\n3,\n", r"line 4, column 'b': an empty cell"),
        ("a,b\n1,2\n3,4,5\n", r"line 3 has 3 cells but the header has 2"),
        ("a,b\n1,2\n3\n", r"line 3 has 1 cells but the header has 2"),
        ("a,b\n", r"a header but no data rows"),
    ],
)
def test_every_engine_names_the_bad_cell(tmp_path, engine, body, match):
    with pytest.raises(hg.DataFileError, match=match):
        hg.datasets.read_csv(write(tmp_path / "bad.csv", body), engine=engine)
    with pytest.raises(hg.DataFileError, match=match):
        list(hg.datasets.iter_csv(tmp_path / "bad.csv", chunk_rows=1, engine=engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_chunks_add_up_to_the_whole_file(tmp_path, engine, thyroid):
    ds, names = thyroid
    frame = pd.DataFrame(ds.x_test, columns=names).assign(y=ds.y_test.astype(int))
    frame.to_csv(tmp_path / "t.csv", index=False)
    whole = hg.datasets.read_csv(tmp_path / "t.csv", label_column="y", engine=engine)
    chunks = list(hg.datasets.iter_csv(tmp_path / "t.csv", chunk_rows=100, label_column="y", engine=engine))
    assert len(chunks) > 3  # pyarrow's blocks are sized from the rows' length: about 100 rows
    np.testing.assert_array_equal(np.concatenate([c.x for c in chunks]), whole.x)
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), whole.y)
    np.testing.assert_allclose(whole.x, ds.x_test, rtol=1e-6)


def test_engine_choice_is_checked():
    assert csvfile.engine_name() == "pyarrow"  # installed with the test extra
    with pytest.raises(hg.InvalidInputError, match="engine must be"):
        csvfile.engine_name("polars")


def test_parquet_whole_and_in_batches(tmp_path, thyroid):
    ds, names = thyroid
    frame = pd.DataFrame(ds.x_test, columns=names).assign(label=np.where(ds.y_test == 1, "sick", "well"))
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=200)
    t = hg.datasets.read_table(tmp_path / "t.parquet", label_column="label")
    np.testing.assert_array_equal(t.x, ds.x_test)
    assert t.feature_names == names and set(t.y) == {"sick", "well"}
    batches = list(hg.datasets.iter_parquet(tmp_path / "t.parquet", chunk_rows=150, columns=["TT4", "age"]))
    assert len(batches) > 3
    np.testing.assert_array_equal(np.concatenate([b.x for b in batches]), ds.x_test[:, [5, 0]])
    frame.assign(TSH=frame.TSH.mask(frame.index == 7)).to_parquet(tmp_path / "gap.parquet")
    with pytest.raises(hg.DataFileError, match="row 7, column 'TSH': a missing value"):
        hg.datasets.read_table(tmp_path / "gap.parquet", label_column="label")
    with pytest.raises(hg.DataFileError, match=r"feature column\(s\) \['label'\]"):
        hg.datasets.read_table(tmp_path / "t.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(hg.DataFileError, match="not a readable Parquet file"):
        hg.datasets.read_table(tmp_path / "junk.parquet")


def test_npy_is_memory_mapped_in_chunks(tmp_path, thyroid):
    ds, _ = thyroid
    np.save(tmp_path / "x.npy", ds.x_test)
    chunks = list(hg.datasets.iter_table(tmp_path / "x.npy", chunk_rows=256))
    assert [len(c.x) for c in chunks][:2] == [256, 256]
    np.testing.assert_array_equal(np.concatenate([c.x for c in chunks]), ds.x_test)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_hourglass_score_streams_a_table_in_chunks(tmp_path, thyroid, suffix):
    ds, names = thyroid
    train = pd.DataFrame(ds.x_train[:800], columns=names)
    train.to_csv(tmp_path / "train.csv", index=False)
    runner = CliRunner()
    fit = runner.invoke(main, ["fit", str(tmp_path / "train.csv"), "--out", str(tmp_path / "run"), "--quiet"])
    assert fit.exit_code == 0, fit.output
    test = pd.DataFrame(ds.x_test, columns=names).assign(extra="ignored", y=ds.y_test.astype(int))[
        ["y", *names[::-1], "extra"]
    ]
    data = tmp_path / f"test{suffix}"
    test.to_csv(data, index=False) if suffix == ".csv" else test.to_parquet(data, row_group_size=128)
    out = tmp_path / "scores.csv"
    args = ["score", str(tmp_path / "run"), str(data), "--out", str(out), "--label-column", "y", "--quiet"]
    result = runner.invoke(main, [*args, "--chunk-rows", "97"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["row", "score", "is_anomaly", "p_value", "y"] and len(scores) == len(ds.x_test)
    est = hg.load(tmp_path / "run" / "model")
    np.testing.assert_allclose(scores["score"], -est.score_samples(ds.x_test), rtol=1e-6)
    assert scores["row"].tolist() == list(range(len(ds.x_test))) and "auroc" in result.output
    whole = runner.invoke(main, [*args[:4], str(tmp_path / "once.csv"), *args[5:]])
    assert whole.exit_code == 0
    once = pd.read_csv(tmp_path / "once.csv")  # the same rows; scores equal up to the batches' float rounding
    np.testing.assert_allclose(once["score"], scores["score"], rtol=1e-5)
    assert once.drop(columns=["score", "p_value"]).equals(scores.drop(columns=["score", "p_value"]))


def test_hourglass_score_writes_the_same_csv_without_pyarrow(tmp_path, thyroid, monkeypatch):
    ds, names = thyroid
    pd.DataFrame(ds.x_train[:500], columns=names).to_csv(tmp_path / "train.csv", index=False)
    runner = CliRunner()
    assert (
        runner.invoke(main, ["fit", str(tmp_path / "train.csv"), "--out", str(tmp_path / "run"), "--quiet"]).exit_code
        == 0
    )
    pd.DataFrame(ds.x_test[:300], columns=names).assign(y=ds.y_test[:300].astype(int)).to_csv(
        tmp_path / "t.csv", index=False
    )
    args = ["score", str(tmp_path / "run"), str(tmp_path / "t.csv"), "--label-column", "y", "--quiet", "--out"]
    assert runner.invoke(main, [*args, str(tmp_path / "fast.csv")]).exit_code == 0
    import hourglass.cli.scoring

    monkeypatch.setattr(hourglass.cli.scoring, "_arrow_csv", lambda: None)  # as if pyarrow were not installed
    monkeypatch.setenv("HOURGLASS_CSV_ENGINE", "python")
    assert runner.invoke(main, [*args, str(tmp_path / "plain.csv")], catch_exceptions=False).exit_code == 0
    fast, plain = pd.read_csv(tmp_path / "fast.csv"), pd.read_csv(tmp_path / "plain.csv")
    assert list(fast.columns) == list(plain.columns) == ["row", "score", "is_anomaly", "p_value", "y"]
    np.testing.assert_array_equal(fast.to_numpy(), plain.to_numpy())


@pytest.mark.parametrize("engine", ENGINES)
def test_a_layout_a_fast_engine_refuses_is_read_by_python(tmp_path, engine):
    text = 'a,b,note\n1,2,plain\n3,4,"two\nlines"\n5,6,end\n'  # a line break inside quotes
    path = write(tmp_path / "q.csv", text)
    whole = hg.datasets.read_csv(path, label_column="note", engine=engine)
    np.testing.assert_array_equal(whole.x, [[1, 2], [3, 4], [5, 6]])
    assert whole.y.tolist() == ["plain", "two\nlines", "end"]
    chunks = list(hg.datasets.iter_csv(path, chunk_rows=1, label_column="note", engine=engine))
    np.testing.assert_array_equal(np.concatenate([c.x for c in chunks]), whole.x)  # no row lost or repeated
