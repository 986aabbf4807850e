"""I/O backends for sansio-chat: they move bytes between sockets and the core.

Every protocol decision is the core's (``sansio_chat``); a backend only waits,
reads, writes and reports what happened to the shared driver (``_driver``),
which decides everything else once for all of them, so all backends behave
the same; it also runs each connection's transport layers (``transport/``:
TLS, HTTP serving the page of ``web/``, WebSocket).  This folder is installed
as the package ``sansio_chat_adapters``.
"""
