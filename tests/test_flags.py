"""Every recipe key is a flag, typed as the recipe says."""
import argparse

import pytest

from flashivy import ConfigError
from flashivy.app.cli.flags import add_recipe_flags, recipe_overrides
from flashivy.training.recipe import TrainConfig


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_recipe_flags(parser, TrainConfig, skip=("sources",), aliases={"time_limit_min": ["--time-limit"]})
    return recipe_overrides(parser.parse_args(list(argv)), TrainConfig)


def test_flags_of_every_type_reach_the_recipe():
    got = _parse("--epochs", "3", "--lr", "2e-4", "--no-pretrained", "--freeze", "blocks.0", "--freeze", "blocks.1",
                 "--group-fraction", "dfdc=0.6", "--group-fraction", "ffpp=1", "--time-limit", "30")
    assert got["epochs"] == 3 and got["lr"] == 2e-4 and got["pretrained"] is False
    assert got["freeze"] == ["blocks.0", "blocks.1"] and got["group_fraction"] == {"dfdc": 0.6, "ffpp": 1.0}
    assert got["time_limit_min"] == 30.0
    assert got["batch_size"] is None  # not given: the recipe file's value stands
    assert TrainConfig(**{k: v for k, v in got.items() if v is not None}).epochs == 3


def test_a_bad_flag_value_is_refused(capsys):
    with pytest.raises(SystemExit):
        _parse("--group-fraction", "dfdc=lots")
    assert "is not a float" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse("--epochs", "three")
    with pytest.raises(ConfigError, match="given twice"):
        _parse("--group-fraction", "dfdc=0.5", "--group-fraction", "dfdc=0.6")
