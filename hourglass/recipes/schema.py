"""What a recipe may say: one choice per stage, every key and type checked before anything runs.

A recipe is a small TOML file::

    description = "The ECG5000 anomaly detector of the Keras tutorial"

    [data]            # where the samples come from, and which are normal
    dataset = "ecg5000"
    split = "tutorial"

    [transforms]      # scaling, and the training corruption (denoising, super-resolution)
    scaler = "none"

    [model]           # a registered model and its options
    name = "stacked"
    hidden = [32, 16]
    latent_dim = 8

    [training]        # hg.fit's arguments
    epochs = 20
    batch_size = 512
    loss = "mae"

    [detection]       # optional: score, threshold (and ensemble: models trained, one per seed)
    score = "mae"
    threshold = { type = "MeanStd", k = 1.0 }

    [report]
    title = "ECG5000 anomaly detection"

An unknown key or a value of the wrong type is a :class:`RecipeError` naming the key
(``training.epochs must be an integer, got 'ten'``), raised when the recipe is loaded.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hourglass.detection.neighbors import check_neighbors
from hourglass.detection.scores import SCORES, check_error_blur, check_worst_fraction
from hourglass.detection.thresholds import THRESHOLDS, threshold_parameters
from hourglass.errors import HourglassError
from hourglass.models.registry import list_models, model_class
from hourglass.prepare import scaler_names
from hourglass.training.options import FitOptions
from hourglass.transforms.corruptions import CORRUPTIONS, corruption_parameters


class RecipeError(HourglassError, ValueError):
    """A recipe names an unknown key, holds a value of the wrong type, or cannot be read."""


# Each stage's keys: key -> (kind, default). Kinds: "int", "float", "str", "bool", "ints",
# "floats", "table" (an inline table checked by its own stage), or a tuple of allowed strings.
DATA = {
    "dataset": ("str", None),  # a name from hg.datasets.list_datasets()
    "path": ("str", None),  # or a user's CSV / .npy / .npz file or image folder
    "test_path": ("str", None),  # a second file / folder to test on (default: score `path` itself)
    "label_column": ("str", None),  # CSV column with labels (1 = anomaly / 0 = normal, or classes)
    "split": ("str", None),  # ECG5000: "tutorial" (80 / 20) or "ucr"
    "normal": ("ints", None),  # classes that are normal: train on them, the rest are anomalies
    "train_on": (("normal", "all"), "normal"),  # a detector trains on the normal samples only (when known)
    "max_train": ("int", 0),  # 0 = all training samples; else a random subset of this size
    "max_test": ("int", 0),
    "validation": (("none", "test"), "none"),  # report the loss on the test data each epoch
    "validation_split": ("float", 0.0),  # or hold out this fraction of the training samples
    "image_size": ("ints", None),  # image folders: resize to [height, width]
    "color": (("grayscale", "rgb"), "grayscale"),
}
TRANSFORMS = {
    "scaler": (tuple(scaler_names()), "none"),  # the scaler registry's names
    "corruption": ("table", None),  # { type = "GaussianNoise", std = 0.2, clip = [0.0, 1.0] }
}
TRAINING = FitOptions.recipe_schema()  # hg.fit's options, as FitOptions declares them
DETECTION = {
    "score": (SCORES, "mae"),
    "threshold": ("table", {"type": "MeanStd", "k": 1.0}),  # { type = "Percentile", q = 95 } ...
    "calibrate_on": (("train", "validation"), "train"),
    "worst_fraction": ("float", None),  # score by the worst fraction of each sample's elements
    "error_blur": ("float", None),  # smooth the signed error by a Gaussian of this std (pixels) first
    "n_neighbors": ("int", 5),  # feature-knn / code-knn: neighbours a sample's distance averages
    "memory_size": ("int", 10000),  # feature-knn / code-knn: most training rows kept as neighbours
    "ensemble": ("int", 1),  # train the model this many times, each with its own seed; average
}
REPORT = {
    "title": ("str", None),
    "enabled": ("bool", True),
    "figures": ("bool", True),  # also write each figure as a PNG beside report.html
}
STAGES = {"data": DATA, "transforms": TRANSFORMS, "training": TRAINING, "detection": DETECTION, "report": REPORT}
TOP_LEVEL = {"description": ("str", ""), "name": ("str", None)}


@dataclass
class Recipe:
    """A checked recipe: each stage is a plain dict with every key filled in (defaults added)."""

    name: str
    description: str
    data: dict
    transforms: dict
    model: dict
    training: dict
    detection: dict | None
    report: dict
    source: str = ""
    overrides: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def builtin_dir():
    return resources.files("hourglass.recipes") / "builtin"


def list_recipes() -> list[str]:
    """Names of the built-in recipes (``hourglass list recipes``)."""
    return sorted(p.name[:-5] for p in builtin_dir().iterdir() if p.name.endswith(".toml"))


def describe_recipes() -> dict[str, str]:
    """Built-in recipe name -> its description."""
    return {name: load_recipe(name).description for name in list_recipes()}


def load_recipe(recipe, overrides=None) -> Recipe:
    """A built-in recipe's name, a TOML file, or a dict -> a checked :class:`Recipe`.

    ``overrides`` maps dotted keys to values (``{"training.epochs": 2}``), applied before checking;
    from the command line: ``--set training.epochs=2``.
    """
    if isinstance(recipe, Recipe):
        raw, name, source = recipe.to_dict(), recipe.name, recipe.source
        for key in ("name", "source", "overrides"):
            raw.pop(key)
        if raw.get("detection") is None:
            raw.pop("detection")
    elif isinstance(recipe, dict):
        raw, name, source = copy.deepcopy(recipe), recipe.get("name") or "recipe", "<dict>"
    else:
        raw, name, source = _read(recipe)
    overrides = dict(overrides or {})
    for key, value in overrides.items():
        _set(raw, key, value)
    return _check(raw, name, source, overrides)


def _read(recipe) -> tuple[dict, str, str]:
    text = str(recipe)
    builtin = builtin_dir() / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith(".toml") and builtin.is_file():
        path, name = builtin, text
    else:
        path = Path(text)
        if not path.is_file():
            raise RecipeError(
                f"no recipe {text!r}: not a built-in recipe ({', '.join(list_recipes())}) and no such TOML file"
            )
        name = path.stem
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe {text}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"recipe {text}: cannot be read: {exc}") from None
    return raw, raw.get("name") or name, str(path)


def parse_override(item: str) -> tuple[str, object]:
    """``"training.epochs=2"`` -> ``("training.epochs", 2)``: the value is read as TOML (so
    ``[32, 16]``, ``true`` and ``1e-3`` work), or taken as a plain string when it is not TOML."""
    if "=" not in item:
        raise RecipeError(f"--set takes KEY=VALUE (e.g. training.epochs=2), got {item!r}")
    key, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key.strip(), value


def _set(raw: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    if len(parts) != 2 and parts[0] not in TOP_LEVEL:
        raise RecipeError(f"override {dotted!r}: name a stage and a key, such as training.epochs")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"override {dotted!r}: {part} is not a table")
    node[parts[-1]] = value


def _unknown(key: str, where: str, valid) -> RecipeError:
    close = difflib.get_close_matches(key.split(".")[-1], list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return RecipeError(f"unknown key {key!r} in {where}{hint} (valid keys: {', '.join(sorted(valid))})")


# kinds checked by one isinstance: kind -> (Python type, what the error says it must be)
PLAIN_KINDS = {
    "str": (str, "a string"),
    "bool": (bool, "true or false"),
    "table": (dict, 'a table such as { type = "...", ... }'),
}


def _check_value(key: str, value, kind):
    def bad(what):
        return RecipeError(f"{key} must be {what}, got {value!r} ({type(value).__name__})")

    if value is None:
        return None
    if isinstance(kind, tuple):
        if value not in kind:
            raise RecipeError(f"{key} must be one of {list(kind)}, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if kind in PLAIN_KINDS:
        python_type, what = PLAIN_KINDS[kind]
        if not isinstance(value, python_type):
            raise bad(what)
        return value
    if kind in ("ints", "floats"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
            raise bad("a list of integers" if kind == "ints" else "a list of numbers")
        if kind == "ints" and any(not isinstance(v, int) for v in value):
            raise bad("a list of integers")
        return value
    raise AssertionError(kind)


def _check_stage(stage: str, given, schema: dict) -> dict:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise RecipeError(f"[{stage}] must be a table, got {given!r}")
    for key in given:
        if key not in schema:
            raise _unknown(f"{stage}.{key}", f"[{stage}]", schema)
    return {
        key: _check_value(f"{stage}.{key}", given.get(key, default), kind) if key in given else copy.deepcopy(default)
        for key, (kind, default) in schema.items()
    }


def _check_typed_table(key: str, table: dict, registry, params) -> None:
    """An inline table ``{ type = "...", ... }``: a known type and only its own parameters."""
    kind = table.get("type")
    if kind not in registry:
        raise RecipeError(f"{key}.type must be one of {registry.names()}, got {kind!r}")
    allowed = params(kind)
    for name in table:
        if name != "type" and name not in allowed:
            raise _unknown(f"{key}.{name}", f"{key} ({kind})", ["type", *allowed])


def _check(raw: dict, name: str, source: str, overrides: dict) -> Recipe:
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {name}: expected a table of stages")
    valid_top = set(STAGES) | {"model"} | set(TOP_LEVEL)
    for key in raw:
        if key not in valid_top:
            raise _unknown(key, f"recipe {name}", valid_top)
    top = {k: _check_value(k, raw.get(k, d), kind) for k, (kind, d) in TOP_LEVEL.items()}
    stages = {stage: _check_stage(stage, raw.get(stage), schema) for stage, schema in STAGES.items()}

    data = stages["data"]
    if (data["dataset"] is None) == (data["path"] is None):
        raise RecipeError("[data] needs exactly one of dataset (a built-in data set) or path (your own file)")
    if not 0 <= data["validation_split"] < 1:
        raise RecipeError(f"data.validation_split must lie in [0, 1), got {data['validation_split']}")
    for key in ("max_train", "max_test"):
        if data[key] < 0:
            raise RecipeError(f"data.{key} must be >= 0 (0 = all), got {data[key]}")
    if data["image_size"] is not None and len(data["image_size"]) != 2:
        raise RecipeError(f"data.image_size must be [height, width], got {data['image_size']}")
    corruption = stages["transforms"]["corruption"]
    if corruption is not None:
        _check_typed_table("transforms.corruption", corruption, CORRUPTIONS, corruption_parameters)
    training = stages["training"]
    try:  # every training value checked as hg.fit will check it
        FitOptions(**training)
    except HourglassError as exc:
        raise RecipeError(f"[training] {exc}") from None

    model = raw.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise RecipeError(f"[model] needs name = one of {list_models()}")
    if model["name"] not in list_models():
        raise RecipeError(f"model.name must be one of {list_models()}, got {model['name']!r}")
    fields = {f.name for f in dataclasses.fields(model_class(model["name"]).config_class)}
    for key in model:
        if key != "name" and key not in fields:
            raise _unknown(f"model.{key}", f"the {model['name']!r} model's options", fields | {"name"})

    detection = None
    if "detection" in raw:
        if model_class(model["name"]).conditional:
            raise RecipeError(
                f"[detection]: the conditional {model['name']!r} model needs a class for every sample "
                "it scores; detect with vae or conv-vae, or leave [detection] out"
            )
        detection = stages["detection"]
        _check_typed_table("detection.threshold", detection["threshold"], THRESHOLDS, threshold_parameters)
        try:
            check_worst_fraction(detection["worst_fraction"], detection["score"])
            check_error_blur(detection["error_blur"], detection["score"], None)
        except HourglassError as exc:
            raise RecipeError(f"detection.{exc}") from None
        if detection["ensemble"] < 1:
            raise RecipeError(f"detection.ensemble must be >= 1 (models trained), got {detection['ensemble']}")
        try:
            check_neighbors(detection["n_neighbors"], detection["memory_size"])
        except HourglassError as exc:
            raise RecipeError(f"detection.{exc}") from None
    return Recipe(
        name=top["name"] or name,
        description=top["description"],
        data=data,
        transforms=stages["transforms"],
        model=copy.deepcopy(model),
        training=training,
        detection=detection,
        report=stages["report"],
        source=source,
        overrides=overrides,
    )
