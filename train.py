"""v1 command, kept verbatim: `python train.py ...` is `flashivy train ...`."""
from flashivy.cli import run

if __name__ == "__main__":
    run("train")
