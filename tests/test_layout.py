"""Labels and split groups read from a folder's layout and its metadata.csv."""
import cv2
import numpy as np

from flashivy.datasets.samples import load_source
from flashivy.media.layout import find_media


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 32, 3), 100, np.uint8))


def test_groups_come_from_the_metadata_group_column_else_source_video(tmp_path):
    for name in ("real/photo_a1.jpg", "real/photo_a2.jpg", "fake/flux_a1.jpg", "fake/sd_x.jpg"):
        _image(tmp_path / "people" / name)
    (tmp_path / "people" / "metadata.csv").write_text(
        "path,label,generator,person,source,group\n"
        "real/photo_a1.jpg,0,,a,press,person:a\nreal/photo_a2.jpg,0,,a,video,person:a\n"
        "fake/flux_a1.jpg,1,flux,a,FLUX,person:a\nfake/sd_x.jpg,1,sd21,,SDFD,sdfd:x\n")
    groups = {item.path.name: (item.label, item.group, item.method) for item in find_media(tmp_path / "people")}
    # one person's photos, video frames and generated portraits stay on one side of a split; a fake's method
    # is the generator that made it (what a leave-one-generator-out test holds back)
    assert groups == {"photo_a1.jpg": ("real", "person:a", ""), "photo_a2.jpg": ("real", "person:a", ""),
                      "flux_a1.jpg": ("fake", "person:a", "flux"), "sd_x.jpg": ("fake", "sdfd:x", "sd21")}
    assert {item.video for item in find_media(tmp_path / "people")} == {"photo_a1", "photo_a2", "flux_a1", "sd_x"}
    # the same folder as evaluation reads it (``evaluate --images``): groups to exclude, generators to report
    samples = {s.path.name: (s.label, s.group, s.method) for s in load_source(tmp_path / "people", "people")}
    assert samples == {name: (("real", "fake").index(label), group, method)
                       for name, (label, group, method) in groups.items()}
    for name in ("real/r1.jpg", "fake/f1.jpg"):
        _image(tmp_path / "dfdc" / name)
    (tmp_path / "dfdc" / "metadata.csv").write_text("path,label,source_video\nreal/r1.jpg,0,r1\nfake/f1.jpg,1,r1\n")
    assert {item.group for item in find_media(tmp_path / "dfdc")} == {"r1"}  # a fake with the real it came from
