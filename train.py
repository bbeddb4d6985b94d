"""v1 command, kept verbatim: `python train.py ...` is `flashivy train ...`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("train")
