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
    # generators, by the name the data give them (the generated head's methods)
    "StyleGAN (140k fake set)": "StyleGAN faces",
    "stable-diffusion-2.1": "Stable Diffusion 2.1 portraits",
    "flux.1-dev+lora": "FLUX.1-dev portraits",
    "other generators": "faces from other generators (Midjourney, DALL-E, Imagen, newer diffusion models)",
}
# what older checkpoints call a generator: their generated head knew one, by its source's name
ALIASES = {"generated": "StyleGAN (140k fake set)", "synthetic": "StyleGAN (140k fake set)"}
SOURCE_NAMES = {"ffpp": "FaceForensics++ c23", "dfdc": "DFDC", "synthetic": "StyleGAN"}
# A source whose reals alone were used (real_sources): what those reals are
REAL_NAMES = {"synthetic": "FFHQ portrait photos", "diffusion": "politicians' press photos and interview frames"}


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
            if not r.get("n_fake"):  # reals only: the share called fake is what there is to say
                rows[-1]["false_positive_rate"] = r.get("false_positive_rate")
    return rows


def tested_on(meta: dict) -> list[dict]:
    """The held-out results a checkpoint carries (older checkpoints: derived from their test report)."""
    return list(meta["tested_on"]) if "tested_on" in meta else tested_on_rows(meta.get("test", {}))


def _methods(train: dict) -> set[str]:
    seen: set[str] = set()
    for source, labels in train.items():
        if "fake" not in labels:  # reals only (e.g. FFHQ photos): no kind of fake learnt from it
            continue
        methods = labels["fake"].get("methods")
        seen |= set(methods) if methods else {"Deepfakes" if source == "ffpp" else source}
    return seen


def trained_methods(meta: dict) -> set[str]:
    """Manipulation methods and generators the model's heads trained on (DFDC's own mix counts as one: "dfdc")."""
    seen = _methods(meta.get("data", {}).get("train", {}))
    for record in meta.get("kind_training", {}).values():
        seen |= _methods(record.get("data", {}).get("train", {}))
    return {ALIASES.get(m, m) for m in seen}


def never_seen(meta: dict) -> list[str]:
    """The known kinds of fakes the model neither trained nor was tested on."""
    tested = {ALIASES.get(r["method"], r["method"]) for r in tested_on(meta) if r.get("method")}
    return [name for kind, name in KNOWN_KINDS.items() if kind not in trained_methods(meta) | tested]


def _row_text(row: dict) -> str:
    if not row.get("n_fake") and row.get("false_positive_rate") is not None:  # reals only: its false alarms
        noun = "real photos" if row.get("kind") else "real faces"
        what = REAL_NAMES.get(row["source"], f"{SOURCE_NAMES.get(row['source'], row['source'])} {noun}")
        return f"{what} ({row['false_positive_rate']:.0%} of {row['n_real']:,} called {row.get('kind') or 'fake'})"
    if row.get("kind"):  # a kind head's row: one generator's held-out fakes against held-out real photos
        auc = "n/a" if row.get("auc") is None else f"{row['auc']:.2f}"
        unseen = ", a generator it never trained on," if row.get("unseen") else ""
        # the share it catches at the threshold: a fine AUC can sit beside few faces called generated
        caught = f", {row['detected']:.0%} of them called generated" if row.get("detected") is not None else ""
        return (f"{KNOWN_KINDS.get(row['method'], row['method'])}{unseen} against real photos (frame AUC {auc}, "
                f"{row['n_real']:,} real + {row['n_fake']:,} generated{caught})")
    what = SOURCE_NAMES.get(row["source"], row["source"])
    if row.get("method"):
        what = f"{what} {row['method']}"
    unit = "videos" if row["level"] == "video" else "faces"
    auc = "n/a" if row.get("auc") is None else f"{row['auc']:.2f}"
    return f"{what} ({row['level']} AUC {auc}, {row['n_real']:,} real + {row['n_fake']:,} fake {unit})"


def leave_one_out_sentence(meta: dict) -> str:
    """What the kind heads scored on a generator left out of their training: the figure to expect on a new one."""
    parts = [f"{KNOWN_KINDS.get(gen, gen)} {r['auc']:.2f}" for record in meta.get("kind_training", {}).values()
             for gen, r in sorted(record.get("leave_one_out", {}).items())]
    return (f" Trained with one generator left out, it scored AUC {', '.join(parts)} on the one left out: "
            "expect about that, or worse, on a generator it has not seen.") if parts else ""


def coverage_sentence(meta: dict) -> str:
    rows = tested_on(meta)
    tested = "; ".join(_row_text(r) for r in rows) or "nothing recorded"
    unseen = never_seen(meta)
    text = f"Tested on held-out {tested}.{leave_one_out_sentence(meta)}"
    if unseen:
        text += f" Never trained or tested on: {', '.join(unseen)}."
    return text


def reading(prob: float | None, threshold: float, meta: dict, kind: str = "image") -> str:
    """Markdown for the web page: what the number means, where it was measured, where it can be wrong."""
    if prob is None:
        return ("No face was found, so there is nothing to judge. The detector only looks at faces; "
                "try a clip or photo where a face is clearly visible.")
    from ..models.kinds import heads_of

    share = round(prob * 100)
    several = len(heads_of(meta)) > 1
    lean = ("fake" if several else "manipulated") if prob >= threshold else ("real" if several else "unaltered")
    eces = [r["ece"] for r in tested_on(meta) if r.get("ece") is not None]
    calibrated = (f" (calibration error {min(eces):.2f} to {max(eces):.2f} there)" if eces else "")
    what = "a fake (manipulated or generated)" if several else "manipulated"
    return (f"The model rates the face{'s' if kind == 'video' else ''} **{share} % likely to be {what}**: it "
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
