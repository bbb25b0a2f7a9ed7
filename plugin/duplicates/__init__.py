"""Near-identical photos: each photo's look measured once (``looks``), groups of one shot
(``grouping``), the copy to keep (``best_copy``), and the use case the CLI and the page
share (``workflow``)."""
