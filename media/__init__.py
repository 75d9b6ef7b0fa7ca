"""Live media: the stream hub, RTMP ingest, LL-HLS packaging.

Entry points (see each module's docstring for its rules):

* :mod:`media.hub`: ``Hub`` (``start_publish``, ``end_publish``, ``stop``, ``get``,
  ``add_reader``, ``on_state_change``), ``Stream`` (``write``, ``set_track``, ``add_reader``,
  ``state_dict``), ``StreamState``.
* :mod:`media.units`: ``Unit``, ``Track``, ``StreamHeader``; timestamps on a 90 kHz clock.
* :mod:`media.reader`: ``Reader``, the bounded pull side of a stream.
* :mod:`media.rtmp.to_hub`: ``HubIngest``, the RTMP server's handler that publishes into the hub
  (``FlvToHub``: the one RTMP-to-hub conversion); :mod:`media.rtmp.from_hub`: ``FlvRemuxer``,
  the reverse, for the relay.
* :mod:`media.hls.http`: ``setup_routes(app, hub, room_exists)`` for ``/live/{slug}/...``.
"""
