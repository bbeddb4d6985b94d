"""FaceForensics++ downloader with the official script's interface and server protocol.

Better than the original: resumes partial files (HTTP Range), skips finished
ones, never leaves a partial file under its final name, retries with back-off,
checks sizes against Content-Length, and refuses any server-supplied name that
would land outside the output folder.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.errors import ConfigError, UserError

DATASETS = {
    "original_youtube_videos": "misc/downloaded_youtube_videos.zip",
    "original_youtube_videos_info": "misc/downloaded_youtube_videos_info.zip",
    "original": "original_sequences/youtube",
    "DeepFakeDetection_original": "original_sequences/actors",
    "Deepfakes": "manipulated_sequences/Deepfakes",
    "DeepFakeDetection": "manipulated_sequences/DeepFakeDetection",
    "Face2Face": "manipulated_sequences/Face2Face",
    "FaceShifter": "manipulated_sequences/FaceShifter",
    "FaceSwap": "manipulated_sequences/FaceSwap",
    "NeuralTextures": "manipulated_sequences/NeuralTextures",
}
ALL_DATASETS = ["original", "DeepFakeDetection_original", "Deepfakes", "DeepFakeDetection",
                "Face2Face", "FaceShifter", "FaceSwap", "NeuralTextures"]
COMPRESSION = ["raw", "c23", "c40"]
TYPE = ["videos", "masks", "models"]
SERVERS = {
    "EU": "http://canis.vc.in.tum.de:8100/",
    "EU2": "http://kaldir.vc.in.tum.de/faceforensics/",
    "CA": "http://falas.cmpt.sfu.ca:8100/",
}
MODEL_FILES = ["decoder_A.h5", "decoder_B.h5", "encoder.h5"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
CHUNK = 1 << 16


@dataclass(frozen=True)
class Job:
    url: str
    dest: Path


def tos_url(server: str) -> str:
    return server + "webpage/FaceForensics_TOS.pdf"


def safe_join(root: Path, *parts: str) -> Path:
    """Join server-supplied names under ``root``; refuse anything that escapes it."""
    for part in parts:
        for piece in PurePosixPath(part).parts:
            if not _SAFE_NAME.match(piece):
                raise UserError(f"refusing server-supplied name {part!r}: it would leave the output folder")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise UserError(f"refusing server-supplied name {'/'.join(parts)!r}: it would leave the output folder")
    return path


def video_names(dataset: str, file_pairs: list, dfd_names: dict | None, kind: str) -> list[str]:
    """File names (without extension) of a dataset, in the official order."""
    if dataset == "DeepFakeDetection_original":
        return list(dfd_names["actors"])
    if dataset == "DeepFakeDetection":
        return list(dfd_names["DeepFakesDetection"])
    if dataset == "original":
        return [name for pair in file_pairs for name in pair]
    if kind == "models":
        return ["_".join(pair) for pair in file_pairs]
    return [name for pair in file_pairs for name in ("_".join(pair), "_".join(pair[::-1]))]


def plan_jobs(out: Path, dataset: str, compression: str, kind: str, names: list[str], base_url: str) -> list[Job]:
    """Every file to fetch for one dataset, with its URL and destination."""
    path = DATASETS[dataset]
    if dataset.startswith("original_youtube"):
        return [Job(base_url + path, safe_join(out, *path.split("/")))]
    if kind == "videos":
        sub = f"{path}/{compression}/videos"
        return [Job(f"{base_url}{sub}/{n}.mp4", safe_join(out, *sub.split("/"), f"{n}.mp4")) for n in names]
    if not _has_type(dataset, kind):
        raise ConfigError(f"{kind} are not available for {dataset}")
    if kind == "masks":
        sub = f"{path}/masks/videos"
        return [Job(f"{base_url}{sub}/{n}.mp4", safe_join(out, *sub.split("/"), f"{n}.mp4")) for n in names]
    sub = f"{path}/models"
    return [Job(f"{base_url}{sub}/{n}/{f}", safe_join(out, *sub.split("/"), n, f)) for n in names for f in MODEL_FILES]


def _has_type(dataset: str, kind: str) -> bool:
    """Whether the server has files of ``kind`` for ``dataset`` (masks: manipulated only; models: Deepfakes)."""
    if kind == "masks":
        return "original" not in dataset
    if kind == "models":
        return dataset == "Deepfakes"
    return True


class Downloader:
    """HTTP client with resume, retries and atomic completion."""

    def __init__(self, retries: int = 4, backoff: float = 1.0, timeout: float = 30.0, progress: bool = True):
        import requests

        self.session = requests.Session()
        self.retries, self.backoff, self.timeout, self.progress = retries, backoff, timeout, progress

    def get_json(self, url: str):
        response = self._request(url)
        try:
            return response.json()
        except ValueError:
            raise UserError(f"{url}: the server did not return JSON") from None

    def _request(self, url: str, headers: dict | None = None, stream: bool = False):
        import requests

        last = ""
        for attempt in range(self.retries + 1):
            try:
                response = self.session.get(url, headers=headers or {}, stream=stream, timeout=self.timeout)
            except requests.exceptions.SSLError:
                raise UserError(f"{url}: SSL error; try another server with --server") from None
            except requests.exceptions.ConnectionError as exc:
                last = "connection refused" if "refused" in str(exc).lower() else "connection failed"
            else:
                if response.status_code == 404:
                    raise UserError(f"{url}: not found (404); try another server with --server")
                if response.status_code < 500:
                    response.raise_for_status()
                    return response
                last = f"server error {response.status_code}"
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        raise UserError(f"{url}: {last} after {self.retries + 1} tries; try another server with --server")

    def fetch(self, job: Job) -> bool:
        """Download ``job`` to its destination. Returns False when it was already complete."""
        import requests

        if job.dest.exists():
            return False
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        part = job.dest.with_name(job.dest.name + ".part")
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            response = self._request(job.url, headers=headers, stream=True)
            if have and response.status_code != 206:  # server ignored Range: start over
                have = 0
            expected = self._expected_size(response, have)
            try:
                with open(part, "ab" if have else "wb") as fh, self._bar(job, expected, have) as bar:
                    for chunk in response.iter_content(CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
            except (requests.exceptions.RequestException, ConnectionError):
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise UserError(f"{job.url}: connection dropped {self.retries + 1} times; rerun to resume") from None
            except OSError as exc:  # disk full, file size limit, permissions: nothing to retry
                raise UserError(f"{part}: cannot write ({exc.strerror or exc}); the partial file stays under "
                                "its .part name: free some space and rerun to resume") from None
            size = part.stat().st_size
            if expected is not None and size < expected:
                continue  # short read: resume from where it stopped
            if expected is not None and size > expected:
                part.unlink()
                raise UserError(f"{job.url}: got {size} bytes, Content-Length said {expected}")
            part.replace(job.dest)
            return True
        raise UserError(f"{job.url}: incomplete after {self.retries + 1} tries; rerun to resume")

    @staticmethod
    def _expected_size(response, have: int) -> int | None:
        length = response.headers.get("Content-Length")
        if length is None:
            return None
        return int(length) + (have if response.status_code == 206 else 0)

    def _bar(self, job: Job, total: int | None, initial: int):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=job.dest.name, disable=not self.progress, file=sys.stderr, leave=False)


def ask_consent(server: str, accepted: bool) -> None:
    """Show the terms of use and wait for the user's consent, as the official script does."""
    print("By pressing any key to continue you confirm that you have agreed to the FaceForensics terms of use as "
          "described at:")
    print(tos_url(server))
    print("***")
    if accepted:
        print("Terms accepted with --accept-tos.")
        return
    try:
        input("Press any key to continue, or CTRL-C to exit.")
    except EOFError:
        raise ConfigError("cannot ask for consent (no input); pass --accept-tos to accept the terms of use") from None


def download(out: str | Path, dataset: str, compression: str = "raw", kind: str = "videos",
             num_videos: int | None = None, server: str = SERVERS["EU"], accept_tos: bool = False,
             client: Downloader | None = None) -> int:
    """Download one dataset (or ``all``); returns the number of files fetched."""
    out = Path(out)
    if not server.endswith("/"):
        server += "/"
    ask_consent(server, accept_tos)
    base_url = server + "v3/"
    client = client or Downloader()
    datasets = ALL_DATASETS if dataset == "all" else [dataset]
    pairs = dfd = None
    fetched, failed = 0, []
    for name in datasets:
        if name.startswith("original_youtube"):
            names: list[str] = []
        elif name.startswith("DeepFakeDetection"):
            dfd = dfd or client.get_json(base_url + "misc/deepfake_detection_filenames.json")
            names = video_names(name, [], dfd, kind)
        else:
            pairs = pairs or client.get_json(base_url + "misc/filelist.json")
            names = video_names(name, pairs, None, kind)
        if num_videos is not None:
            names = names[:num_videos]
        if dataset == "all" and not _has_type(name, kind):
            continue
        jobs = plan_jobs(out, name, compression, kind, names, base_url)
        print(f"{name}: {len(jobs)} files to {jobs[0].dest.parent if jobs else out}", file=sys.stderr)
        for job in jobs:
            try:
                fetched += client.fetch(job)
            except UserError as exc:
                failed.append(str(exc))
                print(exc, file=sys.stderr)
    if failed:
        raise UserError(f"{len(failed)} file(s) failed; rerun the same command to resume")
    return fetched
