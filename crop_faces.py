"""v1 command, kept verbatim: `python crop_faces.py ...` is `flashivy crop ...`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("crop")
