"""WebRTC ingest (WHIP, RFC 9725) and playback (WHEP) over aiortc, as readers and writers of
the stream hub. H.264 passes through both ways without decoding; see :mod:`media.webrtc.taps`."""
