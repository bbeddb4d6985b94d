"""Copy a crop folder, re-encoded as smaller JPEGs, optionally keeping a share of its groups.

Used to fit training data into the 64 MiB that travels to a lent GPU machine:
    python scripts/pack_crops.py data/dfdc_faces carry/dfdc --group-fraction 0.3 --quality 85
The kept groups follow the same rule as a recipe's ``group_fraction``, so the
packed copy holds exactly the groups that recipe trains and validates on.
"""
import argparse
import sys
from pathlib import Path

import cv2

from flashivy.datasets.crops import INDEX_NAME, read_index, write_index
from flashivy.datasets.samples import group_rank, rank_cut


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--group-fraction", type=float, default=1.0, help="keep groups ranked below this share")
    p.add_argument("--skip-fraction", type=float, default=0.0,
                   help="and at or above this share (to pack a second slice that travels separately)")
    p.add_argument("--quality", type=int, default=85)
    args = p.parse_args()
    low, cut = rank_cut(args.skip_fraction) if args.skip_fraction else "", rank_cut(args.group_fraction)
    rows = [r for r in read_index(args.src / INDEX_NAME) if r.path and low <= group_rank(r.group, -1) < cut]
    for r in rows:
        out = args.dst / r.path
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.imread(str(args.src / r.path)), [cv2.IMWRITE_JPEG_QUALITY, args.quality])
    write_index(args.dst / INDEX_NAME, rows)
    print(f"{len(rows)} crops -> {args.dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
