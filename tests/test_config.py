import pytest

from openjepa.core.config import parse_overrides
from openjepa.core.errors import ConfigError
from openjepa.methods.ijepa import IJepaConfig
from openjepa.methods.lejepa import LeJepaConfig
from openjepa.runs.config import build_config, list_recipes, recipe_dict


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lrr'.*did you mean 'optim\.lr'"):
        build_config(recipe_dict("ijepa_tiny"), ["optim.lrr=1e-3"])


def test_unknown_nested_key_and_section():
    with pytest.raises(ConfigError, match=r"'method\.mask\.num_target'.*'method\.mask\.num_targets'"):
        build_config(recipe_dict("ijepa_tiny"), ["method.mask.num_target=3"])
    with pytest.raises(ConfigError, match="did you mean 'optim'"):
        build_config({"optimm": {"lr": 1.0}})


def test_overrides_are_coerced_to_the_field_types():
    cfg = build_config(recipe_dict("ijepa_tiny"), ["optim.lr=5e-4", "train.steps=7", "method.mask.target_scale=[0.1,0.3]",
                                                    "train.minutes=null", "method.target.detach=false"])
    assert cfg.optim.lr == 5e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.train.steps == 7 and cfg.train.minutes is None
    assert cfg.method.mask.target_scale == (0.1, 0.3)
    assert cfg.method.target.detach is False


def test_bad_values_are_errors_that_name_the_key():
    with pytest.raises(ConfigError, match=r"config\.train\.steps: expected an integer"):
        build_config(recipe_dict("ijepa_tiny"), ["train.steps=lots"])
    with pytest.raises(ConfigError, match=r"train.precision: expected one of"):
        build_config(recipe_dict("ijepa_tiny"), ["train.precision=fp8"])
    with pytest.raises(ConfigError, match="0 < low <= high"):
        build_config(recipe_dict("ijepa_tiny"), ["method.mask.target_scale=[0.3,0.1]"])
    with pytest.raises(ConfigError, match="not of the form"):
        parse_overrides(["optim.lr"])


def test_method_is_a_tagged_union():
    cfg = build_config(recipe_dict("ijepa_tiny"), ["method.name=lejepa"])
    assert isinstance(cfg.method, LeJepaConfig)
    with pytest.raises(ConfigError, match="did you mean 'ijepa'"):
        build_config({"method": {"name": "ijepaa"}})
    assert isinstance(build_config({"method": {"name": "ijepa"}, "data": {"modality": "image"}}).method, IJepaConfig)
    with pytest.raises(ConfigError, match="a recipe needs a 'method' section"):
        build_config({"data": {"modality": "image"}})


def test_data_is_chosen_by_modality_and_eval_follows_it():
    cfg = build_config(recipe_dict("vjepa_tiny"))
    assert type(cfg.data).__name__ == "VideoDataConfig" and type(cfg.eval).__name__ == "VideoEvalConfig"
    with pytest.raises(ConfigError, match=r"unknown config key 'eval\.tokens'"):
        build_config(recipe_dict("ijepa_tiny"), ["eval.tokens=step"])  # a video setting on an image run
    with pytest.raises(ConfigError, match="did you mean 'video'"):
        build_config(recipe_dict("vjepa_tiny"), ["data.modality=vidoe"])


def test_unknown_recipe_suggests_one():
    with pytest.raises(ConfigError, match="did you mean 'ijepa_tiny'"):
        recipe_dict("ijepa_tinyy")


def test_every_shipped_recipe_builds():
    recipes = {r.name: r for r in list_recipes()}
    for name in ("ijepa_tiny", "lejepa_tiny", "ijepa_sigreg_tiny"):
        assert name in recipes and recipes[name].description and recipes[name].modality == "image"
    for name in recipes:
        build_config(recipe_dict(name))
