"""Run a recipe end to end: data -> transforms -> model -> training -> detection -> report.

Each stage calls the library's public functions (``hg.datasets.load``, ``hg.create_model``,
``hg.fit``, ``hg.Detector``, ``hg.report``, ``hg.save``); the run folder receives the saved
model or detector (``model/``), ``metrics.json``, ``recipe.json`` (the recipe as run) and
``report.html`` with its figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hourglass import datasets
from hourglass.atomic import write_json_atomic
from hourglass.detection.pipeline import Pipeline
from hourglass.detection.scores import check_error_blur
from hourglass.detection.thresholds import threshold_from_dict
from hourglass.errors import DataFileError, InvalidInputError
from hourglass.inference import reconstruct
from hourglass.io import save
from hourglass.models.members import member_seeds
from hourglass.models.registry import create_model
from hourglass.prepare import class_labels, is_anomaly
from hourglass.progress import resolve as resolve_progress
from hourglass.recipes.schema import Recipe, RecipeError, load_recipe
from hourglass.reports.html import report
from hourglass.training import FitOptions
from hourglass.transforms.corruptions import corruption_from_dict, is_deterministic


@dataclass
class RunData:
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray | None  # 1 = anomaly / 0 = normal, where known
    classes_train: np.ndarray | None  # the data set's own classes
    classes_test: np.ndarray | None
    class_names: tuple | dict = ()
    description: str = ""


@dataclass
class RunResult:
    """What :func:`run_recipe` made: the trained model, the detector (when the recipe detects),
    the training history, test metrics, and where it all was written."""

    recipe: Recipe
    model: object
    detector: object
    history: object
    metrics: dict
    out: Path
    seconds: float
    data: RunData = field(repr=False, default=None)

    @property
    def report_path(self) -> Path:
        return self.out / "report.html"


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    if not size or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def load_data(recipe: Recipe, *, data_dir=None, progress=False) -> RunData:
    """The data stage: a built-in data set or the user's own file, split into normal training
    samples and labelled test samples."""
    d, seed = recipe.data, recipe.training["seed"] or 0
    if d["dataset"] is not None:
        options = {} if d["split"] is None else {"split": d["split"]}
        ds = datasets.load(d["dataset"], data_dir=data_dir, progress=resolve_progress(progress), **options)
        normal = d["normal"] if d["normal"] is not None else (list(ds.normal_labels) if ds.normal_labels else None)
        x_train, c_train, x_test, c_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
        names, what = ds.class_names, ds.name
    else:
        x_train, c_train = _read_user_data(Path(d["path"]), d)
        if d["test_path"] is not None:
            x_test, c_test = _read_user_data(Path(d["test_path"]), d)
        else:
            x_test, c_test = x_train, c_train
        normal, names, what = d["normal"], (), d["path"]
    # 1 = anomaly / 0 = normal where known; classes with no normal class named: no metrics
    y_train, y_test = (is_anomaly(c, normal, strict=False) for c in (c_train, c_test))
    if d["train_on"] == "normal" and y_train is not None and recipe.detection is not None:
        keep = y_train == 0
        if not keep.any():
            raise RecipeError(f"data: no training sample of {what} is normal (normal = {normal})")
        x_train, c_train = x_train[keep], c_train[keep]
    rows = _subset(len(x_train), d["max_train"], seed)
    x_train, c_train = x_train[rows], None if c_train is None else c_train[rows]
    rows = _subset(len(x_test), d["max_test"], seed + 1)
    x_test, c_test = x_test[rows], None if c_test is None else c_test[rows]
    y_test = None if y_test is None else y_test[rows]
    return RunData(
        x_train,
        x_test,
        y_test,
        c_train,
        c_test,
        names,
        f"{what}: {len(x_train):,} training and {len(x_test):,} test samples",
    )


def _read_user_data(path: Path, d: dict):
    if path.is_dir():
        folder = datasets.read_image_folder(path, size=d["image_size"], color=d["color"])
        return folder.x, None
    if not path.exists():
        raise DataFileError(f"data.path: {path} does not exist")
    table = datasets.read_table(path, label_column=d["label_column"])
    if table.y is None:
        return table.x, None
    try:
        return table.x, class_labels(table.y)
    except InvalidInputError:
        raise RecipeError(
            f"data.label_column {d['label_column']!r} must hold integer classes or 1 / 0 labels"
        ) from None


def _build_model(recipe: Recipe, input_shape, seed):
    options = {k: v for k, v in recipe.model.items() if k != "name"}
    options.setdefault("input_shape", tuple(int(s) for s in input_shape))
    try:
        return create_model(recipe.model["name"], seed=seed, **options)
    except InvalidInputError as exc:
        raise RecipeError(f"[model] {recipe.model['name']}: {exc}") from None


def _build_transforms(recipe: Recipe):
    """The corruption and the threshold the recipe names, built (so checked) before any data loads."""
    try:
        corruption = corruption_from_dict(recipe.transforms["corruption"])
    except (InvalidInputError, TypeError) as exc:
        raise RecipeError(f"transforms.corruption: {exc}") from None
    threshold = None
    if recipe.detection is not None:
        try:
            threshold = threshold_from_dict(recipe.detection["threshold"])
        except (InvalidInputError, TypeError) as exc:
            raise RecipeError(f"detection.threshold: {exc}") from None
    return corruption, threshold


def run_recipe(recipe, out, *, overrides=None, data_dir=None, progress="auto") -> RunResult:
    """Run a recipe (a built-in name, a TOML file, a dict or a :class:`Recipe`) and write the
    run folder ``out``.

    Examples
    --------
    >>> import hourglass as hg, tempfile
    >>> result = hg.run_recipe("ecg-anomaly", tempfile.mkdtemp(), overrides={"training.epochs": 2}, progress=False)
    >>> sorted(p.name for p in result.out.iterdir())[:4]
    ['error_histogram.png', 'latent.png', 'loss.png', 'metrics.json']
    """
    started = time.perf_counter()
    recipe = load_recipe(recipe, overrides)  # every key checked before anything is loaded or trained
    corruption, threshold = _build_transforms(recipe)
    data = load_data(recipe, data_dir=data_dir, progress=progress)
    pipeline = _pipeline(recipe, corruption, threshold, progress)
    x_train_raw, x_val_raw = _hold_out_validation(recipe, data, pipeline)
    scaler = pipeline.fit_scaler(x_train_raw)

    def scaled(x):
        return x if scaler is None or x is None else scaler.transform(x)

    x_fit = scaled(x_train_raw)
    # [detection] ensemble = N: the model trained N times, each from its own seed (the first
    # is the recipe's own, so N = 1 is the single model), scored by their DetectorEnsemble
    seeds = member_seeds(recipe.training["seed"], recipe.detection["ensemble"] if recipe.detection is not None else 1)
    first = _build_model(recipe, x_fit.shape[1:], seeds[0])
    _check_detection(recipe, first)  # what needs the input's shape, refused before training
    models, histories = pipeline.train(
        lambda k, seed: first if k == 0 else _build_model(recipe, x_fit.shape[1:], seed),
        x_fit,
        seeds,
        per_model=lambda k: _own_checkpoints(recipe, k, len(seeds)),
        **_fit_inputs(
            recipe, data, first, scaled(data.x_test) if recipe.data["validation"] == "test" else scaled(x_val_raw)
        ),
    )
    if recipe.detection is not None:
        detector = pipeline.detector(models, scaler)
        metrics = _calibrate(recipe, detector, data, x_train_raw, x_val_raw)
    else:
        detector, metrics = None, _reconstruction_metrics(first, scaled(data.x_test), data)
    return _write_run(recipe, out, data, first, detector, histories, metrics, scaled, corruption, progress, started)


def _pipeline(recipe: Recipe, corruption, threshold, progress) -> Pipeline:
    """The recipe's stages as the library's pipeline: its training table, scaler and detection."""
    d = recipe.detection
    detection = (
        {} if d is None else {k: d[k] for k in ("score", "worst_fraction", "error_blur", "n_neighbors", "memory_size")}
    )
    return Pipeline(
        FitOptions(**recipe.training, progress=progress),
        scaler=recipe.transforms["scaler"],
        corruption=corruption,
        detection=detection,
        threshold=threshold,
        # a deterministic corruption (super-resolution's downsampling) is also the scoring input's
        transform_scoring=is_deterministic(corruption),
    )


def _hold_out_validation(recipe: Recipe, data: RunData, pipeline: Pipeline):
    """The training rows and the rows ``data.validation_split`` holds out (None without one),
    split before scaling so that the scaler sees the training rows only."""
    share = recipe.data["validation_split"]
    if share <= 0:
        return data.x_train, None
    n = len(data.x_train)
    rows = pipeline.split(
        n, validation=max(1, int(round(n * share))), held_out=0, rng=np.random.default_rng(recipe.training["seed"])
    )
    if data.classes_train is not None:
        data.classes_train = data.classes_train[rows.train]
    return data.x_train[rows.train], data.x_train[rows.val]


def _check_detection(recipe: Recipe, model) -> None:
    if recipe.detection is not None:
        try:
            check_error_blur(recipe.detection["error_blur"], recipe.detection["score"], model.input_shape)
        except InvalidInputError as exc:
            raise RecipeError(f"detection.{exc}") from None


def _own_checkpoints(recipe: Recipe, k: int, n_models: int) -> dict:
    """Model k's own checkpoint folder when the recipe trains several (each resumes its own)."""
    if n_models > 1 and recipe.training.get("checkpoint_dir"):
        return {"checkpoint_dir": str(Path(recipe.training["checkpoint_dir"]) / f"model-{k}")}
    return {}


def _fit_inputs(recipe: Recipe, data: RunData, model, validation) -> dict:
    """``hg.fit``'s validation rows, and the class labels a conditional model trains with."""
    labels = validation_labels = None
    if model.conditional:
        if data.classes_train is None:
            raise RecipeError(f"the conditional {model.name!r} model needs class labels; the data has none")
        labels = data.classes_train
        if validation is not None and recipe.data["validation"] == "test":
            validation_labels = data.classes_test
        elif validation is not None:
            raise RecipeError('a conditional model validates on the test data only (data.validation = "test")')
    return {"validation": validation, "labels": labels, "validation_labels": validation_labels}


def _calibrate(recipe: Recipe, detector, data: RunData, x_train_raw, x_val_raw) -> dict:
    """Fit the detector (its threshold on the held-out rows where the recipe asks) and its metrics."""
    calibration = None
    if recipe.detection["calibrate_on"] == "validation":
        if x_val_raw is None:
            raise RecipeError('detection.calibrate_on = "validation" needs data.validation_split > 0')
        calibration = x_val_raw  # held-out normal rows: what FixedFPR's guarantee needs
    detector.fit(x_train_raw, calibration=calibration)
    metrics = {}
    if data.y_test is not None and 0 < data.y_test.sum() < len(data.y_test):
        metrics = detector.evaluate(data.x_test, data.y_test)
    metrics["flagged"] = int(detector.predict(data.x_test).sum())
    metrics["threshold"] = float(detector.threshold_)
    return metrics


def _reconstruction_metrics(model, x_test, data: RunData) -> dict:
    recon = reconstruct(model, x_test, labels=data.classes_test if model.conditional else None)
    err = (recon - x_test).reshape(len(x_test), -1)
    return {"test_mse": float(np.mean(err**2)), "test_mae": float(np.mean(np.abs(err)))}


def _write_run(recipe, out, data, model, detector, histories, metrics, scaled, corruption, progress, started):
    """The run folder: the model (or detector), the report, metrics.json and recipe.json."""
    history = histories[0]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save(detector if detector is not None else model, out / "model", history=history)
    if recipe.report["enabled"]:
        report(
            detector if detector is not None else model,
            data.x_test if detector is not None else scaled(data.x_test),
            data.y_test if detector is not None else None,
            out=out,
            history=history,
            title=recipe.report["title"] or recipe.description or recipe.name,
            class_labels=data.classes_test,
            class_names=data.class_names or None,
            corruption=corruption,
            save_figures=recipe.report["figures"],
            progress=progress,
        )
    seconds = time.perf_counter() - started
    summary = {
        "recipe": recipe.name,
        "data": data.description,
        "model": model.name,
        "config": model.config.to_dict(),
        "metrics": metrics,
        "epochs": history.epochs,
        **({"ensemble_epochs": [h.epochs for h in histories]} if len(histories) > 1 else {}),
        "final_train_loss": history.train_loss[-1],
        "final_val_loss": history.val_loss[-1] if history.val_loss else None,
        "seconds": seconds,
        "seed": recipe.training["seed"],
    }
    write_json_atomic(out / "metrics.json", summary)
    write_json_atomic(out / "recipe.json", recipe.to_dict())
    return RunResult(
        recipe=recipe,
        model=model,
        detector=detector,
        history=history,
        metrics=metrics,
        out=out,
        seconds=seconds,
        data=data,
    )
