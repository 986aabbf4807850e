"""I/O backends for sansio-chat: they move bytes between sockets and the core.

Every protocol decision is the core's (``sansio_chat``); a backend only reads,
writes, closes, and reports what happened, so all backends behave the same.
"""
