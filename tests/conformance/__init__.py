"""Real-socket conformance tests: every backend, as a child process, over loopback."""
