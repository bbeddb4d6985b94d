"""v1 command, kept verbatim: `python faceforensics_download_v4.py ...` is `flashivy download ...`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("download")
