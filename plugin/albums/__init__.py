"""Albums and tags: definitions, vocabularies, per-photo membership, the user's corrections, write-back."""
