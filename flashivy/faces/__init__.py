"""Finding faces and cutting the crop that training and inference share: detectors, BlazeFace, box geometry."""
