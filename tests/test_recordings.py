"""Long recordings in the TSB benchmarks' formats: the two real files, and the formats for others."""

from __future__ import annotations

import numpy as np
import pytest

import hourglass as hg


def test_the_tsb_uad_ecg_recording():
    rec = hg.datasets.load("tsb-uad/MBA_ECG805")
    assert isinstance(rec, hg.datasets.Recording) and rec.values.shape == (230_400, 1)
    assert rec.values.dtype == np.float32 and set(np.unique(rec.labels)) == {0, 1}
    assert abs(rec.labels.mean() - 0.088) < 0.001  # SOURCES.md: 8.8 % of the rows
    assert rec.train_end == 23_040 and rec.x_train.shape == (23_040, 1)  # TSB-UAD: the first 10 %
    np.testing.assert_array_equal(rec.x_test, rec.values)  # every step is scored
    starts = np.flatnonzero(np.diff(np.r_[0, rec.labels]) == 1)
    assert len(starts) == 208  # anomalous stretches
    assert rec.first_anomaly == starts[0] and "Recording('tsb-uad/MBA_ECG805'" in repr(rec)


def test_the_tsb_ad_nab_series():
    rec = hg.datasets.load("tsb-ad/001_NAB_id_1_Facility")
    assert rec.values.shape == (4_031, 1) and rec.train_end == 1_007 and rec.first_anomaly == 2_014
    assert int(np.argmax(rec.labels)) == 2_014 and not rec.y_train.any()  # the training part is clean
    assert rec.info["channels"] == ["Data"]
    assert {"tsb-uad/MBA_ECG805", "tsb-ad/001_NAB_id_1_Facility"} <= set(hg.datasets.list_datasets())


def test_other_files_of_the_benchmarks_load_by_name(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 2)).round(4)
    labels = (np.arange(300) >= 250).astype(int)
    (tmp_path / "tsb-uad").mkdir()
    rows = [f"{a},{b},{y}" for (a, b), y in zip(values, labels)]
    (tmp_path / "tsb-uad" / "Sensor_7_data.out").write_text("\n".join(rows) + "\n")
    (tmp_path / "tsb-ad").mkdir()
    header = "temp,pressure,Label\n"
    (tmp_path / "tsb-ad" / "099_SMD_id_3_Facility_tr_120_1st_250.csv").write_text(header + "\n".join(rows) + "\n")
    uad = hg.datasets.load("tsb-uad/Sensor_7", data_dir=tmp_path)
    assert uad.values.shape == (300, 2) and uad.train_end == 30 and uad.first_anomaly == 250
    ad = hg.datasets.load("tsb-ad/099_SMD_id_3_Facility", data_dir=tmp_path, train_end=100)
    assert ad.train_end == 100 and ad.info["channels"] == ["temp", "pressure"]  # train_end given wins
    np.testing.assert_allclose(ad.values, values, rtol=1e-6)
    assert {"tsb-uad/Sensor_7", "tsb-ad/099_SMD_id_3_Facility"} <= set(hg.datasets.list_datasets(tmp_path))
    with pytest.raises(hg.DatasetNotFoundError, match="unknown recording"):
        hg.datasets.load("tsb-ad/nothing_here", data_dir=tmp_path, download=False)


def test_bad_recordings_are_named(tmp_path):
    bad = tmp_path / "x_tr_5_1st_8.csv"
    bad.write_text("Data,Label\n1,0\n2,0\noops,0\n")
    with pytest.raises(hg.DataFileError, match="line 4, column 'Data'"):
        hg.datasets.read_recording(bad)
    labels = tmp_path / "y.out"
    labels.write_text("1,0\n2,3\n")
    with pytest.raises(hg.DataFileError, match="0 .normal. and 1 .anomaly. only"):
        hg.datasets.read_recording(labels)
    short = tmp_path / "z_tr_50_1st_60.csv"
    short.write_text("Data,Label\n1,0\n2,0\n")
    with pytest.raises(hg.DataFileError, match="a training part of 50 steps"):
        hg.datasets.read_recording(short)
