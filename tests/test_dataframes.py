"""pandas DataFrames in and out: column names become feature names, columns are matched by name,
per-row results keep the frame's index, explanations come as frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hourglass as hg

COLUMNS = ["age", "sex", "on_thyroxine", "TSH", "T3", "TT4"]  # names for ADBench thyroid's 6 features


@pytest.fixture(scope="module")
def thyroid():
    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    x_train, x_test, y_test = ds.x_train[:1000], ds.x_test[:600], ds.y_test[:600]  # a few seconds of training
    train = pd.DataFrame(x_train, columns=COLUMNS, index=pd.RangeIndex(5000, 5000 + len(x_train), name="id"))
    test = pd.DataFrame(x_test, columns=COLUMNS, index=pd.Index([f"p{i}" for i in range(len(x_test))]))
    assert y_test.sum() >= 10
    return train, test, y_test


@pytest.fixture(scope="module")
def detector(thyroid):
    train, _, _ = thyroid
    model = hg.create_model("stacked", input_shape=(6,), hidden=(8,), latent_dim=3, seed=0)
    hg.fit(model, train, epochs=5, batch_size=128, progress=False)
    return hg.Detector(model, score="mse", scaler=hg.StandardScaler()).fit(train)


def test_columns_become_feature_names_and_are_matched_by_name(detector, thyroid):
    _, test, y = thyroid
    assert detector.feature_names == COLUMNS
    scores = detector.score_samples(test)
    np.testing.assert_array_equal(scores, detector.score_samples(test[COLUMNS[::-1]]))
    np.testing.assert_array_equal(scores, detector.score_samples(test.to_numpy()))  # arrays: by position
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, scores) > 0.8


def test_missing_unexpected_and_non_numeric_columns_are_named(detector, thyroid):
    _, test, _ = thyroid
    with pytest.raises(hg.InvalidInputError, match=r"missing \['TT4'\]"):
        detector.score_samples(test.drop(columns="TT4"))
    with pytest.raises(hg.InvalidInputError, match=r"not seen in fit \['ward'\]"):
        detector.predict(test.assign(ward=3.0))
    with pytest.raises(hg.InvalidInputError, match=r"non-numeric columns \['sex'\]"):
        detector.score_samples(test.assign(sex=np.where(test.sex > 0.5, "F", "M")))
    with pytest.raises(hg.InvalidInputError, match="duplicated column names"):
        detector.score_samples(pd.concat([test, test[["TSH"]]], axis=1))
    with pytest.raises(hg.InvalidInputError, match="NaN"):
        detector.score_samples(test.astype("Float64").mask(pd.Series(test.index == "p3", index=test.index), axis=0))


def test_score_frame_keeps_the_index(detector, thyroid):
    _, test, _ = thyroid
    frame = detector.score_frame(test)
    assert list(frame.columns) == ["score", "is_anomaly", "p_value"] and frame.index.equals(test.index)
    np.testing.assert_array_equal(frame["score"], detector.score_samples(test))
    np.testing.assert_array_equal(frame["is_anomaly"], detector.predict(test))
    np.testing.assert_array_equal(frame["p_value"], detector.p_values(test))
    assert detector.score_frame(test.to_numpy()[:5]).index.tolist() == [0, 1, 2, 3, 4]


def test_explanations_as_frames_with_names_and_index(detector, thyroid):
    _, test, _ = thyroid
    frame = detector.explain(test.iloc[:3], top=2).to_frame()
    assert frame.index.get_level_values("sample").tolist() == ["p0", "p0", "p1", "p1", "p2", "p2"]
    assert set(frame["element"]) <= set(COLUMNS)


def test_saved_feature_names_keep_matching_by_name(detector, thyroid, tmp_path):
    _, test, _ = thyroid
    hg.save(detector, tmp_path / "det")
    loaded = hg.load(tmp_path / "det")
    np.testing.assert_array_equal(loaded.score_samples(test[COLUMNS[::-1]]), detector.score_samples(test))


def test_detector_ensemble_learns_the_names(thyroid):
    train, test, _ = thyroid
    members = []
    for seed in (0, 1):
        model = hg.create_model("stacked", input_shape=(6,), hidden=(8,), latent_dim=3, seed=seed)
        hg.fit(model, train, epochs=2, progress=False)
        members.append(hg.Detector(model, score="mse", scaler=hg.StandardScaler()))
    ens = hg.DetectorEnsemble(members).fit(train)
    assert ens.feature_names == COLUMNS
    np.testing.assert_array_equal(ens.score_samples(test[COLUMNS[::-1]]), ens.score_samples(test))
    assert ens.score_frame(test).index.equals(test.index)


def test_estimator_follows_scikit_learn_and_keeps_the_index(thyroid):
    train, test, _ = thyroid
    est = hg.AutoencoderDetector(epochs=3, random_state=0).fit(train)
    assert list(est.feature_names_in_) == COLUMNS
    frame = est.score_frame(test)
    assert frame.index.equals(test.index)
    np.testing.assert_allclose(frame["score"], -est.score_samples(test))
    np.testing.assert_array_equal(frame["is_anomaly"], est.predict(test) == -1)
    explanation = est.explain(test.iloc[:2], top=3).to_frame()
    assert explanation.index.get_level_values("sample")[0] == "p0" and set(explanation["element"]) <= set(COLUMNS)
    with pytest.raises(ValueError, match="same order"):  # scikit-learn's rule for its estimators
        est.score_samples(test[COLUMNS[::-1]])


def test_transformer_set_output_pandas(thyroid):
    train, test, _ = thyroid
    t = hg.AutoencoderTransformer(latent_dim=2, epochs=2, random_state=0).set_output(transform="pandas")
    codes = t.fit(train).transform(test)
    assert isinstance(codes, pd.DataFrame) and codes.index.equals(test.index) and codes.shape == (len(test), 2)
    assert list(codes.columns) == list(t.get_feature_names_out())
