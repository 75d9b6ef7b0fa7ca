"""RTMP in layers: handshake, chunk stream, control messages, AMF0, commands, FLV tags.

Every module except ``server`` and ``client`` is Sans-I/O: bytes in, events and
bytes out, no asyncio.  ``server`` and ``client`` are the thin asyncio layers.
"""
