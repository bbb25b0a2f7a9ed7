"""Plain folders: photos on disk, keywords in XMP sidecars, albums as folders of links."""
