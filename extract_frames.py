"""v1 command, kept verbatim: `python extract_frames.py ...` is `flashivy frames ...`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("frames")
