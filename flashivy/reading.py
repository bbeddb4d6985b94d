"""What a fake probability means, said from the model's own record of what it was tested on.

A checkpoint carries ``tested_on`` (written when it is trained: its held-out test
split, per data source and manipulation method) and ``data`` (what it trained on).
The text a person reads is built from those, so a new model brings its own honest
text, and nothing here claims more than the model was measured on.
"""
from __future__ import annotations

# Kinds of fakes people meet, by the names the data give them; what a model has not seen it is told it has not.
KNOWN_KINDS: dict[str, str] = {
    "Deepfakes": "FF++ Deepfakes (face swap)",
    "Face2Face": "FF++ Face2Face (expression re-enactment)",
    "FaceSwap": "FaceSwap (graphics-based swap)",
    "NeuralTextures": "NeuralTextures (neural re-enactment)",
    "FaceShifter": "FaceShifter (GAN-based swap)",
    "generated": "fully generated faces (GAN or diffusion portraits)",
}
SOURCE_NAMES = {"ffpp": "FaceForensics++ c23", "dfdc": "DFDC"}


def tested_on_rows(test_report: dict) -> list[dict]:
    """Rows ``{source, method, level, auc, ece, n_real, n_fake}`` from a per-source held-out test report:
    one per manipulation method where the source names them, video-level where videos have several faces."""
    rows = []
    for source, rep in sorted(test_report.items()):
        for method, r in sorted(rep.get("methods", {}).items()) or [("", rep)]:
            video = r.get("video") or {}
            level, figures = ("video", video) if video.get("n", 0) and video["n"] < r["n"] else ("frame", r)
            rows.append({"source": source, "method": method, "level": level, "auc": figures.get("auc"),
                         "ece": r.get("ece"), "n_real": figures.get("n_real"), "n_fake": figures.get("n_fake")})
    return rows


def tested_on(meta: dict) -> list[dict]:
    """The held-out results a checkpoint carries (older checkpoints: derived from their test report)."""
    return list(meta["tested_on"]) if "tested_on" in meta else tested_on_rows(meta.get("test", {}))


def trained_methods(meta: dict) -> set[str]:
    """Manipulation methods the model trained on (DFDC's own mix counts as one kind: "dfdc")."""
    seen: set[str] = set()
    for source, labels in meta.get("data", {}).get("train", {}).items():
        methods = labels.get("fake", {}).get("methods")
        seen |= set(methods) if methods else {"Deepfakes" if source == "ffpp" else source}
    return seen


def never_seen(meta: dict) -> list[str]:
    """The known kinds of fakes the model neither trained nor was tested on."""
    tested = {r["method"] for r in tested_on(meta) if r.get("method")}
    return [name for kind, name in KNOWN_KINDS.items() if kind not in trained_methods(meta) | tested]


def _row_text(row: dict) -> str:
    what = SOURCE_NAMES.get(row["source"], row["source"])
    if row.get("method"):
        what = f"{what} {row['method']}"
    unit = "videos" if row["level"] == "video" else "faces"
    auc = "n/a" if row.get("auc") is None else f"{row['auc']:.2f}"
    return f"{what} ({row['level']} AUC {auc}, {row['n_real']:,} real + {row['n_fake']:,} fake {unit})"


def coverage_sentence(meta: dict) -> str:
    rows = tested_on(meta)
    tested = "; ".join(_row_text(r) for r in rows) or "nothing recorded"
    unseen = never_seen(meta)
    text = f"Tested on held-out {tested}."
    if unseen:
        text += f" Never trained or tested on: {', '.join(unseen)}."
    return text


def reading(prob: float | None, threshold: float, meta: dict, kind: str = "image") -> str:
    """Markdown for the web page: what the number means, where it was measured, where it can be wrong."""
    if prob is None:
        return ("No face was found, so there is nothing to judge. The detector only looks at faces; "
                "try a clip or photo where a face is clearly visible.")
    share = round(prob * 100)
    lean = "manipulated" if prob >= threshold else "unaltered"
    eces = [r["ece"] for r in tested_on(meta) if r.get("ece") is not None]
    calibrated = (f" (calibration error {min(eces):.2f} to {max(eces):.2f} there)" if eces else "")
    return (f"The model rates the face{'s' if kind == 'video' else ''} **{share} % likely to be manipulated**: it "
            f"leans towards *{lean}*. On data like its training data, scores around {share} % were fakes about "
            f"{share} times in 100{calibrated}. {coverage_sentence(meta)} **On kinds of fakes it has not seen, it "
            "can be confidently wrong**: there a high confidence is not evidence. It is a statistical judgement on "
            "face pixels, not proof, and says nothing about whether the content is true. Treat it as one clue "
            "among others.")


def cli_note(meta: dict) -> str:
    """One line for the terminal, beside the verdict."""
    unseen = never_seen(meta)
    return ("Confidence is calibrated on held-out data like the training data only. " + coverage_sentence(meta)
            + (" It can be confidently wrong on those." if unseen else ""))
