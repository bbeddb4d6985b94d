"""Following faces through a video: each detection joins the person whose last box overlaps it most."""
from __future__ import annotations

from .boxes import iou
from .detectors import Face


def track(faces_per_frame: list[tuple[int, list[Face]]], min_iou: float = 0.3) -> list[list[tuple[int, Face]]]:
    """Greedy IoU tracker: each face joins the person whose last box overlaps it most."""
    tracks: list[list[tuple[int, Face]]] = []
    for frame, faces in faces_per_frame:
        taken: set[int] = set()
        for face in sorted(faces, key=lambda f: f.area, reverse=True):
            best, best_iou = None, min_iou
            for t, tr in enumerate(tracks):
                if t in taken or tr[-1][0] == frame:
                    continue
                overlap = iou(tr[-1][1].box, face.box)[0]
                if overlap >= best_iou:
                    best, best_iou = t, overlap
            if best is None:
                tracks.append([(frame, face)])
                taken.add(len(tracks) - 1)
            else:
                tracks[best].append((frame, face))
                taken.add(best)
    return tracks
