"""The generated head on several generators: leave-one-generator-out splits, per-generator reports, and what
the reading text says from them.

Real inputs: images of ../shared/data/diffusion_faces (Stable Diffusion 2.1 portraits, FLUX portraits of three
people and real photos of the same three), cut by the real face detector, and the shipped default's weights.
"""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_face_crops

from flashivy.core.errors import ConfigError
from flashivy.datasets.samples import Sample
from flashivy.inference.reading import cli_note
from flashivy.models.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_checkpoint,
    read_metadata,
)
from flashivy.models.kinds import GENERATED, MANIPULATED
from flashivy.training.recipe import KindConfig
from flashivy.training.train_kind import epoch_weights, kind_splits, train_kind

SD, FLUX = "stable-diffusion-2.1", "flux.1-dev+lora"


@pytest.fixture(scope="module")
def crops(diffusion_crops) -> Path:
    return diffusion_crops


def test_a_generator_left_out_is_never_trained_nor_validated_on_and_all_of_it_is_tested(crops):
    cfg = KindConfig(kind_sources={"diffusion": str(crops)}, unseen_methods=[FLUX])
    parts = kind_splits(cfg)
    flux = [s for part in parts.values() for s in part if s.method == FLUX]
    assert len(flux) >= 8, "the crop index names each fake's generator (metadata.csv)"
    assert all(s.method != FLUX for name in ("train", "val") for s in parts[name])
    assert sorted(s.path for s in flux) == sorted(s.path for s in parts["test"] if s.method == FLUX)
    assert any(s.method == SD for s in parts["train"]), "the other generator still trains"
    # three people: one on each side, their photos with them
    people = {name: {s.group for s in part if s.label == 0} for name, part in parts.items()}
    assert all(len(g) == 1 for g in people.values()) and len(set.union(*people.values())) == 3
    with pytest.raises(ConfigError, match="midjourney"):
        kind_splits(replace(cfg, unseen_methods=["midjourney"]))


def test_each_generator_weighs_the_same_in_an_epoch():
    def sample(i, label, method, source="diffusion"):
        return Sample(Path(f"{i}.jpg"), label, str(i), str(i), source, method)

    samples = ([sample(i, 1, SD) for i in range(30)] + [sample(100 + i, 1, FLUX) for i in range(10)]
               + [sample(200 + i, 0, "") for i in range(20)] + [sample(300 + i, 0, "", "ffpp") for i in range(5)])
    w = epoch_weights(samples, {"diffusion"}, kind_share=0.5)
    share = {m: w[[i for i, s in enumerate(samples) if (s.method, s.source) == m]].sum()
             for m in ((SD, "diffusion"), (FLUX, "diffusion"), ("", "diffusion"), ("", "ffpp"))}
    assert share[(SD, "diffusion")] == pytest.approx(share[(FLUX, "diffusion")])
    assert share[("", "diffusion")] == pytest.approx(2 * share[(SD, "diffusion")])  # reals: one cell of the two
    assert share[("", "ffpp")] == pytest.approx(0.5) and w.sum() == pytest.approx(1.0)


def test_a_head_trained_without_flux_reports_it_unseen_and_the_shipped_head_is_replaced(crops, tmp_path):
    """A tiny run on the shipped default itself: its generated head is replaced, its face-swap head kept bit for
    bit; the run's unseen figure then goes into a second run's record and its reading text."""
    others = tmp_path / "others"
    write_face_crops(others, n_videos=4, per_video=2)
    cfg = KindConfig(base=str(DEFAULT_CHECKPOINT), kind_sources={"diffusion": str(crops)},
                     other_sources={"video": str(others)}, unseen_methods=[FLUX], branch_at=6,
                     out=str(tmp_path / "without_flux"), epochs=1, samples_per_epoch=16, batch_size=8, workers=0)
    report = train_kind(cfg)
    assert report["generators"][FLUX]["unseen"] and not report["generators"][SD]["unseen"]
    flux = report["generators"][FLUX]
    assert flux["n_fake"] == 9 and flux["n_real"] >= 1 and 0 <= flux["auc"] <= 1
    assert set(flux["conditions"]) == {"jpeg70", "half_scale", "blur1"}
    model, meta = load_checkpoint(tmp_path / "without_flux" / "best.safetensors")
    shipped, _ = load_checkpoint()
    assert [h["kind"] for h in meta["heads"]] == [MANIPULATED, GENERATED], "replaced, not added"
    assert meta["heads"][0] == read_metadata(DEFAULT_CHECKPOINT)["heads"][0]
    ours, theirs = model.base.state_dict(), shipped.base.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs), "the face-swap model is untouched"
    rows = [r for r in meta["tested_on"] if r.get("kind") == GENERATED and r["n_fake"]]
    assert {r["method"]: r["unseen"] for r in rows} == {SD: False, FLUX: True}
    photos = next(r for r in meta["tested_on"] if r.get("kind") == GENERATED and not r["n_fake"])
    assert (photos["source"], photos["n_real"]) == ("diffusion", flux["n_real"]), "one row per source of photos"
    assert f"politicians' press photos and interview frames ({photos['false_positive_rate']:.0%} of " \
           f"{photos['n_real']:,} called generated)" in cli_note(meta)
    assert "FLUX.1-dev portraits, a generator it never trained on, against real photos" in cli_note(meta)
    caught = next(r for r in rows if r["method"] == FLUX)["detected"]
    assert caught == pytest.approx(1 - flux["false_negative_rate"])
    assert f"{flux['n_fake']:,} generated, {caught:.0%} of them called generated)" in cli_note(meta)
    splits = json.loads((tmp_path / "without_flux" / "splits.json").read_text())
    listed = [g for part in splits.values() for g in part]
    assert len(listed) == len(set(listed)), "a person whose photos trained is not listed as held out too"

    final = train_kind(replace(cfg, unseen_methods=[], out=str(tmp_path / "all"), max_photos_called=0.01,
                               leave_one_out=[str(tmp_path / "without_flux" / "report.json")]))
    assert not any(r["unseen"] for r in final["generators"].values())
    calibration = final["calibration"]  # the operating point: no validation photo may pass 0.5 at a 1 % cap
    assert calibration["val_photos_called"] == 0 and calibration["bias"] <= calibration["bias_fitted"]
    meta = read_metadata(tmp_path / "all" / "best.safetensors")
    assert meta["kind_training"][GENERATED]["leave_one_out"][FLUX]["auc"] == pytest.approx(flux["auc"])
    assert f"scored AUC FLUX.1-dev portraits {flux['auc']:.2f} on the one left out" in cli_note(meta)
    # a report with nothing left out is not a leave-one-out figure
    with pytest.raises(ConfigError, match="left out"):
        train_kind(replace(cfg, unseen_methods=[], out=str(tmp_path / "wrong"),
                           leave_one_out=[str(tmp_path / "all" / "report.json")]))
    assert json.loads((tmp_path / "all" / "report.json").read_text())["generators"].keys() == {SD, FLUX}
    assert np.isfinite(meta["heads"][1]["temperature"])
