"""Score a table on Spark: hourglass's ONNX scorer inside a pandas UDF.

The detector is trained and exported where hourglass is installed; the Spark executors need only
onnxruntime, NumPy and pandas (no torch, no hourglass). The ONNX scorer computes the whole
scoring path (the scaler, every member of the default ensemble, their standardisation and
average, the threshold) and gives ``score`` and ``is_anomaly`` per row.

    pip install pyspark onnxruntime "hourglass-ae[onnx]"     # and Java 17+ for Spark
    HOURGLASS_DATA_DIR=../shared/data python examples/spark_onnx_udf.py [--rows 200000]

Steps:
1. train ``hg.AutoencoderDetector()`` on ADBench thyroid's training rows (a DataFrame with named
   columns) and export its scorer: ``hg.export_onnx(est, "scorer.onnx", part="scorer")``;
2. broadcast the ONNX bytes to the executors; each executor builds one onnxruntime session (kept
   for the executor's lifetime) and scores every Arrow batch of its partitions (``mapInPandas``);
3. compare Spark's scores with ``est.score_samples`` on the same rows.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["age", "sex", "on_thyroxine", "TSH", "T3", "TT4"]
_SESSIONS: dict = {}  # one onnxruntime session per executor process


def score_batches(batches, model_bytes, columns):
    """The pandas UDF: Arrow batches of rows in, the same rows' scores out."""
    import onnxruntime

    key = id(model_bytes)
    if key not in _SESSIONS:
        _SESSIONS[key] = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    session = _SESSIONS[key]
    for frame in batches:
        x = frame[columns].to_numpy(np.float32)
        _, score, is_anomaly = session.run(["reconstruction", "score", "is_anomaly"], {"x": x})
        yield pd.DataFrame({"id": frame["id"], "score": score.astype(np.float64), "is_anomaly": is_anomaly})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000, help="rows to score on Spark")
    ap.add_argument("--partitions", type=int, default=8)
    args = ap.parse_args()
    from pyspark.sql import SparkSession

    import hourglass as hg

    ds = hg.datasets.load("adbench/38_thyroid", seed=0)
    est = hg.AutoencoderDetector(random_state=0).fit(pd.DataFrame(ds.x_train, columns=COLUMNS))
    onnx_path = Path(tempfile.mkdtemp()) / "scorer.onnx"
    hg.export_onnx(est, onnx_path, part="scorer", example=ds.x_test[:16])

    rng = np.random.default_rng(0)
    rows = ds.x_test[rng.integers(0, len(ds.x_test), args.rows)]
    table = pd.DataFrame(rows, columns=COLUMNS).assign(id=np.arange(args.rows))

    spark = SparkSession.builder.master("local[2]").appName("hourglass-onnx").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        model = spark.sparkContext.broadcast(onnx_path.read_bytes())
        frame = spark.createDataFrame(table).repartition(args.partitions)
        scored = frame.mapInPandas(
            lambda batches: score_batches(batches, model.value, COLUMNS),
            schema="id long, score double, is_anomaly long",
        )
        result = scored.toPandas().sort_values("id")
    finally:
        spark.stop()
    local = -est.score_samples(table[COLUMNS])
    gap = np.abs(result["score"].to_numpy() - local).max()
    flagged_same = (result["is_anomaly"].to_numpy() == (est.predict(table[COLUMNS]) == -1)).mean()
    scale = np.abs(local).max()
    print(
        f"scored {len(result):,} rows on Spark; largest difference from local scoring {gap:.2e} "
        f"(the scores reach {scale:.3g}); is_anomaly equal on {flagged_same:.4%} of the rows"
    )
    assert gap < 1e-4 * max(1.0, scale)  # float32 in onnxruntime vs torch


if __name__ == "__main__":
    main()
