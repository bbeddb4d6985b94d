"""From a file to a verdict: the ``Detector``, its backends (ONNX Runtime, PyTorch), quality warnings, the reading text, batches."""
