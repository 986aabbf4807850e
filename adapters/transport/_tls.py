"""TLS as a sans-IO layer: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``.

Ciphertext goes in with ``receive_data``; the handshake and the decryption
happen only when the stack pulls (``next_event``), so bytes the core is not
ready for stay encrypted in the incoming BIO.  Plaintext to send is queued
and encrypted in one ``SSLObject.write`` per flush (``data_to_send``),
whatever number of messages it holds.  No socket, no clock: the handshake
deadline is a number the stack compares with the time it is given.

``TlsCertificates`` holds the server's certificate and key; ``reload``
swaps in new contexts for connections made afterwards, while those
already open keep the context they were made with.
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass

#: Plaintext asked of OpenSSL per pull: one TLS record at most.
READ_SIZE = 16 * 1024
#: First bytes that say a client speaks plain text (a request line, a command, a typed line) to a TLS
#: port: every TLS connection begins with a handshake record, content type 0x16 (RFC 8446, 5.1).
_PLAIN_TEXT_STARTS = frozenset(range(0x20, 0x7F)) | {ord("\t"), ord("\r"), ord("\n")}
#: What a listener serving HTTP answers by ALPN: HTTP/1.1, the one version its HTTP layer speaks (a
#: browser offering ``h2, http/1.1`` settles on it). A byte-stream listener (text, IRC) names none.
HTTP_ALPN = ("http/1.1",)


class TlsSetupError(Exception):
    """The certificate or key cannot be used; the message is one line for the operator."""


class TlsCertificates:
    """The server's certificate chain and private key (PEM files), reloadable.

    The contexts are the standard library's secure server defaults
    (``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)``) with TLS 1.2
    as the minimum and client-initiated renegotiation refused: ``context``
    for a byte stream, ``http_context`` (ALPN ``http/1.1``) for HTTP.  A
    client that offers only protocols the server lacks gets no ALPN answer,
    and the handshake goes on.
    """

    __slots__ = ("_cert_file", "_context", "_http_context", "_key_file")

    def __init__(self, cert_file: str, key_file: str | None = None) -> None:
        self._cert_file = cert_file
        self._key_file = key_file
        self._context, self._http_context = self._load(), self._load(HTTP_ALPN)

    @property
    def context(self) -> ssl.SSLContext:
        """The context for the next connection of a byte-stream listener (text, IRC): no ALPN."""
        return self._context

    @property
    def http_context(self) -> ssl.SSLContext:
        """The context for the next connection of a listener serving HTTP (the page, the WebSocket)."""
        return self._http_context

    @property
    def cert_file(self) -> str:
        return self._cert_file

    def reload(self) -> None:
        """Read the files again (they were renewed); on error the old contexts stay and it raises."""
        self._context, self._http_context = self._load(), self._load(HTTP_ALPN)

    def _load(self, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_RENEGOTIATION
        if alpn:
            context.set_alpn_protocols(alpn)
        try:
            context.load_cert_chain(self._cert_file, self._key_file, password=_no_pass_phrase)
        except _PassPhraseAskedError as exc:
            raise TlsSetupError(
                f"cannot use TLS certificate {self._cert_file} with key {self._key_file or self._cert_file}: "
                "the key is encrypted (give it without a pass phrase)"
            ) from exc
        except ssl.SSLError as exc:
            raise TlsSetupError(
                f"cannot use TLS certificate {self._cert_file} with key {self._key_file or self._cert_file}: "
                f"{self._what_will_not_do(exc)}"
            ) from exc
        except OSError as exc:
            unreadable = "certificate" if _certificate_problem(self._cert_file) is not None else "key"
            path = self._cert_file if unreadable == "certificate" else self._key_file or self._cert_file
            raise TlsSetupError(f"cannot read TLS {unreadable} {path}: {exc.strerror or exc}") from exc
        return context

    def _what_will_not_do(self, exc: ssl.SSLError) -> str:
        """In the operator's words: OpenSSL says ``PEM lib`` whichever file holds nothing it can use."""
        if exc.reason in _REASONS:
            return _REASONS[exc.reason]
        if exc.reason not in _NOTHING_READ:
            return _describe(exc)
        if _certificate_problem(self._cert_file) is not None:
            return f"no PEM certificate in {self._cert_file}"
        return f"no PEM private key in {self._key_file or self._cert_file}"


class _PassPhraseAskedError(Exception):
    """OpenSSL asked for the key's pass phrase: the key is encrypted."""


def _no_pass_phrase() -> bytes:
    """Answer OpenSSL's request for a pass phrase, which it would otherwise put to the terminal.

    A server started from a terminal (or sent SIGHUP while attached to one)
    would wait there for someone to type it, serving nobody meanwhile.
    """
    raise _PassPhraseAskedError


#: OpenSSL's reasons a readable pair will not do, as the operator reads them.
_REASONS = {"KEY_VALUES_MISMATCH": "the key does not match the certificate"}
#: How OpenSSL says it found nothing it could use in one of the files, without saying which.
_NOTHING_READ = frozenset({None, "PEM_LIB", "NO_START_LINE"})


def _certificate_problem(cert_file: str) -> OSError | None:
    """Why OpenSSL finds no certificate in ``cert_file`` (unreadable, or none in it), or None if it does."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert_file)  # reads every certificate in the file, nothing else
    except OSError as exc:  # ssl.SSLError too
        return exc
    return None


class TlsState(enum.Enum):
    HANDSHAKING = "handshaking"
    OPEN = "open"  # application data flows both ways
    PEER_CLOSED = "peer closed"  # their close_notify came; we may still send
    CLOSED = "closed"  # our close_notify is queued: nothing more goes out
    FAILED = "failed"  # broken: only an alert OpenSSL queued may still go out
    NOT_TLS = "not TLS"  # the peer speaks plain text: the stack goes on without this layer


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOpened:
    """The handshake is complete."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Plaintext:
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsClosed:
    """The peer's close_notify: an orderly end of its data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFailed:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotTls:
    """The peer began in plain text, not with a handshake: these are its bytes so far, unread by OpenSSL.

    Someone pointed a client without TLS at a TLS port (``http://`` for
    ``https://``, an IRC client with TLS off, ``nc``).  The stack can then
    tell them so in words they read, where a handshake failure would only
    close the connection on them.
    """

    data: bytes


TlsEvent = TlsOpened | Plaintext | TlsClosed | TlsFailed | NotTls


class TlsLayer:
    """The server side of one TLS connection, in memory."""

    __slots__ = (
        "_deadline",
        "_eof",
        "_fresh",
        "_incoming",
        "_outgoing",
        "_pending",
        "_plain",
        "_ssl",
        "_timed_out",
        "state",
    )

    def __init__(self, context: ssl.SSLContext, *, deadline: float) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._pending: list[bytes] = []  # plaintext waiting for the next flush
        self._deadline = deadline
        self._eof = False
        self._timed_out = False
        self._fresh = True  # no byte received yet
        self._plain = b""  # the peer's bytes, when it began in plain text
        self.state = TlsState.HANDSHAKING

    @property
    def deadline(self) -> float | None:
        """When the handshake must be done by, while it is not."""
        return self._deadline if self.state is TlsState.HANDSHAKING else None

    def receive_data(self, data: bytes) -> None:
        if self._eof or not data:
            return
        if self.state is TlsState.NOT_TLS:
            self._plain += data
            return
        if self._fresh:  # the first byte says whether this is TLS at all
            self._fresh = False
            if data[0] in _PLAIN_TEXT_STARTS:
                self._plain = data
                self.state = TlsState.NOT_TLS
                return
        self._incoming.write(data)

    def receive_eof(self) -> None:
        if not self._eof:
            self._eof = True
            self._incoming.write_eof()

    def expire(self, now: float) -> None:
        """Past the deadline, the handshake fails at the next pull."""
        if self.state is TlsState.HANDSHAKING and now >= self._deadline:
            self._timed_out = True

    def next_event(self) -> TlsEvent | None:
        """Advance the handshake, or decrypt one record; None when more ciphertext is needed."""
        if self.state is TlsState.HANDSHAKING:
            if self._timed_out:
                return self._fail("TLS handshake timed out")
            return self._handshake()
        if self.state is TlsState.OPEN:
            return self._read()
        if self.state is TlsState.NOT_TLS and self._plain:
            data, self._plain = self._plain, b""
            return NotTls(data=data)
        return None

    def _handshake(self) -> TlsEvent | None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLEOFError:
            return self._fail("closed during the TLS handshake")
        except ssl.SSLError as exc:
            return self._fail(f"TLS handshake failed: {_describe(exc)}")
        self.state = TlsState.OPEN
        return TlsOpened()

    def _read(self) -> TlsEvent | None:
        try:
            data = self._ssl.read(READ_SIZE)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLZeroReturnError:  # pragma: no cover - reported as an empty read here
            data = b""
        except ssl.SSLEOFError:
            return self._fail("TLS connection truncated (closed without close_notify)")
        except ssl.SSLError as exc:
            return self._fail(f"TLS error: {_describe(exc)}")
        if not data:  # the peer's close_notify
            self.state = TlsState.PEER_CLOSED
            return TlsClosed()
        return Plaintext(data=data)

    def send(self, chunks: list[bytes]) -> None:
        """Queue plaintext; it is encrypted at the next ``data_to_send``."""
        if self.state is not TlsState.CLOSED and self.state is not TlsState.FAILED:
            self._pending.extend(chunks)

    @property
    def has_output(self) -> bool:
        """Whether ``data_to_send`` has anything: records OpenSSL wrote, or plaintext to encrypt."""
        return self._outgoing.pending > 0 or bool(self._pending)

    def encrypt(self, data: bytes) -> bytes:
        """``send([data])`` then ``data_to_send()``, without the queue: what a flush does most."""
        if data and not self._pending and (self.state is TlsState.OPEN or self.state is TlsState.PEER_CLOSED):
            self._ssl.write(data)
            return self._outgoing.read()
        if data:
            self.send([data])
        return self.data_to_send()

    def data_to_send(self) -> bytes:
        """The ciphertext to write: handshake records, then the queued plaintext encrypted in one go."""
        self._encrypt_pending()
        return self._outgoing.read()

    def close(self) -> None:
        """Encrypt what is pending, then queue close_notify (a broken connection gets none)."""
        if self.state is TlsState.OPEN or self.state is TlsState.PEER_CLOSED:
            self._encrypt_pending()
            try:
                self._ssl.unwrap()
            except ssl.SSLWantReadError:
                pass  # close_notify is written; nobody waits for the peer's answer
            except ssl.SSLError:  # pragma: no cover - nothing more to say on a broken link
                pass
        if self.state is not TlsState.FAILED:
            self.state = TlsState.CLOSED

    def _encrypt_pending(self) -> None:
        pending = self._pending
        if pending and (self.state is TlsState.OPEN or self.state is TlsState.PEER_CLOSED):
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self._ssl.write(data)  # a memory BIO takes any amount in one call

    def _fail(self, reason: str) -> TlsFailed:
        self.state = TlsState.FAILED
        self._pending.clear()
        return TlsFailed(reason=reason)


def _describe(exc: ssl.SSLError) -> str:
    """A short, single-line account of an OpenSSL error."""
    return str(exc.reason or exc.strerror or exc.__class__.__name__).replace("\n", " ")
