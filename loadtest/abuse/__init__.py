"""Hostile users against one server: ``python -m loadtest.abuse --help`` (issue 16, "Done means").

One ``notalabel serve`` process on loopback, ffmpeg publishing a test stream into a probe
room over RTMP, probe fans chatting there (each times its own message's round trip) and a
``/healthz`` poller. An idle phase first (and one last, to show how the machine drifted),
then one phase per attack, each for ``--seconds``
seconds (bounded in count too), from attacker addresses of their own in 127.0.0.0/8:

  blocked_terms    an owner's terms with the most '*' allowed, and 500-character messages
  lone_surrogates  chat frames with lone surrogates (JSON and MessagePack); guests keep joining
  wrong_passwords  a burst of wrong-password log-ins from several addresses
  whep_flood       WHEP offers that never connect, then a WHIP publish with the right key
  restream_ssrf    restream targets at loopback, private, metadata and our own ports
  empty_token      cross-origin room sockets with ?token= empty and a session cookie
  slowloris        half-open request heads and slow bodies
  guest_sockets    many guest room sockets from one address
  key_rotation     a second room live over RTMP, its key rotated: the old publisher is cut
  key_guessing     wrong WHIP and RTMP stream keys, then the right WHIP key
  spam             sign-ups from one address and rooms by one account, in a burst
  catalog          a song catalog filled past its cap, and a huge page asked for

For each phase: the probe's chat p99 and ``/healthz`` p99 beside the idle phase's, whether
the publisher dropped (ffmpeg exited, the room went offline, or its publish session changed),
what the attack's requests were answered, named checks, and the ``/metrics`` counters that
grew. The goal (issue 16): no attack moves either p99 by more than 50 ms and the publisher
never drops. Progress goes to stderr, the report (a markdown table) to stdout.
"""
