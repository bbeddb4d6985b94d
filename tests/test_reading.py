"""The text a person reads comes from the checkpoint's own record of what it was tested on and trained on."""
from flashivy.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from flashivy import reading as rd


def _report(auc, n_real, n_fake, n_videos=None):
    rep = {"auc": auc, "ece": 0.05, "n": n_real + n_fake, "n_real": n_real, "n_fake": n_fake}
    if n_videos:
        rep["video"] = {"auc": auc, "n": sum(n_videos), "n_real": n_videos[0], "n_fake": n_videos[1]}
    return rep


def test_rows_name_each_method_at_video_level_and_dfdc_at_frame_level():
    report = {"dfdc": _report(0.9, 100, 90, (100, 90)),
              "ffpp": _report(0.95, 96, 128, (3, 4)) | {"methods": {"Deepfakes": _report(0.99, 96, 96, (3, 3)),
                                                                     "Face2Face": _report(0.8, 96, 32, (3, 1))}}}
    rows = rd.tested_on_rows(report)
    assert [(r["source"], r["method"], r["level"]) for r in rows] == [
        ("dfdc", "", "frame"), ("ffpp", "Deepfakes", "video"), ("ffpp", "Face2Face", "video")]
    assert rows[2]["n_real"] == 3 and rows[2]["n_fake"] == 1


def test_unseen_kinds_follow_the_training_data():
    meta = {"data": {"train": {"ffpp": {"fake": {"crops": 9, "methods": {"Deepfakes": 5, "Face2Face": 4}}},
                               "dfdc": {"fake": {"crops": 9}}}},
            "tested_on": [{"source": "dfdc", "method": "", "level": "frame", "auc": 0.9, "ece": 0.02,
                           "n_real": 10, "n_fake": 10}]}
    unseen = rd.never_seen(meta)
    assert not any("Face2Face" in k or "Deepfakes" in k for k in unseen)
    assert any("FaceSwap" in k for k in unseen) and any("generated" in k for k in unseen)
    note = rd.cli_note(meta)
    assert "DFDC (frame AUC 0.90, 10 real + 10 fake faces)" in note and "confidently wrong" in note
    text = rd.reading(0.97, 0.5, meta)
    assert "97 % likely to be manipulated" in text and "Never trained or tested on" in text and "not proof" in text


def test_the_shipped_model_states_its_own_coverage():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    rows = rd.tested_on(meta)
    assert rows and all(0 <= r["auc"] <= 1 for r in rows)
    assert "FaceSwap" in rd.cli_note(meta)  # never seen by any model here
