# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small, strict SMTP client session for probing (stdlib only).

Not smtplib: every read and write is bounded by one deadline for the whole session, so a
tarpit that trickles bytes cannot hold a probe past its timeout; replies go through the
strict parser in _smtp_reply; each exchange can be recorded in a transcript. Commands are
sent one at a time and each reply is read before anything else is sent (no pipelining),
which is what XCLIENT requires.

Strict accounting: one command, one reply. Anything the server sends that was not asked
for (a second reply, data before the next command, plaintext queued behind a STARTTLS
reply), or a reply code that cannot answer the command sent, is a protocol error. A
``421`` at any point ends the session at once (``SmtpServiceClosing``, carrying the reply).
Every line that goes on the wire passes ``wire_problem`` first: one command per line.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import time
from typing import Dict, Iterable, List, Optional, Tuple, Union

from ansible_collections.mailops.xclient.plugins.module_utils._smtp_data import (
    DataPayload,
    ExtensionMissing,
    mail_parameters,
    prepare_message,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import (
    MAX_LINE,
    MalformedReply,
    Reply,
    ReplyReader,
    ehlo_keywords,
)

# How to use TLS: the choices of the modules' tls option, and the one check of it here,
# for Python callers too: a wrong word must never mean plaintext where TLS was meant.
TLS_MODES = ("none", "starttls", "smtps")


class SmtpSessionError(Exception):
    """A session that could not go on; ``kind`` says why in one word (the injector
    reports it with a deferred delivery)."""

    kind = "error"


class SmtpConnectError(SmtpSessionError):
    kind = "connect"


class SmtpTimeout(SmtpSessionError):
    kind = "timeout"


class SmtpTlsError(SmtpSessionError):
    kind = "tls"


class SmtpProtocolError(SmtpSessionError):
    kind = "protocol"


class SmtpClosed(SmtpSessionError):
    kind = "closed"


class SmtpServiceClosing(SmtpSessionError):
    """The server answered 421: it is closing the session. ``reply`` is that reply,
    ``verb`` the command it answered (``None`` for the greeting)."""

    kind = "closing"

    def __init__(self, message: str, reply: Reply, verb: Optional[str]) -> None:
        super().__init__(message)
        self.reply = reply
        self.verb = verb


class SmtpCommandError(SmtpSessionError):
    """A command line the session refuses to send (it would not be one command)."""

    kind = "command"


class SmtpExtensionMissing(SmtpSessionError):
    """The message or an address needs an extension (8BITMIME, SMTPUTF8) not offered."""

    kind = "extension"


def wire_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be (part of) one command line, or None. The one check every
    string that reaches the wire passes (the session refuses to send otherwise; input
    validation uses it to name the field before anything is sent)."""
    if any(char in text for char in "\r\n\0"):
        return "must not contain CR, LF or NUL (one command per line)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid text at character {exc.start} ({exc.reason})"
    return None


def word_problem(text: str) -> Optional[str]:
    """Why ``text`` cannot be one word of a command (a HELO name, an address), or None:
    ``wire_problem``, and no spaces or other control characters."""
    problem = wire_problem(text)
    if problem:
        return problem
    if text == "":
        return "must not be empty"
    for char in text:
        if char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            return f"must not contain {char!r} (one word, no spaces or control characters)"
    return None


# Reply codes that can answer each command (RFC 5321 4.3.2, plus 4xx/5xx generally): a
# code outside the set means the replies are out of step with the commands.
_ANSWERS_2XX: Dict[Optional[str], Tuple[int, ...]] = {
    None: (220,),  # the greeting
    "EHLO": (250,), "HELO": (250,), "MAIL": (250,), "RCPT": (250, 251, 252),
    "RSET": (250,), "NOOP": (250,), "QUIT": (221,), "XCLIENT": (220, 250),
    "STARTTLS": (220,), "DATA": (), ".": (250,),
}
_ANSWERS_3XX: Dict[Optional[str], Tuple[int, ...]] = {"DATA": (354,)}


def reply_fits(verb: Optional[str], code: int) -> bool:
    """Whether ``code`` can be the reply to ``verb`` (None: the greeting)."""
    if code // 100 in (4, 5):
        return True
    if code // 100 == 2:
        return code in _ANSWERS_2XX.get(verb, (code,))
    if code // 100 == 3:
        return code in _ANSWERS_3XX.get(verb, ())
    return False


def tls_name(host: str) -> str:
    """The name a certificate is matched against (and sent as SNI) for ``host`` as a user
    may write it: an IP address without brackets (``[127.0.0.1]``), a DNS name without
    the root's trailing dot (``mx.example.``), which TLS name matching does not know."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.upper().startswith("IPV6:"):
        text = text[5:]
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def make_tls_context(validate_certs: bool = True,
                     ca_file: Optional[str] = None) -> ssl.SSLContext:
    """A client TLS context: certificate and name verification on unless told otherwise."""
    if ca_file is not None:
        # A FIFO or a device would block the load forever: only a regular file.
        if not os.path.isfile(ca_file):
            raise ValueError(f"{ca_file} is not a regular file")
    context = ssl.create_default_context(cafile=ca_file)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpSession:
    """One SMTP connection. Use ``open()``, then ``command()``; ``close()`` always."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0,
                 source_address: Optional[str] = None, tls: str = "none",
                 tls_context: Optional[ssl.SSLContext] = None,
                 server_name: Optional[str] = None,
                 transcript: Optional[List[str]] = None) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.source_address = source_address
        self.tls = tls
        self.tls_context = tls_context
        self.server_name = tls_name(server_name or host)
        self.transcript = transcript
        self.deadline = time.monotonic() + timeout
        self.sock: Optional[socket.socket] = None
        self._buf = b""
        # EHLO keywords (upper case) of the last successful EHLO; {} after HELO or none.
        self.keywords: Dict[str, List[str]] = {}
        self.refused_greeting: Optional[str] = None  # the last EHLO/HELO, when refused
        # The code of the last reply read, other than a 421 (see ``quit``).
        self.last_code: Optional[int] = None

    # ------------------------------------------------------------------ plumbing
    def _connected(self) -> socket.socket:
        if self.sock is None:
            raise SmtpSessionError("not connected")
        return self.sock

    def _remaining(self, what: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SmtpTimeout(f"timed out after {self.timeout:g}s {what}")
        return left

    def _log(self, direction: str, line: str) -> None:
        if self.transcript is not None:
            self.transcript.append(f"{direction} {line}")

    def open(self) -> Reply:
        """Connect (TLS first for smtps) and read the greeting."""
        source = (self.source_address, 0) if self.source_address else None
        try:
            self.sock = socket.create_connection(
                (self.host, self.port), timeout=self._remaining("connecting"),
                source_address=source)
        except socket.timeout:
            raise SmtpTimeout(f"timed out after {self.timeout:g}s connecting to"
                              f" {self.host}:{self.port}") from None
        except OSError as exc:
            raise SmtpConnectError(f"cannot connect to {self.host}:{self.port}"
                                   f"{' from ' + source[0] if source else ''}:"
                                   f" {exc.strerror or exc}") from None
        local = self.sock.getsockname()
        self._log("--", f"connected to {self.host}:{self.port} from {local[0]}:{local[1]}")
        if self.tls == "smtps":
            self._start_tls()
        return self._answer(None, "reading the greeting")

    def _start_tls(self) -> None:
        context = self.tls_context or make_tls_context()
        self._nothing_pending("the TLS handshake")  # plaintext queued behind the 220
        sock = self._connected()
        try:
            sock.settimeout(self._remaining("in the TLS handshake"))
            self.sock = context.wrap_socket(sock, server_hostname=self.server_name)
        except socket.timeout:
            raise SmtpTimeout(f"timed out after {self.timeout:g}s in the TLS handshake") \
                from None
        except ssl.SSLCertVerificationError as exc:
            raise SmtpTlsError(f"TLS certificate of {self.server_name} not accepted:"
                               f" {exc.verify_message or exc}") from None
        except (ssl.SSLError, OSError) as exc:
            raise SmtpTlsError(f"TLS handshake with {self.host}:{self.port} failed: {exc}") \
                from None
        self._log("--", f"TLS established ({self.sock.version()})")

    def _readline(self, what: str) -> str:
        sock = self._connected()
        end = self._buf.find(b"\n")
        while end < 0:
            if len(self._buf) > MAX_LINE + 2:
                raise SmtpProtocolError(f"malformed reply {what}: line longer than"
                                        f" {MAX_LINE} characters")
            sock.settimeout(self._remaining(what))
            try:
                chunk = sock.recv(8192)
            except socket.timeout:
                raise SmtpTimeout(f"timed out after {self.timeout:g}s {what}") from None
            except ssl.SSLError as exc:
                raise SmtpTlsError(f"TLS error {what}: {exc}") from None
            except OSError as exc:
                raise SmtpClosed(f"connection lost {what}: {exc.strerror or exc}") from None
            if not chunk:
                if self._buf:
                    raise SmtpProtocolError(f"server closed the connection {what}, in the"
                                            f" middle of a line: {self._buf[:80]!r}")
                raise SmtpClosed(f"server closed the connection {what}")
            start = len(self._buf)
            self._buf += chunk
            end = self._buf.find(b"\n", start)
        raw, self._buf = self._buf[:end], self._buf[end + 1:]
        return raw.rstrip(b"\r").decode("utf-8", "replace")

    def read_reply(self, what: str = "reading a reply") -> Reply:
        reader = ReplyReader()
        while True:
            line = self._readline(what)
            self._log("S:", line)
            try:
                reply = reader.feed(line)
            except MalformedReply as exc:
                raise SmtpProtocolError(f"malformed reply {what}: {exc}") from None
            if reply is not None:
                return reply

    def _nothing_pending(self, before: str) -> None:
        """Raise SmtpProtocolError if the server sent anything not yet asked for."""
        sock = self._connected()
        extra = self._buf
        try:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not pending:
                readable, _w, _x = select.select([sock], [], [], 0)
                pending = bool(readable)
            if pending:
                sock.settimeout(0)
                try:
                    chunk = sock.recv(512)
                except (BlockingIOError, ssl.SSLWantReadError, socket.timeout):
                    chunk = None
                if chunk == b"" and not extra:
                    raise SmtpClosed(f"server closed the connection before {before}")
                extra += chunk or b""
        except (OSError, ValueError) as exc:
            if isinstance(exc, SmtpSessionError):
                raise
            raise SmtpClosed(f"connection lost before {before}: {exc}") from None
        if extra:
            self._buf = b""
            text = extra[:120].decode("utf-8", "replace")
            self._log("S:", text.rstrip("\r\n"))
            if text.startswith("421 ") or text.startswith("421-"):
                # Postfix says so unasked when it gives up on an idle client
                reply = Reply(code=421, lines=[text.split("\n")[0][4:].rstrip("\r")])
                self.close()
                raise SmtpServiceClosing(f"the server closed the session with"
                                         f" {reply.render()} (unasked, before {before})",
                                         reply, None)
            raise SmtpProtocolError(f"the server sent data nobody asked for before {before}"
                                    f" (one command, one reply): {text!r}")

    def _answer(self, verb: Optional[str], what: str) -> Reply:
        """Read the reply to ``verb``; check that it can answer it; 421 ends the session."""
        reply = self.read_reply(what)
        if reply.code != 421:
            self.last_code = reply.code
        if reply.code == 421:
            self._log("--", "the server is closing the session (421)")
            self.close()
            raise SmtpServiceClosing(
                f"the server closed the session with {reply.render()}"
                f" ({'greeting' if verb is None else 'reply to ' + verb})", reply, verb)
        if not reply_fits(verb, reply.code):
            raise SmtpProtocolError(
                f"reply {reply.render()!r} cannot answer"
                f" {'the greeting' if verb is None else verb}: the replies are out of step"
                " with the commands")
        return reply

    def send_line(self, line: str, shown: Optional[str] = None) -> None:
        problem = wire_problem(line)
        if problem:
            raise SmtpCommandError(f"refusing to send {line.split(' ', 1)[0][:20]!r}:"
                                   f" the command line {problem}")
        verb = line.split(" ", 1)[0].upper()
        self._nothing_pending(f"sending {verb}")
        sock = self._connected()
        self._log("C:", line if shown is None else shown)
        try:
            sock.settimeout(self._remaining(f"sending {verb}"))
            sock.sendall(line.encode("utf-8") + b"\r\n")
        except socket.timeout:
            raise SmtpTimeout(f"timed out after {self.timeout:g}s sending a command") \
                from None
        except OSError as exc:
            raise SmtpClosed(f"connection lost sending {verb}:"
                             f" {exc.strerror or exc}") from None

    # ------------------------------------------------------------------ commands
    def command(self, line: str, shown: Optional[str] = None) -> Reply:
        """Send one command and wait for its whole reply (see ``_answer``)."""
        verb = line.split(" ", 1)[0].upper()
        self.send_line(line, shown)
        return self._answer(verb, f"waiting for the reply to {verb}")

    def starttls(self) -> Reply:
        reply = self.command("STARTTLS")
        if reply.code == 220:
            self._start_tls()
            self.keywords = {}
        return reply

    def ehlo(self, name: str) -> Reply:
        """EHLO; records the offered keywords in ``keywords`` when it succeeds."""
        reply = self.command(f"EHLO {name}")
        self.keywords = ehlo_keywords(reply) if reply.klass == 2 else {}
        self.refused_greeting = None if reply.klass == 2 else reply.render()
        return reply

    def helo(self, name: str) -> Reply:
        """HELO: no extensions afterwards."""
        self.keywords = {}
        reply = self.command(f"HELO {name}")
        self.refused_greeting = None if reply.klass == 2 else reply.render()
        return reply

    def mail(self, sender: str, payload: Optional[DataPayload] = None,
             recipients: Iterable[str] = ()) -> Reply:
        """MAIL FROM with BODY=8BITMIME / SMTPUTF8 when the message (``payload``) or an
        envelope address needs them. Raises SmtpExtensionMissing, before sending anything,
        when one is needed and the last EHLO did not offer it."""
        try:
            params = mail_parameters(self.keywords, payload, [sender, *recipients])
        except ExtensionMissing as exc:
            why = (f" (the last greeting was refused - {self.refused_greeting} - so no"
                   " extension is in force)") if self.refused_greeting else ""
            raise SmtpExtensionMissing(f"{exc}{why}") from None
        return self.command(" ".join([f"MAIL FROM:<{sender}>", *params]))

    def data(self, message: Union[DataPayload, str, bytes]
             ) -> Tuple[Reply, Optional[Reply]]:
        """DATA; if the server says 354, send the message (see _smtp_data) and the final
        ``.`` line. Returns both replies. A str/bytes message that SMTP cannot carry
        raises _smtp_data.MessageError before DATA is sent."""
        payload = message if isinstance(message, DataPayload) else prepare_message(message)
        first = self.command("DATA")
        if first.code != 354:
            return first, None
        self._nothing_pending("sending the message")
        sock = self._connected()
        wire = payload.payload + b".\r\n"
        self._log("C:", f"<message: {payload.lines} lines, {len(wire)} octets>")
        try:
            sock.settimeout(self._remaining("sending the message"))
            sock.sendall(wire)
        except socket.timeout:
            raise SmtpTimeout(f"timed out after {self.timeout:g}s sending the message") \
                from None
        except OSError as exc:
            raise SmtpClosed(f"connection lost sending the message: {exc}") from None
        return first, self._answer(".", "waiting for the reply to the message")

    def quit(self, strict: bool = False) -> None:
        """RSET and QUIT politely; a server that already hung up, or says 421, is fine.

        ``strict`` (the probe): the replies are still counted - a reply out of step at
        RSET or QUIT, or anything the server sends after its reply to QUIT before it
        closes, raises SmtpProtocolError: a reply that came late, doubled or early
        earlier in the session shows here, and must not be passed over. So does a 421
        here right after a positive reply: Postfix closes with 421 after an error reply
        (too many errors) or an idle client, never after a 2xx - but a 2xx that came late
        is read as the answer to the next command while its real answer, a 421, waits."""
        if self.sock is None:
            return
        try:
            self.command("RSET")
            self.command("QUIT")
            if strict:
                self._expect_close("after the reply to QUIT")
        except (SmtpProtocolError, SmtpCommandError):
            if strict:
                raise
        except SmtpServiceClosing as exc:
            if strict and self.last_code is not None and self.last_code // 100 in (2, 3):
                raise SmtpProtocolError(
                    f"{exc}, right after a {self.last_code} reply: the replies are out of"
                    " step with the commands (a positive reply that came late, its"
                    " command's real answer a 421)") from None
        except SmtpSessionError:
            pass

    # How long to wait for the server to close after 221 (it closes at once; a server
    # that keeps the connection open is not an error, only data is).
    CLOSE_GRACE = 2.0

    def _expect_close(self, what: str) -> None:
        """Read until the server closes: anything it still sends is a reply nobody
        asked for. Bounded by the session's deadline and CLOSE_GRACE."""
        sock = self._connected()
        extra = self._buf
        until = min(self.deadline, time.monotonic() + self.CLOSE_GRACE)
        while not extra:
            left = until - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                chunk = sock.recv(512)
            except (socket.timeout, ssl.SSLError, OSError):
                return
            if not chunk:
                return
            extra += chunk
        self._buf = b""
        text = extra[:120].decode("utf-8", "replace")
        self._log("S:", text.rstrip("\r\n"))
        raise SmtpProtocolError(f"the server sent data nobody asked for {what} (one"
                                f" command, one reply: an earlier reply came late or"
                                f" twice): {text!r}")

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
