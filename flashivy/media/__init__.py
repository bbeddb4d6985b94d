"""Reading and writing media: video decoding (PyAV), images (upright, size-checked), folder layouts, PNG sheets."""
