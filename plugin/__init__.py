"""photoplug: find your own photos by what they show (CLIP search for photo managers)."""
__version__ = "0.1.0"
