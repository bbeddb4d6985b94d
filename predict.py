"""v1 command, kept verbatim: `python predict.py --image face.jpg` is `flashivy predict --image face.jpg`."""
from flashivy.app.cli import run

if __name__ == "__main__":
    run("predict")
