"""Whatever people find online, tried for real: a generated corpus of bad and odd files through every mode.

Single-file modes: a verdict, or one clear line on stderr and exit 1 (never a traceback).
Batch mode: one record per file, ``error`` on the bad ones, the rest scored.
"""
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import ROOT, write_video
from PIL import Image

from flashivy.app.cli import main
from flashivy.core.errors import UserError
from flashivy.media.images import load_image


def _jpeg(rgb, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height: a decompression bomb as far as any decoder can tell."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10) * 8000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _zero_length_video(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        out.start_encoding()  # header written, no frame ever
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, astronaut_module):
    """name -> (path, what single-file mode should do: 'verdict' or an error fragment)."""
    d = tmp_path_factory.mktemp("corpus")
    face = astronaut_module
    good_jpeg = _jpeg(face)
    good_png = _png(Image.fromarray(face))
    cases = {}

    def add(name, data, expect, mode="image"):
        path = d / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        cases[name] = (path, expect, mode)

    add("zero.jpg", b"", "not a readable image")
    add("truncated.jpg", good_jpeg[: len(good_jpeg) * 2 // 5], "not a readable image")
    add("truncated.png", good_png[: len(good_png) * 2 // 5], "not a readable image")
    add("text.jpg", b"hello, this is not a picture\n" * 20, "not a readable image")
    add("alpha.png", _png(Image.fromarray(face).convert("RGBA")), "verdict")
    add("16bit.png", cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)[1]
        .tobytes(), "verdict")
    add("gray.jpg", _jpeg(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)), "verdict")
    buf = io.BytesIO()
    Image.fromarray(face).convert("CMYK").save(buf, "JPEG")
    add("cmyk.jpg", buf.getvalue(), "verdict")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    add("exif rotated.jpg", _jpeg(np.ascontiguousarray(np.rot90(face, 1)), exif=exif.tobytes()), "verdict")
    frames = [Image.fromarray(np.roll(face, 8 * i, axis=1)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    add("animated.gif", buf.getvalue(), "verdict")
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "WEBP", quality=90)
    add("image.webp", buf.getvalue(), "verdict")
    add("1x1.png", _png(Image.new("RGB", (1, 1), (128, 64, 32))), "too small")
    add("bomb.png", _png_header_only(30000, 30000), "megapixels")
    add("visage été 1.jpg", good_jpeg, "verdict")
    video = d / "clip.mp4"
    from conftest import astronaut_frames

    write_video(video, astronaut_frames(30))
    data = video.read_bytes()
    add("truncated.mp4", data[: len(data) // 3], "not a readable video", "video")
    add("audio only.m4a", _audio_only(d / "audio only.m4a"), "no video stream", "video")
    add("zero length.mp4", _zero_length_video(d / "zero length.mp4"), "no frames|no video stream", "video")
    add("text.mp4", b"not a video at all", "not a readable video", "video")
    add("zero.mp4", b"", "not a readable video", "video")
    # WebM (Matroska) stores no frame count: the container "says" 0; we count packets.
    add("no count.webm", write_video(d / "no count.webm", astronaut_frames(20), codec="libvpx-vp9", container="webm"), "verdict", "video")
    add("no face.mp4", write_video(d / "no face.mp4", [np.full((240, 320, 3), 90 + i, np.uint8)
                                                        for i in range(20)]), "NO FACE", "video")
    big = cv2.resize(face, (2160, 2160))
    canvas = np.zeros((2160, 3840, 3), np.uint8)
    canvas[:, 840:3000] = big
    add("4k.mp4", write_video(d / "4k.mp4", [np.roll(canvas, 4 * i, axis=1) for i in range(12)]), "verdict", "video")
    add("clip.mp4", video, "verdict", "video")
    return d, cases


@pytest.fixture(scope="module")
def astronaut_module():
    from skimage import data

    return data.astronaut()


def _single(capsys, args):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_single_file_modes(corpus, capsys):
    _, cases = corpus
    for name, (path, expect, mode) in cases.items():
        rc, out, err = _single(capsys, ["predict", f"--{mode}", str(path)])
        if expect in ("verdict", "NO FACE"):
            assert rc == 0, (name, err)
            first = out.splitlines()[0]
            assert first in (("Prediction : NO FACE",) if expect == "NO FACE"
                             else ("Prediction : REAL", "Prediction : FAKE")), (name, out)
        else:
            lines = err.strip().splitlines()
            assert rc == 1 and len(lines) == 1 and lines[0].startswith("error:"), (name, err)
            assert any(e in lines[0] for e in expect.split("|")), (name, lines[0])
            assert "Traceback" not in err
        if mode == "video":  # a video given as an image is refused in one line too
            rc, _, err = _single(capsys, ["predict", "--image", str(path)])
            assert rc == 1 and len(err.strip().splitlines()) == 1 and err.startswith("error:"), (name, err)


def test_exif_rotated_face_is_scored_upright(corpus, astronaut_module):
    _, cases = corpus
    rgb = load_image(cases["exif rotated.jpg"][0])
    assert rgb.shape == astronaut_module.shape  # turned back upright (512 x 512 here, so compare pixels)
    assert np.abs(rgb.astype(int) - astronaut_module.astype(int)).mean() < 6


def test_special_paths(tmp_path, capsys):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    broken = tmp_path / "gone.jpg"
    broken.symlink_to(tmp_path / "nowhere.jpg")
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    for path, message in ((fifo, "not a regular file"), (broken, "no such file"), (folder, "not a regular file"),
                          (tmp_path / "missing.mp4", "no such file")):
        for mode in ("image", "video"):
            rc, _, err = _single(capsys, ["predict", f"--{mode}", str(path)])
            assert rc == 1 and err.strip().splitlines() == [err.strip()] and message in err, (path, mode, err)
    # in a folder they are reported too, not silently dropped (and nothing blocks on the FIFO)
    out = tmp_path.parent / f"{tmp_path.name}.jsonl"
    rc, _, _ = _single(capsys, ["predict", "--input", str(tmp_path), "--json", str(out)])
    records = {Path(r["path"]).name: r["error"] for r in map(json.loads, out.read_text().splitlines())}
    assert rc == 0 and records == {"pipe.jpg": f"{fifo}: not a regular file", "gone.jpg": f"{broken}: no such file"}


def test_unreadable_file(tmp_path, astronaut_module):
    """Root reads everything: as root the check runs without the capabilities that bypass file modes."""
    import shutil

    locked = tmp_path / "locked.jpg"
    locked.write_bytes(_jpeg(astronaut_module))
    locked.chmod(0o000)
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root and util-linux setpriv is missing")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    for mode in ("image", "video"):
        proc = subprocess.run([*prefix, sys.executable, "-m", "flashivy", "predict", f"--{mode}", str(locked)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and proc.stderr.strip() == f"error: {locked}: permission denied", proc.stderr
    proc = subprocess.run([*prefix, sys.executable, "-m", "flashivy", "predict", "--input", str(tmp_path), "--json",
                           str(tmp_path / "out.jsonl")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out.jsonl").read_text())["error"] == f"{locked}: permission denied"


def test_batch_reports_each_bad_file_and_carries_on(corpus, tmp_path, capsys):
    d, cases = corpus
    (d / "loop").mkdir(exist_ok=True)
    if not (d / "loop" / "again").exists():
        (d / "loop" / "again").symlink_to(d)  # a symlink loop: not followed
    out = tmp_path / "out.jsonl"
    rc, _, err = _single(capsys, ["predict", "--input", str(d), "--json", str(out)])
    assert rc == 0, err
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == set(cases)
    for name, (_, expect, _) in cases.items():
        rec = records[name]
        if expect == "verdict":
            assert rec["error"] is None and rec["prediction"] in ("REAL", "FAKE"), rec
        elif expect == "NO FACE":
            assert rec["error"] is None and rec["prediction"] is None and rec["faces"] == 0, rec
        else:
            assert rec["error"] and rec["prediction"] is None, rec
    assert records["animated.gif"]["type"] == "video"
    assert "Traceback" not in err


def test_batch_time_limit_per_file(corpus, tmp_path, capsys):
    d, cases = corpus
    out = tmp_path / "slow.jsonl"
    rc, _, _ = _single(capsys, ["predict", "--input", str(cases["4k.mp4"][0]), str(cases["gray.jpg"][0]),
                                "--json", str(out), "--timeout", "0.05"])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert rc == 0 and len(records) == 2
    assert "gave up after 0.05 s" in records[0]["error"]


def test_evaluate_skips_bad_crops_and_reports_them(corpus, tmp_path, capsys, astronaut_module):
    d, cases = corpus
    crops = tmp_path / "crops"
    for label in ("real", "fake"):
        (crops / label).mkdir(parents=True)
        for i in range(3):
            img = cv2.resize(astronaut_module[0:260, 120:380], (224, 224))
            if label == "fake":
                img = cv2.GaussianBlur(img, (0, 0), 3)
            cv2.imwrite(str(crops / label / f"{i:03d}_{i:04d}.jpg"), img[..., ::-1])
    for name in ("zero.jpg", "truncated.jpg", "text.jpg"):
        (crops / "fake" / f"9{name[:2]}_0000.jpg").write_bytes(cases[name][0].read_bytes())
    rc, out, err = _single(capsys, ["evaluate", str(crops), "--out", str(tmp_path / "eval")])
    assert rc == 0, err
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert len(report["skipped"]) == 3 and report["all"]["n"] == 6
    assert err.count("skipped:") == 3 and "Traceback" not in err


def test_evaluate_video_root_skips_bad_videos(corpus, tmp_path, capsys):
    d, cases = corpus
    root = tmp_path / "ff"
    real = root / "original_sequences/youtube/c23/videos"
    fake = root / "manipulated_sequences/Deepfakes/c23/videos"
    real.mkdir(parents=True), fake.mkdir(parents=True)
    (real / "000.mp4").write_bytes(cases["clip.mp4"][0].read_bytes())
    (real / "001.mp4").write_bytes(cases["truncated.mp4"][0].read_bytes())
    (fake / "000_001.mp4").write_bytes(cases["clip.mp4"][0].read_bytes())
    (fake / "001_000.mp4").write_bytes(b"")
    rc, _, err = _single(capsys, ["evaluate", str(root), "--out", str(tmp_path / "eval")])
    assert rc == 0, err
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert sorted(Path(p).name for p in report["skipped"]) == ["001.mp4", "001_000.mp4"]


def test_scores_are_bit_identical_across_runs(corpus, tmp_path):
    d, cases = corpus
    inputs = [str(cases[n][0]) for n in ("gray.jpg", "visage été 1.jpg", "clip.mp4")]
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}.jsonl"
        subprocess.run([sys.executable, "predict.py", "--input", *inputs, "--json", str(out)], cwd=ROOT,
                       check=True, capture_output=True, timeout=300)
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    assert len(outs[0].splitlines()) == 3


def test_thousand_images_killed_and_resumed(tmp_path, astronaut_module):
    """Kill -9 part-way, restart: every image exactly once, every line whole, memory bounded."""
    folder = tmp_path / "many"
    folder.mkdir()
    face = cv2.resize(astronaut_module[0:300, 100:400], (128, 128))
    rng = np.random.default_rng(0)
    for i in range(1000):
        img = np.clip(face.astype(int) + rng.integers(-12, 12, 3), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), img[..., ::-1])
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "predict.py", "--input", str(folder), "--json", str(out), "--crop", "none"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 300):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = out.read_text().count("\n")
    assert 300 <= killed_at < 1000
    rerun = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_kb = 0
    while rerun.poll() is None:  # VmHWM: this program's own peak (rusage would count the forked test process)
        try:
            status = Path(f"/proc/{rerun.pid}/status").read_text()
            peak_kb = max(peak_kb, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    assert rerun.returncode == 0
    lines = out.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses: no torn record kept
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths)) == 1000
    assert all(r["prediction"] in ("REAL", "FAKE") for r in records)
    assert 0 < peak_kb / 2**20 < 1.5, peak_kb


def test_fuzzed_images_never_escape_as_anything_but_a_clear_error(tmp_path, astronaut_module):
    """Random bytes and mutated real JPEG/PNG/GIF/WebP files: an RGB array or a UserError, nothing else."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    small = cv2.resize(astronaut_module, (48, 48))
    seeds = [_jpeg(small), _png(Image.fromarray(small))]
    for fmt in ("GIF", "WEBP", "BMP", "TIFF"):
        buf = io.BytesIO()
        Image.fromarray(small).save(buf, fmt)
        seeds.append(buf.getvalue())
    path = tmp_path / "fuzz.img"

    @hypothesis.settings(max_examples=400, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(seed=st.sampled_from(seeds), cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                                  max_size=12),
                      truncate=st.none() | st.integers(0, 10**6), noise=st.binary(max_size=64))
    def check(seed, cuts, truncate, noise):
        data = bytearray(seed)
        for pos, value in cuts:
            data[pos % len(data)] = value
        if truncate is not None:
            data = data[: truncate % (len(data) + 1)]
        path.write_bytes(bytes(data) + noise)
        try:
            rgb = load_image(path)
        except UserError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            return
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3

    check()
