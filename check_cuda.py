"""v1 command, kept verbatim: `python check_cuda.py ...` is `flashivy check-cuda ...`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("check-cuda")
