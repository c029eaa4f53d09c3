from __future__ import annotations

from pathlib import Path

import pytest

from sana_streaming.cli import main
from sana_streaming.train.recipe import load_recipe

RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.toml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.run.stage in ("vae", "bidirectional", "streaming")
    assert recipe.run.out_dir.startswith("runs/")


def test_overrides_use_toml_values_and_bare_strings():
    recipe = load_recipe(RECIPES[0], ["run.steps=7", "optim.betas=[0.5, 0.9]", "run.name=my-run"])
    assert recipe.run.steps == 7 and recipe.optim.betas == (0.5, 0.9) and recipe.run.name == "my-run"
    recipe = load_recipe(RECIPES[0], ["optim.train_only=['final_layer', 'x_embedder']"])
    assert recipe.optim.train_only == ("final_layer", "x_embedder")
    assert load_recipe(RECIPES[0], ["dmd.regression_units=raw"]).dmd.regression_units == "raw"


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("[run]\nstage = 'vae'\nsteps = 'many'\n[optim]\nlrr = 1\n", [], r"\[optim\]: unknown keys lrr"),
        ("[run]\nsteps = 1\n", [], r"\[run\] stage is required"),
        ("[run]\nstage = 'vae'\n[extra]\n", [], "unknown sections extra"),
        ("[run]\nstage = 'painting'\n", [], "stage must be vae, bidirectional or streaming"),
        ("[run]\nstage = 'vae'\n", ["steps=3"], "expected SECTION.KEY=VALUE"),
        ("[run\n", [], "not valid TOML"),
        ("[run]\nstage = 'bidirectional'\n", ["run.parallel=zero"], "parallel must be ddp or fsdp"),
        ("[run]\nstage = 'vae'\n", ["run.parallel=fsdp"], "fsdp is for the DiT stages"),
        ("[run]\nstage = 'streaming'\n", ["dmd.weight=0"], r"weight, regression and pixels must be >= 0 and not all 0"),
        ("[run]\nstage = 'streaming'\n", ["dmd.regression=-1"], r"weight, regression and pixels must be >= 0"),
        ("[run]\nstage = 'streaming'\n", ["dmd.pixels=-1"], r"weight, regression and pixels must be >= 0"),
        ("[run]\nstage = 'streaming'\n", ["dmd.weight=0", "dmd.regression=1"], r"weight = 0 .* needs \[model\] init"),
        ("[run]\nstage = 'streaming'\n", ["dmd.weight=0", "dmd.pixels=1"], r"weight = 0 .* needs \[model\] init"),
        ("[run]\nstage = 'streaming'\n", ["data.val_manifest=v.jsonl"], r"val_manifest is for .* on pairs"),
        ("[run]\nstage = 'vae'\n", ["data.val_manifest=v.jsonl"], r"val_manifest is for .* on pairs"),
        ("[run]\nstage = 'vae'\n", ["run.val_every=0"], r"val_every and \[data\] val_samples must be at least 1"),
        ("[run]\nstage = 'vae'\n", ["optim.train_only=['decoder']"], r"train_only is for the DiT stages"),
        ("[run]\nstage = 'streaming'\n", ["dmd.regression_units=pixels"], r"regression_units must be normalized or"),
        ("[run]\nstage = 'streaming'\n", ["dmd.warped_temporal=-1"], r"warped_temporal must be >= 0, got -1"),
        ("[run]\nstage = 'streaming'\n", ["dmd.weight=0", "dmd.warped_temporal=1"], r"not all 0"),
    ],
)
def test_bad_recipes_are_one_line_errors(tmp_path, text, overrides, message):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_recipe(path, overrides)


def test_cli_reports_a_missing_recipe(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: recipe not found: {tmp_path / 'nope.toml'}"


def test_the_pixel_term_alone_is_a_streaming_recipe(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[run]\nstage = 'streaming'\n")
    overrides = ["dmd.weight=0", "dmd.pixels=0.5", "model.init=runs/student", "data.val_manifest=v.jsonl"]
    recipe = load_recipe(path, overrides)
    assert recipe.dmd.pixels == 0.5 and recipe.dmd.regression == 0 and recipe.data.val_manifest == "v.jsonl"


def test_the_warped_temporal_term_makes_a_recipe_paired(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[run]\nstage = 'streaming'\n")
    recipe = load_recipe(path, ["dmd.warped_temporal=0.5"])
    assert recipe.dmd.paired and recipe.dmd.warped_temporal == 0.5 and recipe.dmd.pixels == 0
    assert not load_recipe(path, []).dmd.paired
