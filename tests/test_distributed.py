"""torchrun with 2 CPU processes (gloo): data-parallel training and sharded batch scoring, each checked
against the same job in one process."""
import json
import os
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, write_face_crops


def _run(args, cwd=ROOT, launcher=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, *launcher, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same recipe trained by one process and by two."""
    tmp = tmp_path_factory.mktemp("ddp")
    write_face_crops(tmp / "faces", n_videos=6, per_video=4)
    recipe = {"model": "baseline", "pretrained": False, "sources": {"gen": str(tmp / "faces")}, "epochs": 2,
              "samples_per_epoch": 64, "batch_size": 16, "workers": 0, "threads": 1, "device": "cpu",
              "val_fraction": 0.34, "test_fraction": 0.34, "record_seen": True}
    (tmp / "recipe.json").write_text(json.dumps(recipe))
    _run(["train.py", "--config", tmp / "recipe.json", "--out", tmp / "one"])
    two = _run(["train.py", "--config", tmp / "recipe.json", "--out", tmp / "two"], launcher=TORCHRUN)
    return tmp, two


def test_two_processes_train_on_disjoint_halves_of_the_same_draw(runs):
    tmp, _ = runs
    one = json.loads((tmp / "one" / "seen.json").read_text())
    two = json.loads((tmp / "two" / "seen.json").read_text())
    assert one["processes"] == 1 and two["processes"] == 2
    for epoch, (single,) in one["epochs"].items():
        rank0, rank1 = two["epochs"][epoch]
        assert len(rank0) == len(rank1) == len(single) // 2 == 32
        # Each draw position goes to exactly one rank: together they are the single process's draw.
        assert Counter(rank0) + Counter(rank1) == Counter(single)
        assert rank0 != rank1


def test_two_processes_end_where_one_process_ends(runs):
    tmp, two = runs
    for run in ("one", "two"):
        for name in ("best.safetensors", "last.pt", "log.csv", "report.json", "curves.png"):
            assert (tmp / run / name).exists(), (run, name)
    a = torch.load(tmp / "one" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp / "two" / "last.pt", weights_only=True)["model"]
    diffs = [float((a[k].float() - b[k].float()).norm() / (a[k].float().norm() + 1e-8))
             for k in a if a[k].is_floating_point() and "running" not in k]
    # Same effective batch, same samples, same augmentation: only per-rank BatchNorm statistics and
    # dropout masks differ, so the weights stay close (an unsynchronised run drifts far more).
    print(f"relative weight difference, 1 vs 2 processes: median {np.median(diffs):.4f}, max {max(diffs):.4f}")
    assert np.median(diffs) < 0.05, sorted(diffs)[-5:]
    rows = (tmp / "two" / "log.csv").read_text().splitlines()
    assert len(rows) == 3 and "processes" in rows[0] and rows[1].split(",")[-1] == "2"
    # Logs from rank 0 only: one JSON row per epoch on stderr, not two.
    assert sum('"epoch": ' in line for line in two.stderr.splitlines()) == 2


def test_sharded_batch_scoring_equals_one_process(tmp_path, face_video, astronaut):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, size in enumerate((512, 400, 300, 256, 224)):
        cv2.imwrite(str(folder / f"image {i}.jpg"), cv2.resize(astronaut, (size, size))[..., ::-1])
    cv2.imwrite(str(folder / "face crop.png"), cv2.resize(astronaut[20:220, 150:330], (224, 224))[..., ::-1])
    (folder / "clip.mp4").write_bytes(face_video.read_bytes())
    (folder / "junk.jpg").write_text("not an image")
    _run(["predict.py", "--input", folder, "--json", tmp_path / "one.jsonl"])
    two = _run(["predict.py", "--input", folder, "--json", tmp_path / "two.jsonl"], launcher=TORCHRUN)
    one_lines = (tmp_path / "one.jsonl").read_text().splitlines()
    two_lines = (tmp_path / "two.jsonl").read_text().splitlines()
    assert len(one_lines) == 8
    assert two_lines == one_lines  # same records, same (input) order
    assert not list(tmp_path.glob("*.part"))
    assert two.stderr.count("skipped as done") == 1  # one summary, from rank 0
    # Resumable: a second sharded run finds everything done and adds nothing.
    _run(["predict.py", "--input", folder, "--json", tmp_path / "two.jsonl"], launcher=TORCHRUN)
    assert (tmp_path / "two.jsonl").read_text().splitlines() == one_lines


def test_interrupted_sharded_run_is_merged_on_rerun(tmp_path, astronaut):
    """Parts left by a killed run (any world size) count as done and are merged in input order."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.resize(astronaut, (300 + 20 * i, 300 + 20 * i))[..., ::-1])
    _run(["predict.py", "--input", folder, "--json", tmp_path / "ref.jsonl"])
    ref = (tmp_path / "ref.jsonl").read_text().splitlines()
    # As if 3 ranks were killed after writing one record each (and one torn line).
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.rank1.part").write_text(ref[1] + "\n" + ref[2][:25])
    (tmp_path / "out.jsonl.rank2.part").write_text(ref[3] + "\n")
    _run(["predict.py", "--input", folder, "--json", out])
    assert out.read_text().splitlines() == ref
    assert not list(tmp_path.glob("*.part"))


def test_a_two_process_run_resumes_in_one_process(runs):
    """last.pt holds no world size: a run trained by 2 processes goes on in 1."""
    import shutil

    tmp, _ = runs
    run = tmp / "resumed"
    shutil.copytree(tmp / "two", run)
    recipe = json.loads((tmp / "recipe.json").read_text()) | {"epochs": 3}
    (tmp / "recipe3.json").write_text(json.dumps(recipe))
    proc = _run(["train.py", "--config", tmp / "recipe3.json", "--out", run])
    assert f"resumed from {run / 'last.pt'} at epoch 2" in proc.stderr
    rows = (run / "log.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[2].split(",")[-1] == "2" and rows[3].split(",")[-1] == "1"
