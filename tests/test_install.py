"""The light install: the wheel, installed with its core dependencies only into a fresh venv, scores images
and videos from outside the checkout, with the shipped model inside it and no torch anywhere."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, astronaut_frames, write_video

CORE_VENV_LIMIT_MB = 650  # measured 637 MB with c2pa-python (docs/install.md); torch alone would add gigabytes


def _run(args, cwd, timeout=600, check=True):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pip"))
    env["XDG_CACHE_HOME"] = str(Path(cwd) / ".cache")  # flashivy finds no export cached by other runs
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode:
        raise AssertionError(f"{args} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    if not (ROOT / "flashivy" / "weights" / "flashivy_default.onnx").is_file():
        pytest.fail("no ONNX export beside the default checkpoint: run `make install` (it exports)")
    build = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", build, ROOT],
         cwd=build)
    wheel = next(build.glob("flashivy-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"flashivy/weights/flashivy_default.safetensors", "flashivy/weights/flashivy_default.onnx",
            "flashivy/weights/face_detection_full_range_sparse.tflite", "flashivy/assets/astronaut.jpg"} <= names
    venv = tmp_path_factory.mktemp("core") / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=build)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=build, timeout=900)
    return venv


def test_core_install_has_no_torch_and_stays_small(core_venv):
    probe = _run([core_venv / "bin" / "python", "-c", "import torch"], cwd=core_venv, check=False)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    size_mb = sum(f.stat().st_size for f in core_venv.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    print(f"core venv: {size_mb:.0f} MB")
    assert size_mb < CORE_VENV_LIMIT_MB


def test_core_install_predicts_an_image_and_a_video_outside_the_checkout(core_venv, tmp_path, astronaut):
    import cv2

    cv2.imwrite(str(tmp_path / "face.jpg"), astronaut[..., ::-1])
    write_video(tmp_path / "pan.mp4", astronaut_frames(24))
    flashivy = core_venv / "bin" / "flashivy"
    image = _run([flashivy, "predict", "--image", "face.jpg"], cwd=tmp_path)
    lines = image.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == "Prediction : REAL" and lines[1].startswith("Confidence : 0.")
    assert len(lines[1].split(": ")[1]) == 6  # v1's four decimals
    video = _run([flashivy, "predict", "--video", "pan.mp4"], cwd=tmp_path)
    assert video.stdout.splitlines()[0] == "Prediction : REAL"  # a pan across a real photo
    batch = _run([flashivy, "predict", "--input", "face.jpg", "pan.mp4", "--json", "out.jsonl"], cwd=tmp_path)
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["type"] for r in records] == ["image", "video"]
    assert all(r["faces"] >= 1 and set(r["scores"]) == {"manipulated", "generated"} for r in records)
    assert "Traceback" not in image.stderr + video.stderr + batch.stderr


def test_core_install_reads_provenance(core_venv, tmp_path, astronaut):
    """C2PA (with its signature checked) and a generator UI's PNG chunk, read by the installed wheel alone."""
    from PIL import Image, PngImagePlugin
    from test_provenance import _sign

    Image.fromarray(astronaut).save(tmp_path / "face.jpg", quality=95)
    _sign(tmp_path / "face.jpg", tmp_path / "signed.jpg")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a portrait\nSteps: 20, Sampler: Euler, Model: sd21")
    Image.fromarray(astronaut).save(tmp_path / "ui.png", pnginfo=info)
    flashivy = core_venv / "bin" / "flashivy"
    single = _run([flashivy, "predict", "--image", "signed.jpg"], cwd=tmp_path)
    assert "provenance: C2PA manifest: made by a generative AI model" in single.stderr
    _run([flashivy, "predict", "--input", "signed.jpg", "ui.png", "face.jpg", "--json", "out.jsonl"], cwd=tmp_path)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    records = {Path(r["path"]).name: r["provenance"] for r in map(json.loads, lines)}
    assert records["signed.jpg"]["statements"][0]["signature"].startswith("valid")
    assert records["ui.png"]["statements"][0]["detail"]["model"] == "sd21"
    assert records["face.jpg"]["statements"] == [] and records["face.jpg"]["notes"] == []


def test_core_install_names_the_extra_a_command_needs(core_venv, tmp_path, astronaut):
    import shutil

    import cv2

    flashivy = core_venv / "bin" / "flashivy"
    cv2.imwrite(str(tmp_path / "face.jpg"), astronaut[..., ::-1])
    unexported = shutil.copy(ROOT / "flashivy" / "weights" / "baseline.safetensors", tmp_path / "mine.safetensors")
    for args, extra in ((["evaluate", tmp_path], "eval"), (["serve"], "web"), (["export"], "train"),
                        (["predict", "--image", "face.jpg", "--checkpoint", unexported], "train")):
        done = _run([flashivy, *args], cwd=tmp_path, check=False)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
        assert f"pip install 'flashivy[{extra}]'" in done.stderr
