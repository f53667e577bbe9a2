"""The scikit-learn estimators on real tabular data: conventions, check_estimator, pipelines,
conformal thresholds, save / load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import hourglass as hg


@pytest.fixture(scope="session")
def breastw(data_dir):
    return hg.datasets.load("adbench/4_breastw", data_dir=data_dir, download=False, seed=0)


@pytest.fixture(scope="session")
def thyroid(data_dir):
    return hg.datasets.load("adbench/38_thyroid", data_dir=data_dir, download=False, seed=0)


# check_estimator fits dozens of times on tiny data: 3 epochs, without the detector's step budget
# (which would train its 30-row sets for 200 steps). Row-by-row scoring then matches whole-batch
# scoring within the check's 1e-7; float32 matmuls of one row and of many round differently, so
# a longer-trained detector differs at about 1e-6.
@pytest.mark.parametrize(
    "estimator",
    [
        hg.AutoencoderDetector(epochs=3, min_steps=None, random_state=0),
        hg.AutoencoderTransformer(epochs=3, random_state=0),
    ],
    ids=["AutoencoderDetector", "AutoencoderTransformer"],
)
def test_passes_scikit_learns_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None, on_skip=None)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    skipped = [r["check_name"] for r in results if r["status"] == "skipped"]
    assert not failed, failed
    # The one check skipped: array-API inputs (CuPy, torch through the array API). hourglass takes
    # NumPy arrays (and anything np.asarray reads, pandas included), so it does not apply.
    assert skipped == ["check_array_api_input"], skipped
    assert len(results) > 40


def test_default_detector_on_real_tabular_data(breastw):
    """A user who passes only X (unlabelled, anomalies included) gets a good detector."""
    est = hg.AutoencoderDetector(random_state=0).fit(breastw.x_train)
    y = breastw.y_test.astype(int)
    assert roc_auc_score(y, -est.score_samples(breastw.x_test)) > 0.95
    # scikit-learn's conventions: -1 outlier / +1 inlier, decision_function < 0 for outliers.
    pred = est.predict(breastw.x_test)
    assert set(np.unique(pred)) <= {-1, 1}
    np.testing.assert_array_equal(pred == -1, est.decision_function(breastw.x_test) < 0)
    np.testing.assert_allclose(est.decision_function(breastw.x_test), est.score_samples(breastw.x_test) - est.offset_)
    # contamination = the share of training rows flagged
    assert (est.predict(breastw.x_train) == -1).mean() == pytest.approx(0.1, abs=0.01)
    # six members trained together, each stopped on its own or at the budget: 430 training rows
    # are 4 batches of 128, so 20 epochs (80 steps) rise to 50 for the 200-step minimum
    assert len(est.history_.members) == 6 and est.history_.settings["epochs"] == 50
    assert all(h.stopped_early or h.epochs == 50 for h in est.history_.members)
    assert est.model_.member_config(0).latent_dim < breastw.x_train.shape[1]  # a narrow member


def test_min_steps_raises_the_epochs_of_small_data_only(breastw, thyroid):
    """The budget in steps: small sets train for more epochs, large ones keep ``epochs``; on the
    members trained together and on models trained one after another; None turns it off."""
    small, large = breastw.x_train[:300], thyroid.x_train  # 270 / 2,376 training rows
    est = hg.AutoencoderDetector(epochs=4, min_steps=60, patience=100, random_state=0).fit(small)
    assert est.history_.settings["epochs"] == 20 and est.history_.epochs == 20  # 3 batches x 20
    assert hg.AutoencoderDetector(epochs=4, min_steps=None, random_state=0).fit(small).history_.epochs == 4
    big = hg.AutoencoderDetector(epochs=2, min_steps=30, random_state=0).fit(large)
    assert big.history_.settings["epochs"] == 2  # 19 batches x 2 epochs >= 30 steps already
    sub = hg.AutoencoderDetector(epochs=4, min_steps=60, max_samples=0.5, patience=100, random_state=0).fit(small)
    assert sub.history_.epochs == 30  # each member's 135 rows: 2 batches per epoch
    one = hg.AutoencoderDetector(n_models=1, epochs=4, min_steps=60, patience=100, random_state=0).fit(small)
    assert one.history_.epochs == 20  # one model, trained by hg.fit
    with pytest.raises(hg.InvalidInputError, match="min_steps"):
        hg.AutoencoderDetector(min_steps=0).fit(small)


def test_epochs_set_by_hand_are_not_raised_by_the_default_budget(breastw, tmp_path):
    """Issue 43: ``epochs=2`` on 270 rows once ran 67 epochs because the default ``min_steps``
    won. The budget applies to the default ``epochs`` only, and the fitted detector says what ran."""
    small = breastw.x_train[:300]  # 270 training rows: 3 batches of 128
    hand = hg.AutoencoderDetector(epochs=2, random_state=0).fit(small)
    assert (hand.n_epochs_, hand.n_steps_) == (2, 6)
    default = hg.AutoencoderDetector(patience=100, random_state=0).fit(small)
    assert default.n_epochs_ == 67 and default.n_steps_ == 201  # 200 steps: the budget rule
    both = hg.AutoencoderDetector(epochs=2, min_steps=30, patience=100, random_state=0).fit(small)
    assert both.n_epochs_ == 10  # min_steps set by hand too: it raises them
    hg.save(hand, tmp_path / "hand")
    assert hg.load(tmp_path / "hand").n_epochs_ == 2


def test_fixed_fpr_holds_on_new_normal_rows(thyroid):
    """Split-conformal FixedFPR: trained on normal rows, calibrated on held-out ones; the share of
    new normal rows flagged stays at most the rate (up to sampling noise), and the p-values of
    new normal rows are roughly uniform."""
    normal = thyroid.x_train[thyroid.y_train == 0]
    est = hg.AutoencoderDetector(threshold=hg.FixedFPR(0.05), epochs=30, random_state=0).fit(normal)
    assert est.detector_.train_scores_["n"] == round(0.2 * len(normal))
    test_normal = thyroid.x_test[thyroid.y_test == 0]
    fpr = (est.predict(test_normal) == -1).mean()
    assert fpr <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / len(test_normal))
    p = est.p_values(test_normal)
    assert 0 < p.min() and p.max() <= 1
    assert (p <= 0.05).mean() == pytest.approx(fpr, abs=0.01)
    assert (p <= 0.5).mean() == pytest.approx(0.5, abs=0.08)
    anomalies = thyroid.x_test[thyroid.y_test == 1]
    assert np.median(est.p_values(anomalies)) < 0.05
    assert est.threshold.__dict__.get("value_") is None  # the parameter object is left untouched


def test_transformer_in_a_pipeline_and_grid_search(breastw):
    from sklearn.linear_model import LogisticRegression

    pipe = make_pipeline(hg.AutoencoderTransformer(latent_dim=3, epochs=20, random_state=0), LogisticRegression())
    grid = GridSearchCV(pipe, {"autoencodertransformer__latent_dim": [2, 4]}, cv=2).fit(
        breastw.x_train, breastw.y_train
    )
    assert grid.best_score_ > 0.9
    codes = grid.best_estimator_[0].transform(breastw.x_test)
    assert codes.shape == (len(breastw.x_test), grid.best_params_["autoencodertransformer__latent_dim"])
    names = grid.best_estimator_[0].get_feature_names_out()
    assert names[0] == "autoencodertransformer0"


def test_detector_grid_search_with_a_labelled_scorer(breastw):
    def auroc(est, x, y):
        return roc_auc_score(y, -est.score_samples(x))

    grid = GridSearchCV(
        hg.AutoencoderDetector(epochs=20, random_state=0), {"latent_dim": [2, 4]}, scoring=auroc, cv=2
    ).fit(breastw.x_train, breastw.y_train)
    assert grid.best_score_ > 0.9


def test_save_load_round_trip_of_the_estimator(tmp_path, breastw):
    est = hg.AutoencoderDetector(epochs=20, random_state=0, scaler="minmax").fit(breastw.x_train)
    hg.save(est, tmp_path / "est")
    loaded = hg.load(tmp_path / "est")
    assert isinstance(loaded, hg.AutoencoderDetector)
    assert loaded.get_params()["scaler"] == "minmax"
    x = breastw.x_test
    np.testing.assert_array_equal(loaded.score_samples(x), est.score_samples(x))
    np.testing.assert_array_equal(loaded.predict(x), est.predict(x))
    np.testing.assert_array_equal(loaded.p_values(x), est.p_values(x))
    assert loaded.offset_ == est.offset_


def test_estimator_errors_name_the_problem(breastw):
    x = breastw.x_train
    with pytest.raises(ValueError, match="contamination"):
        hg.AutoencoderDetector(contamination=0.9).fit(x)
    with pytest.raises(ValueError, match="NaN"):
        bad = x.copy()
        bad[3, 2] = np.nan
        hg.AutoencoderDetector(epochs=1).fit(bad)
    est = hg.AutoencoderDetector(epochs=1, random_state=0).fit(x)
    with pytest.raises(ValueError, match="features"):
        est.predict(x[:, :4])
    with pytest.raises(ValueError, match="threshold must be"):
        hg.AutoencoderDetector(threshold=0.5).fit(x)
    with pytest.raises(ValueError, match="input_shape"):
        hg.AutoencoderDetector(model="conv", model_options={"input_shape": (1, 28, 28)}).fit(x)


def test_dataframe_columns_name_the_explanation(breastw):
    import pandas as pd

    columns = [f"cell_{i}" for i in range(breastw.x_train.shape[1])]
    frame = pd.DataFrame(breastw.x_train, columns=columns)
    est = hg.AutoencoderDetector(n_models=2, epochs=10, random_state=0).fit(frame)
    ex = est.explain(pd.DataFrame(breastw.x_test[:5], columns=columns), top=2)
    assert ex.names.shape == (5, 2) and all(n in columns for n in ex.names.ravel())
    with pytest.raises(ValueError, match="feature names"):
        est.predict(pd.DataFrame(breastw.x_test[:5], columns=columns[::-1]))


def test_vae_detector_scores_by_likelihood(breastw):
    """A Gaussian VAE (per-feature learnt std on standardised columns) scored by its
    importance-weighted -log p(x): the probability model's own notion of 'unusual'."""
    est = hg.AutoencoderDetector(model="vae", n_models=1, error="nll", random_state=0).fit(breastw.x_train)
    assert est.model_.config.likelihood == "gaussian"
    assert est.history_.settings["loss"] == "elbo"
    auroc = roc_auc_score(breastw.y_test, -est.score_samples(breastw.x_test))
    assert auroc > 0.95, auroc


def test_transformer_embeds_images_with_any_model(fashion):
    """image2vec in a pipeline: flat image rows in, conv or VAE codes out, a classifier on top."""
    from sklearn.linear_model import LogisticRegression

    x = fashion.x_train[:1500].reshape(1500, -1)
    y = fashion.y_train[:1500]
    for model, options in (("conv", {"channels": (8, 16)}), ("vae", {"hidden": (128,)})):
        tr = hg.AutoencoderTransformer(
            model=model,
            latent_dim=16,
            scaler="minmax",
            epochs=3,
            patience=3,
            model_options={"input_shape": (1, 28, 28), **options},
            random_state=0,
        )
        pipe = make_pipeline(tr, LogisticRegression(max_iter=500)).fit(x[:1000], y[:1000])
        assert tr.transform(x[:5]).shape == (5, 16)
        assert pipe.score(x[1000:], y[1000:]) > 0.6  # 10 classes: chance is 0.1


def test_robust_scaler_matches_scikit_learn_and_ignores_contamination(data_dir, thyroid, tmp_path):
    """``scaler="robust"`` on real SpamBase (sparse word counts, many columns mostly zero): the
    median / IQR of scikit-learn's RobustScaler where the quartiles differ, the standard deviation
    where they coincide; a few extreme rows barely move it; its torch form (scoring, ONNX) equal;
    a detector with it saved and loaded with identical scores."""
    from sklearn.preprocessing import RobustScaler

    spam = hg.datasets.load("adbench/35_SpamBase", data_dir=data_dir, download=False, seed=0)
    x = spam.x_train
    ours = hg.create_scaler("robust").fit(x)
    assert isinstance(ours, hg.RobustScaler) and "robust" in hg.list_scalers()
    q25, q75 = np.percentile(x, [25, 75], axis=0)
    spread = q75 > q25
    assert 0 < spread.sum() < x.shape[1]  # both kinds of column are exercised
    np.testing.assert_allclose(
        ours.transform(x)[:, spread], RobustScaler().fit_transform(x)[:, spread], rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(ours.scale_[~spread], x[:, ~spread].std(axis=0), rtol=1e-5)
    module = ours.as_module((x.shape[1],))
    np.testing.assert_allclose(module(torch.as_tensor(x[:50])).numpy(), ours.transform(x[:50]), rtol=1e-6)

    # 2 % of the rows blown up 1,000-fold: the standard scale of the spread columns grows many times,
    # the robust one by a few percent
    polluted = np.concatenate([x, 1000 * x[: len(x) // 50]])
    robust, standard = hg.create_scaler("robust").fit(polluted), hg.create_scaler("standard").fit(polluted)
    base_standard = hg.create_scaler("standard").fit(x)
    assert np.median(robust.scale_[spread] / ours.scale_[spread]) < 1.1
    assert np.median(standard.scale_[spread] / base_standard.scale_[spread]) > 5

    est = hg.AutoencoderDetector(n_models=2, epochs=10, scaler="robust", random_state=0).fit(thyroid.x_train)
    assert est.get_params()["scaler"] == "robust" and isinstance(est.detector_.scaler, hg.RobustScaler)
    assert roc_auc_score(thyroid.y_test, -est.score_samples(thyroid.x_test)) > 0.9
    hg.save(est, tmp_path / "robust")
    x_new = thyroid.x_test
    np.testing.assert_array_equal(hg.load(tmp_path / "robust").score_samples(x_new), est.score_samples(x_new))
    bad = hg.create_scaler("robust")
    with pytest.raises(hg.NotFittedError, match="RobustScaler is not fitted"):
        bad.transform(x)
