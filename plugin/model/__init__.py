"""The model: turns pixels and words into vectors (open_clip, exported towers, runtimes)."""
