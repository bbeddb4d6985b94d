"""The text a person reads comes from the checkpoint's own record of what it was tested on and trained on."""
from flashivy.inference import reading as rd
from flashivy.models.checkpoint import DEFAULT_CHECKPOINT, read_metadata


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
    assert any("FaceSwap" in k for k in unseen) and any("StyleGAN" in k for k in unseen)
    assert any("other generators" in k for k in unseen)  # a generator nobody here has: never seen by any head
    note = rd.cli_note(meta)
    assert "DFDC (frame AUC 0.90, 10 real + 10 fake faces)" in note and "confidently wrong" in note
    text = rd.reading(0.97, 0.5, meta)
    assert "97 % likely to be manipulated" in text and "Never trained or tested on" in text and "not proof" in text


def test_the_shipped_model_states_its_own_coverage():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    rows = rd.tested_on(meta)
    assert rows and all(0 <= r["auc"] <= 1 if r["n_fake"] else 0 <= r["false_positive_rate"] <= 1 for r in rows)
    assert "FaceSwap" in rd.cli_note(meta)  # never seen by any model here


def test_a_source_of_reals_only_is_said_as_the_share_called_fake_and_teaches_no_kind():
    """FFHQ photos trained the face-swap head as real: they tell how often real portraits are called fake,
    and do not make StyleGAN faces a kind the face-swap head has seen."""
    report = {"dfdc": _report(0.9, 100, 90), "synthetic": _report(None, 150, 0) | {"false_positive_rate": 0.04}}
    rows = rd.tested_on_rows(report)
    assert rows[1]["false_positive_rate"] == 0.04 and rows[1]["auc"] is None
    meta = {"data": {"train": {"dfdc": {"fake": {"crops": 9}, "real": {"crops": 9}},
                               "synthetic": {"real": {"crops": 700}}}}, "tested_on": rows}
    assert "FFHQ portrait photos (4% of 150 called fake)" in rd.cli_note(meta)
    assert rd.trained_methods(meta) == {"dfdc"}
    assert any("StyleGAN" in k for k in rd.never_seen(meta))
