"""Media: decoding photos, RAW files and video frames, and thumbnails. Adapters may use it."""
