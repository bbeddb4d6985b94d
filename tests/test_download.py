"""The FF++ downloader against a local HTTP server on 127.0.0.1 that serves the official layout."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flashivy.core.errors import UserError
from flashivy.datasets.download import Downloader, download, safe_join

PAIRS = [["000", "003"], ["001", "002"]]
VIDEO = bytes(range(256)) * 4096  # 1 MiB stand-in payload (more than one read chunk)


class Server:
    """Serves FILES; faults: paths in DROP are cut mid-file once, in FAIL answer 500, in SHORT always stop
    half-way (Content-Length promises more), in SLOW trickle out in small chunks."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop: set[str] = set()
        self.fail: set[str] = set()
        self.short: set[str] = set()
        self.slow: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                if self.path in outer.fail:
                    self.send_error(500)
                    return
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in outer.drop or self.path in outer.short:
                    outer.drop.discard(self.path)
                    self.wfile.write(body[start:start + max(1, (len(body) - start) // 3)])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # connection dropped mid-file
                    return
                if self.path in outer.slow:
                    for i in range(start, len(body), 32768):
                        self.wfile.write(body[i:i + 32768])
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    s.files["/v3/misc/filelist.json"] = json.dumps(PAIRS).encode()
    for name in ["000", "003", "001", "002"]:
        s.files[f"/v3/original_sequences/youtube/c23/videos/{name}.mp4"] = VIDEO + name.encode()
    for name in ["000_003", "003_000", "001_002", "002_001"]:
        s.files[f"/v3/manipulated_sequences/Deepfakes/c23/videos/{name}.mp4"] = VIDEO + name.encode()
    yield s
    s.close()


def client():
    return Downloader(retries=3, backoff=0.01, timeout=5, progress=False)


def test_happy_path_official_layout_and_order(server, tmp_path):
    n = download(tmp_path, "Deepfakes", "c23", "videos", 3, server.url, accept_tos=True, client=client())
    out = tmp_path / "manipulated_sequences/Deepfakes/c23/videos"
    assert n == 3
    assert sorted(p.name for p in out.iterdir()) == ["000_003.mp4", "001_002.mp4", "003_000.mp4"]
    assert (out / "003_000.mp4").read_bytes() == VIDEO + b"003_000"
    # the second run skips complete files
    assert download(tmp_path, "Deepfakes", "c23", "videos", 3, server.url, accept_tos=True, client=client()) == 0


def test_originals_are_the_flattened_pairs(server, tmp_path):
    download(tmp_path, "original", "c23", "videos", None, server.url, accept_tos=True, client=client())
    out = tmp_path / "original_sequences/youtube/c23/videos"
    assert sorted(p.name for p in out.iterdir()) == ["000.mp4", "001.mp4", "002.mp4", "003.mp4"]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    path = "/v3/original_sequences/youtube/c23/videos/000.mp4"
    server.drop.add(path)
    download(tmp_path, "original", "c23", "videos", 1, server.url, accept_tos=True, client=client())
    assert (tmp_path / "original_sequences/youtube/c23/videos/000.mp4").read_bytes() == VIDEO + b"000"
    ranges = [r for p, r in server.requests if p == path]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert not list(tmp_path.rglob("*.part"))


def test_404_is_one_clear_error_and_no_partial_file(server, tmp_path):
    del server.files["/v3/original_sequences/youtube/c23/videos/000.mp4"]
    with pytest.raises(UserError, match="failed"):
        download(tmp_path, "original", "c23", "videos", 2, server.url, accept_tos=True, client=client())
    out = tmp_path / "original_sequences/youtube/c23/videos"
    assert sorted(p.name for p in out.iterdir()) == ["003.mp4"]


def test_500_is_retried_then_reported(server, tmp_path):
    server.fail.add("/v3/misc/filelist.json")
    with pytest.raises(UserError, match="server error 500.*another server"):
        download(tmp_path, "original", "c23", "videos", 1, server.url, accept_tos=True, client=client())
    assert sum(p == "/v3/misc/filelist.json" for p, _ in server.requests) == 4


def test_connection_refused_suggests_another_server(tmp_path):
    with pytest.raises(UserError, match="refused.*--server"):
        download(tmp_path, "original", "c23", "videos", 1, "http://127.0.0.1:9/", accept_tos=True,
                 client=Downloader(retries=1, backoff=0.01, progress=False))


def test_names_escaping_the_output_folder_are_refused(server, tmp_path):
    server.files["/v3/misc/filelist.json"] = json.dumps([["../../evil", "003"]]).encode()
    with pytest.raises(UserError, match="refusing"):
        download(tmp_path / "out", "original", "c23", "videos", None, server.url, accept_tos=True, client=client())
    assert not (tmp_path / "evil.mp4").exists()
    with pytest.raises(UserError):
        safe_join(tmp_path, "/etc/passwd")


def test_consent_is_required_without_a_terminal(server, tmp_path, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(UserError, match="--accept-tos"):
        download(tmp_path, "original", "c23", "videos", 1, server.url, client=client())


def test_cli_prints_the_terms_url(server, tmp_path, capsys):
    from flashivy.app.cli import main

    rc = main(["download", str(tmp_path), "-d", "original", "-c", "c23", "-n", "1", "--server-url", server.url,
               "--accept-tos"])
    assert rc == 0
    assert "webpage/FaceForensics_TOS.pdf" in capsys.readouterr().out
    assert (tmp_path / "original_sequences/youtube/c23/videos/000.mp4").exists()


def _cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "flashivy", "download", *map(str, args), "--accept-tos"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_content_length_never_reached_leaves_only_a_part_file(server, tmp_path, capsys):
    path = "/v3/original_sequences/youtube/c23/videos/000.mp4"
    server.short.add(path)
    with pytest.raises(UserError, match="failed; rerun"):
        download(tmp_path, "original", "c23", "videos", 1, server.url, accept_tos=True, client=client())
    assert "000.mp4: connection dropped 4 times; rerun to resume" in capsys.readouterr().err
    out = tmp_path / "original_sequences/youtube/c23/videos"
    assert not (out / "000.mp4").exists()
    assert (out / "000.mp4.part").stat().st_size < len(VIDEO)


def test_kill_9_mid_download_leaves_no_final_file_and_resumes(server, tmp_path):
    path = "/v3/original_sequences/youtube/c23/videos/000.mp4"
    server.slow.add(path)
    out = tmp_path / "original_sequences/youtube/c23/videos"
    proc = _cli([tmp_path, "-d", "original", "-c", "c23", "-n", "1", "--server-url", server.url])
    deadline = time.time() + 60
    while time.time() < deadline and not ((out / "000.mp4.part").exists()
                                          and (out / "000.mp4.part").stat().st_size > 100_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "000.mp4").exists()
    assert 0 < (out / "000.mp4.part").stat().st_size < len(VIDEO)
    server.slow.clear()
    download(tmp_path, "original", "c23", "videos", 1, server.url, accept_tos=True, client=client())
    assert (out / "000.mp4").read_bytes() == VIDEO + b"000"
    assert [r for p, r in server.requests if p == path][-1].startswith("bytes=")


def test_full_disk_is_one_line_and_no_final_file(server, tmp_path):
    """A size limit on written files (RLIMIT_FSIZE) stands in for a full disk: writes fail with EFBIG."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    proc = _cli([tmp_path, "-d", "original", "-c", "c23", "-n", "1", "--server-url", server.url],
                preexec_fn=limit, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    # Like every batch: the failed file is named with its reason, then one summary error line.
    assert "Traceback" not in err
    assert "000.mp4.part: cannot write (File too large)" in err
    assert err.strip().splitlines()[-1] == "error: 1 file(s) failed; rerun the same command to resume"
    out = tmp_path / "original_sequences/youtube/c23/videos"
    assert not (out / "000.mp4").exists()
