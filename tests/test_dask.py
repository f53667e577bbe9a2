"""Scoring Dask collections: lazy results, computed on a dask.distributed LocalCluster of two worker
processes, equal to local scoring; the detector enters the graph once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hourglass as hg

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

COLUMNS = ["age", "sex", "on_thyroxine", "TSH", "T3", "TT4"]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def thyroid():
    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    train = pd.DataFrame(ds.x_train[:1000], columns=COLUMNS)
    est = hg.AutoencoderDetector(epochs=5, random_state=0).fit(train)
    return ds, est.detector_  # six members trained together: the default tabular detector


def detector_keys(collection) -> list:
    graph = dict(collection.__dask_graph__())
    return [k for k, v in graph.items() if isinstance(getattr(v, "value", v), hg.BaseDetector)]


def test_dask_array_scores_on_the_cluster_as_locally(client, thyroid):
    ds, det = thyroid
    x = da.from_array(ds.x_test, chunks=(200, 3))  # columns chunked too: rechunked to whole rows
    lazy = det.score_samples(x)
    assert isinstance(lazy, da.Array) and lazy.shape == (len(ds.x_test),) and lazy.dtype == np.float32
    assert len(detector_keys(lazy)) == 1  # shipped once, whatever the number of blocks
    futures = client.compute([lazy, det.predict(x), det.decision_function(x), det.p_values(x)])
    scores, predicted, decision, p = client.gather(futures)
    np.testing.assert_allclose(scores, det.score_samples(ds.x_test), rtol=1e-5)
    np.testing.assert_array_equal(predicted, det.predict(ds.x_test))
    np.testing.assert_allclose(decision, det.decision_function(ds.x_test), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p, det.p_values(ds.x_test), rtol=1e-6)
    ran_on = client.run(lambda: "hourglass" in __import__("sys").modules)
    assert len(ran_on) == 2 and all(ran_on.values())  # both worker processes scored blocks


def test_dask_dataframe_keeps_the_index_and_matches_columns_by_name(client, thyroid):
    ds, det = thyroid
    frame = pd.DataFrame(ds.x_test, columns=COLUMNS, index=pd.RangeIndex(7000, 7000 + len(ds.x_test), name="id"))
    ddf = dd.from_pandas(frame[COLUMNS[::-1]], npartitions=4)  # reordered columns: matched by name
    scores = det.score_samples(ddf)
    assert isinstance(scores, dd.Series)
    computed = client.compute(scores).result()
    assert computed.index.equals(frame.index) and computed.name == "score_samples"
    np.testing.assert_allclose(computed.to_numpy(), det.score_samples(frame), rtol=1e-5)


def test_bad_partitions_raise_the_local_error(client, thyroid):
    ds, det = thyroid
    ddf = dd.from_pandas(pd.DataFrame(ds.x_test[:100, :5], columns=COLUMNS[:5]), npartitions=2)
    with pytest.raises(hg.InvalidInputError, match=r"missing \['TT4'\]"):
        client.compute(det.score_samples(ddf)).result()
    with pytest.raises(hg.InvalidInputError, match="expected"):
        det.score_samples(da.ones(10))
