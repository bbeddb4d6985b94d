"""Data on disk: the FaceForensics++ downloader, frames and face crops, training samples and splits by group."""
