"""PyAV bridges run once per stream: Opus <-> AAC audio, VP8 -> H.264 video."""
