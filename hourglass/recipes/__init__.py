"""Recipes: small TOML files naming one choice per stage, run end to end by :func:`run_recipe`
(``hourglass run RECIPE --out DIR``). The built-in ones live in ``recipes/builtin``."""

from hourglass.recipes.runner import RunResult, run_recipe
from hourglass.recipes.schema import Recipe, RecipeError, describe_recipes, list_recipes, load_recipe, parse_override

__all__ = [
    "Recipe",
    "RecipeError",
    "RunResult",
    "describe_recipes",
    "list_recipes",
    "load_recipe",
    "parse_override",
    "run_recipe",
]
