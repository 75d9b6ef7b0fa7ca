"""LL-HLS: CMAF fMP4 boxes, the segmenter, playlists and the HTTP handlers."""
