"""The ground floor, tested directly: atomic writes, the per-file time limit, the error classes."""
import os
import time

import pytest

from flashivy import ConfigError, InputError, UserError
from flashivy.core.atomic import atomic_path, write_text_atomic
from flashivy.core.errors import require, require_file
from flashivy.core.timeouts import check, remaining, time_limit


def test_an_atomic_write_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "sub" / "report.json"
    with atomic_path(final) as tmp:
        tmp.write_text("half")
        assert not final.exists() and tmp.parent == final.parent and tmp.suffix == ".json"
    assert final.read_text() == "half"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("broken")
        raise RuntimeError("killed mid-write")
    assert final.read_text() == "half"  # the old file stays, and no temporary is left beside it
    assert sorted(p.name for p in final.parent.iterdir()) == ["report.json"]


def test_an_atomic_write_has_the_usual_file_mode(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_the_time_limit_gives_up_only_past_its_seconds():
    with time_limit(0.2, "slow.mp4"):
        check()  # within the limit: nothing
        assert 0 < remaining() <= 0.2
        time.sleep(0.25)
        assert remaining() == 0
        with pytest.raises(InputError, match=r"slow.mp4: gave up after 0.2 s"):
            check()
    check()  # outside the block no limit applies
    assert remaining() is None
    with time_limit(None, "any"):
        time.sleep(0.01)
        check()


def test_limits_nest_and_restore():
    with time_limit(5, "outer"):
        with time_limit(0.01, "inner"):
            time.sleep(0.02)
            with pytest.raises(InputError, match="inner"):
                check()
        check()  # back under the outer limit, which has time left
        assert remaining() > 4


def test_errors_say_what_kind_of_problem(tmp_path):
    assert issubclass(InputError, UserError) and issubclass(ConfigError, UserError)
    with pytest.raises(InputError, match="no such file"):
        require_file(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="not a regular file"):
        require_file(tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        require_file(tmp_path / "recipe.json", ConfigError)
    with pytest.raises(ConfigError, match="not installed"):
        require("no_such_module_anywhere")


def test_bad_input_and_bad_configuration_raise_their_own_class(tmp_path):
    from flashivy import Detector
    from flashivy.media.images import load_image
    from flashivy.training.recipe import TrainConfig

    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(ConfigError, match="no such checkpoint"):
        Detector.from_checkpoint(tmp_path / "none.safetensors")
    (tmp_path / "r.json").write_text('{"epochs": 2, "colour": "red"}')
    with pytest.raises(ConfigError, match="unknown recipe keys"):
        TrainConfig.from_file(tmp_path / "r.json")
