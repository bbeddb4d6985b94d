"""`flashivy serve`: a Gradio page for people who do not open a terminal.

Upload an image or a video, or pick a bundled example: the verdict, the
calibrated probability with a plain reading of it, the faces with Grad-CAM
heatmaps, for videos the per-frame plot and per-person results, the time it
took, and the JSON record to download. Runs offline (no analytics, no web
fonts), binds to 127.0.0.1 unless told otherwise, limits upload size and video
length, checks file types by content, queues work so that concurrent users do
not exhaust memory, and never shows server paths or tracebacks.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError, UserError
from ..inference.reading import reading

TITLE = "Flashivy-Deepfake"
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 100.0
    max_video_s: float = 120.0


def warnings_markdown(warnings) -> str:
    """Each warning as a line above the reading: beside the verdict, never instead of it."""
    return "".join(f"> ⚠ **Take care:** {w.message}\n\n" for w in warnings)


def _public_message(exc: UserError, upload: Path) -> str:
    """The error without server paths: the file is named by its own name only."""
    text = str(exc).replace(str(upload), upload.name).replace(str(upload.parent) + os.sep, "")
    return text.splitlines()[0]


class Analyser:
    """Runs one upload through the detector and renders what the page shows."""

    def __init__(self, detector, limits: Limits, workdir: Path):
        self.detector, self.limits, self.workdir = detector, limits, workdir

    def check(self, path: Path) -> str:
        from ..inference.batch import media_type
        from ..media.video import probe

        size_mb = path.stat().st_size / 2**20
        if size_mb > self.limits.max_upload_mb:
            raise InputError(f"{path.name}: {size_mb:.0f} MB is over the {self.limits.max_upload_mb:g} MB limit")
        kind = media_type(path)
        if kind == "video":
            seconds = probe(path).duration
            if seconds > self.limits.max_video_s:
                raise InputError(f"{path.name}: {seconds:.0f} s is longer than the {self.limits.max_video_s:g} s "
                                "limit of this demo; use the command line for long videos")
        return kind

    def __call__(self, upload: str | None):
        from ..explain.heatmaps import explain_image, explain_video
        from ..inference.batch import record

        if not upload:
            raise InputError("choose an image or a video first")
        path = Path(upload)
        start = time.perf_counter()
        kind = self.check(path)
        out = Path(tempfile.mkdtemp(dir=self.workdir))
        if kind == "image":
            result, sheet = explain_image(self.detector, path, out)
            images, plot, persons = [str(sheet)], None, []
        else:
            result, written = explain_video(self.detector, path, out)
            plot, images = str(written[0]), [str(p) for p in written[1:]]
            persons = [[p.person, p.prediction, round(p.fake_probability, 4), p.faces] for p in result.persons]
        seconds = time.perf_counter() - start
        rec = record(result, Path(path.name), kind, None) | {"seconds": round(seconds, 2)}
        json_path = out / f"{path.stem}.json"
        json_path.write_text(json.dumps(rec, indent=2))
        verdict = result.prediction or "NO FACE"
        prob = result.fake_probability
        summary = (f"## {verdict}\n"
                   + (f"**Fake probability: {prob:.4f}** (confidence {result.confidence:.4f}, "
                      f"threshold {result.threshold:.2f})\n\n" if prob is not None else "\n")
                   + kind_markdown(result)
                   + warnings_markdown(result.warnings)
                   + reading(prob, result.threshold, self.detector.meta, kind)
                   + provenance_markdown(result.provenance)
                   + f"\n\n*{kind}, {len(result.faces)} face(s)"
                   + (f" in {result.frames} sampled frames" if kind == "video" else "")
                   + f", analysed in {seconds:.1f} s*")
        return summary, images, plot, persons, str(json_path)


def provenance_markdown(provenance: dict | None) -> str:
    """What the file itself says of where it came from, below the model's reading and apart from it."""
    if provenance is None:
        return ""
    lines = "".join(f"\n- {line}" for line in provenance["summary"])
    return f"\n\n**Provenance (what the file says about itself; the score above never uses it):**{lines}"


def kind_markdown(result) -> str:
    """Which kind of fake decided a FAKE verdict, and each kind's probability (models with several heads)."""
    from ..models.kinds import DESCRIPTIONS, describe_scores

    if len(result.scores) < 2:
        return ""
    found = f"Kind of fake: **{DESCRIPTIONS.get(result.kind, result.kind)}**. " if result.kind else ""
    return f"{found}Fake probability per kind: {describe_scores(result.scores)}\n\n"


def build_app(detector, limits: Limits = Limits(), examples: list[Path] | None = None,
              workdir: Path | None = None):
    """The Gradio Blocks page (not started)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    workdir = workdir or Path(tempfile.mkdtemp(prefix="flashivy-web-"))
    analyse = Analyser(detector, limits, workdir)

    hidden = gr.update(value=None, visible=False)

    def run(upload):
        """The page's one action. Failures become a message in the page, never a traceback or a path."""
        try:
            summary, images, plot, persons, record = analyse(upload)
        except UserError as exc:
            return f"## Could not analyse this file\n{_public_message(exc, Path(upload or ''))}", [], hidden, \
                hidden, None
        except Exception:  # noqa: BLE001 - the user gets one line, the server log the details
            import traceback

            traceback.print_exc(file=sys.stderr)
            return "## Could not analyse this file\nSomething went wrong while reading it.", [], hidden, hidden, None
        shown = plot is not None
        return (summary, images, gr.update(value=plot, visible=shown), gr.update(value=persons, visible=shown),
                record)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\nUpload a photo or a video with a face. The file is analysed on this machine "
                    f"and is not kept. Limits: {limits.max_upload_mb:g} MB, videos up to {limits.max_video_s:g} s.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Image or video", file_count="single", type="filepath",
                                 elem_id="upload")
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
                if examples:
                    gr.Examples([[str(p)] for p in examples], inputs=[upload], label="Bundled examples")
            with gr.Column(scale=2):
                verdict = gr.Markdown(elem_id="verdict")
                faces = gr.Gallery(label="Faces and Grad-CAM heatmaps (red: evidence of a fake, from the head "
                                         "of its most likely kind)",
                                   elem_id="heatmaps", columns=1, height="auto", object_fit="contain")
                plot = gr.Image(label="Fake probability per sampled frame", type="filepath", elem_id="frames",
                                visible=False)
                persons = gr.Dataframe(headers=["person", "verdict", "fake probability", "faces"],
                                       label="Per person", elem_id="persons", visible=False)
                record_file = gr.File(label="JSON record", elem_id="record")
        button.click(run, inputs=[upload], outputs=[verdict, faces, plot, persons, record_file])
    return app


def bundled_examples(folder: Path) -> list[Path]:
    """A public-domain face (the bundled astronaut photo) as an image and as a short generated clip."""
    import shutil

    from .demo import SAMPLE_IMAGE, sample_video

    folder.mkdir(parents=True, exist_ok=True)
    image = folder / SAMPLE_IMAGE.name
    if not image.exists():
        shutil.copy(SAMPLE_IMAGE, image)
    video = folder / "astronaut.mp4"
    if not video.exists():
        sample_video(video)
    return [image, video]


def serve(host: str = "127.0.0.1", port: int = 7860, checkpoint: str | Path | None = None,
          limits: Limits = Limits(), queue_size: int = 16, block: bool = True):
    """Start the page; with ``block=False`` return the running app (tests).

    One analysis runs at a time (one model in memory; on the PyTorch path Grad-CAM hooks into it,
    so two at once would mix their gradients); the others wait in a queue of ``queue_size``.
    """
    from ..inference.detector import Detector

    # ONNX Runtime when the export is there: its CAM outputs give the heatmaps, no torch needed
    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    detector.face_detector  # load now, not on the first upload
    workdir = Path(tempfile.mkdtemp(prefix="flashivy-web-"))
    app = build_app(detector, limits, bundled_examples(workdir / "examples"), workdir)
    app.queue(default_concurrency_limit=1, max_size=queue_size, api_open=False)
    try:
        app.launch(server_name=host, server_port=port, max_file_size=f"{limits.max_upload_mb:g}mb",
                   prevent_thread_lock=not block, show_error=False, allowed_paths=[str(workdir)],
                   theme=_theme(), quiet=not block)
    finally:
        if block:
            shutil.rmtree(workdir, ignore_errors=True)
    return app


def _theme():
    """Gradio's default look with system fonts: nothing is fetched from Google Fonts."""
    import gradio as gr

    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=["ui-monospace", "monospace"])
