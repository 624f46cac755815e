"""run.json: the output size lives in the model alone; runs saved in the older layout still load."""

import pytest
from helpers import cropped_run

from dcgan.network import ModelConfig
from dcgan.settings import RunSettings


def test_the_spec_is_the_models_size_plus_the_crop():
    spec = cropped_run().spec
    assert (spec.output_height, spec.output_width, spec.c_dim) == (48, 32, 3)
    assert (spec.crop_height, spec.crop_width) == (96, 64)
    assert RunSettings.from_dict(cropped_run().to_dict()) == cropped_run()


def test_an_older_run_json_with_a_spec_block_loads_and_is_checked():
    old = cropped_run().to_dict()
    del old["crop_height"], old["crop_width"]
    old["spec"] = {"output_height": 48, "output_width": 32, "c_dim": 3, "crop_height": 96,
                   "crop_width": 64}
    assert RunSettings.from_dict(old) == cropped_run()
    old["spec"]["output_width"] = 48
    with pytest.raises(ValueError, match="disagrees"):
        RunSettings.from_dict(old)


def test_settings_are_built_by_keyword():
    with pytest.raises(TypeError):
        ModelConfig(48, 48)
    with pytest.raises(TypeError):
        RunSettings("anime", ModelConfig(output_height=8, output_width=8))


def test_settings_hold_resolved_training_choices_only():
    from dcgan import recipes

    network = ModelConfig(output_height=8, output_width=8)
    with pytest.raises(ValueError, match="unresolved"):
        RunSettings(dataset="anime", model=network)  # RunSettings.create resolves the recipe
    fast = RunSettings.create(dataset="anime", model=network, recipe=recipes.FAST,
                              learning_rate=1e-3)
    assert fast.choices == {**recipes.RECIPES[recipes.FAST], "learning_rate": 1e-3,
                            "d_learning_rate": 1e-3, "g_learning_rate": 1e-3}
    assert fast.replace(epoch=3).choices == fast.choices  # built once, never resolved again
