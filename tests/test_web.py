"""The web demo as a person uses it: a real server, headless Chromium driven by Playwright.

Needs Debian's chromium (``.ci/run`` installs it); skipped elsewhere unless CI is set.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import pytest
from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.environ.get("FLASHIVY_SCREENSHOTS")  # a folder to keep the screenshots in


def _need(what: str, ok: bool):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: .ci/run should have installed it")
        pytest.skip(f"{what} is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("gradio") if not os.environ.get("CI") else __import__("gradio")
    port = _free_port()
    log = tmp_path_factory.mktemp("web") / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "flashivy", "serve", "--port", str(port), "--max-upload-mb", "5"], cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    _need("Debian chromium", Path(CHROMIUM).exists())
    sync_api = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else \
        __import__("playwright.sync_api", fromlist=["sync_playwright"])
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def _shot(page, name: str, tmp_path: Path) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _upload_and_analyse(page, url: str, file: Path, wait_for: str):
    page.goto(url)
    page.wait_for_selector("#analyse")
    page.locator("#upload input[type=file]").set_input_files(str(file))
    page.wait_for_timeout(500)
    start = time.perf_counter()
    page.click("#analyse")
    page.wait_for_selector(wait_for, timeout=120_000)
    return time.perf_counter() - start


def test_image_upload_shows_verdict_and_heatmap(server, browser, tmp_path, astronaut):
    image = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(image), astronaut[..., ::-1])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seconds = _upload_and_analyse(page, server, image, "#verdict h2")
    verdict = page.inner_text("#verdict")
    assert verdict.splitlines()[0].strip() == "REAL", verdict
    assert "Fake probability" in verdict and "not proof" in verdict
    assert "Never trained or tested on" in verdict and "confidently wrong" in verdict  # from the model's metadata
    assert "Take care" not in verdict  # a clean face: no warning
    assert "Fake probability per kind" in verdict and "generated" in verdict and "Kind of fake" not in verdict
    assert "Provenance" in verdict and "absence proves nothing" in verdict  # a plain photo says nothing of itself
    page.wait_for_function("() => [...document.querySelectorAll('#heatmaps img')]"
                           ".some(i => i.complete && i.naturalWidth > 200)")
    assert page.locator("#record a, #record [download]").count() >= 1
    _shot(page, "web_image", tmp_path)
    print(f"upload to verdict: {seconds:.1f} s")


def test_a_generated_face_is_called_fake_of_the_generated_kind(server, browser, tmp_path):
    """A held-out StyleGAN face (the shipped recipe's test split) that the model calls generated."""
    from conftest import SHARED

    from flashivy.inference.detector import Detector
    from flashivy.models.kinds import DESCRIPTIONS, GENERATED
    from flashivy.training.recipe import KindConfig
    from flashivy.training.train_kind import kind_splits

    if not (SHARED / "synthetic_faces").is_dir():
        pytest.skip("../shared/data is absent")
    recipe = KindConfig.from_file(ROOT / "configs" / "generated.json")
    cfg = KindConfig(kind_sources={"synthetic": str(SHARED / "synthetic_faces")}, seed=recipe.seed,
                     val_fraction=recipe.val_fraction, test_fraction=recipe.test_fraction)
    fakes = sorted(s.path for s in kind_splits(cfg)["test"] if s.label == 1)[:8]
    detector = Detector.from_checkpoint(device="cpu")
    image = next(p for p in fakes if detector.predict_image(p).kind == GENERATED)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _upload_and_analyse(page, server, Path(image), "#verdict h2")
    verdict = page.inner_text("#verdict")
    assert verdict.splitlines()[0].strip() == "FAKE", verdict
    assert f"Kind of fake: {DESCRIPTIONS[GENERATED]}" in verdict, verdict
    _shot(page, "web_generated", tmp_path)


def test_blurred_face_shows_a_warning_beside_the_verdict(server, browser, tmp_path, astronaut):
    image = tmp_path / "blurred.jpg"
    cv2.imwrite(str(image), cv2.GaussianBlur(astronaut, (0, 0), 5)[..., ::-1])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _upload_and_analyse(page, server, image, "#verdict h2")
    verdict = page.inner_text("#verdict")
    assert verdict.splitlines()[0].strip() in ("REAL", "FAKE"), verdict  # the verdict is still there
    assert "Take care" in verdict and "blurred" in verdict, verdict
    _shot(page, "web_warning", tmp_path)


def test_bundled_video_example_shows_frames_plot_and_persons(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(server)
    page.wait_for_selector("#analyse")
    page.get_by_text("astronaut.mp4", exact=True).first.click()  # the bundled example
    page.wait_for_function("document.querySelector('#upload').innerText.includes('astronaut')")
    start = time.perf_counter()
    page.click("#analyse")
    page.wait_for_selector("#verdict h2", timeout=120_000)
    seconds = time.perf_counter() - start
    assert page.inner_text("#verdict").splitlines()[0].strip() in ("REAL", "FAKE")
    page.wait_for_function("() => { const i = document.querySelector('#frames img');"
                           " return i && i.complete && i.naturalWidth > 300 }")
    assert "person" in page.inner_text("#persons")
    _shot(page, "web_video", tmp_path)
    print(f"upload to verdict: {seconds:.1f} s")


def test_junk_upload_shows_one_clear_error(server, browser, tmp_path):
    junk = tmp_path / "holiday.mp4"
    junk.write_text("this is not a video")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server)
    page.wait_for_selector("#analyse")
    page.locator("#upload input[type=file]").set_input_files(str(junk))
    page.wait_for_timeout(500)
    page.click("#analyse")
    page.wait_for_selector("#verdict h2", timeout=60_000)
    assert [line for line in page.inner_text("#verdict").splitlines() if line.strip()] == [
        "Could not analyse this file", "holiday.mp4: neither an image nor a video"]
    body = page.inner_text("body")
    assert str(tmp_path) not in body and "Traceback" not in body and "/tmp/" not in body
    _shot(page, "web_error", tmp_path)


def test_eight_concurrent_uploads_are_answered(server, tmp_path, astronaut):
    """Through the same queue the page uses (gradio_client): all eight answered, each correctly."""
    from gradio_client import Client, handle_file

    files = []
    for i in range(8):
        path = tmp_path / f"face_{i}.jpg"
        size = 300 + 24 * i
        cv2.imwrite(str(path), cv2.resize(astronaut, (size, size))[..., ::-1])
        files.append(path)
    client = Client(server, verbose=False)

    def ask(path):
        return client.predict(handle_file(str(path)), api_name="/run")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, files))
    assert len(answers) == 8
    for summary, *_ in answers:
        assert summary.startswith("## REAL"), summary


def test_a_signed_generated_image_shows_its_c2pa_statement_beside_the_verdict(server, browser, tmp_path, astronaut):
    """The upload keeps the file's own bytes: its Content Credentials reach the page, signature checked."""
    from test_provenance import _sign

    face = tmp_path / "face.jpg"
    cv2.imwrite(str(face), astronaut[..., ::-1])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _upload_and_analyse(page, server, _sign(face, tmp_path / "signed.jpg"), "#verdict h2")
    verdict = page.inner_text("#verdict")
    assert verdict.splitlines()[0].strip() == "REAL"  # the model's verdict on the pixels is unchanged
    assert "C2PA manifest: made by a generative AI model" in verdict and "signature valid" in verdict
    assert "the score above never uses it" in verdict
    _shot(page, "web_provenance", tmp_path)
