# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Injecting one downloaded message into Postfix as its original client (stdlib only).

The dialogue: EHLO (own name), XCLIENT with the identity from the trusted Received: header
(_received), EHLO again with that HELO (HELO when the upstream spoke plain SMTP and the
message needs no extension), MAIL, RCPT, DATA (_smtp_data prepares the octets). One
``Delivery`` says how it ended:

- ``accepted``: Postfix queued it for every recipient;
- ``partial``: queued for some recipients, refused (5xx) for the others;
- ``deferred``: no connection, a 4xx, or a setup problem (XCLIENT not offered or not
  authorized): nothing was queued, the message must stay upstream and be retried;
- ``rejected``: Postfix refused the message (5xx), or SMTP cannot carry it.

``deferred`` is also the answer when any recipient gets a 4xx: the others are not sent the
message either, so a later retry cannot deliver it twice.

The xclient-inject command (``main``) maps these to sysexits for fetchmail / getmail MDAs
and applies ``--on-reject``; ``quarantine_message`` keeps the envelope in the file so the
xclient_inject module can re-inject it later (``split_quarantined``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import socket
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.mailops.xclient.plugins.module_utils._maildir import (
    MAX_MESSAGE,
    MaildirError,
    MessageRef,
    Messages,
    UnsafeFile,
    maildir_deliver,
)
from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    UNAVAILABLE_IDENTITY,
    Identity,
    Network,
    ReceivedError,
    header_fields,
    identity_for,
    internal_networks,
)
from ansible_collections.mailops.xclient.plugins.module_utils._retry_ledger import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_ATTEMPTS,
    RetryLedger,
    RetryPolicy,
    message_key,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_data import (
    MessageError,
    prepare_message,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import (
    Reply,
    ehlo_keywords,
    xclient_attributes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    SmtpExtensionMissing,
    SmtpSession,
    SmtpSessionError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    XclientValueError,
    build_commands,
    normalize_attributes,
    validate_text,
)

# sysexits.h
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_TEMPFAIL = 75

UNPARSED_CHOICES = ("tempfail", "unavailable")
ON_REJECT_WORDS = ("discard", "keep")
# Headers a quarantined file starts with: the envelope and why Postfix refused it.
Q_FROM = "X-Xclient-Inject-Envelope-From"
Q_TO = "X-Xclient-Inject-Envelope-To"
Q_WHY = "X-Xclient-Inject-Rejected"
DEFAULT_STATE_DIR = "/var/lib/xclient-inject"


class IdentityUnavailable(Exception):
    """No trusted Received: header could be parsed, and --unparsed is tempfail."""


class UsageError(ValueError):
    """Bad arguments; the message names the option."""


# The fetch_inject role's injection listener (fetch_inject_listener_address/_port): where
# the module and the command inject unless told otherwise.
INJECT_SERVER = "127.0.0.1"
INJECT_PORT = 10027


@dataclass
class Target:
    """The injection listener and how to greet it."""

    server: str = INJECT_SERVER
    port: int = INJECT_PORT
    timeout: float = 60.0
    helo: str = field(default_factory=socket.gethostname)
    source_address: Optional[str] = None


@dataclass
class Delivery:
    """How one injection ended (see the module docstring)."""

    outcome: str
    stage: str
    reply: str
    accepted: List[str] = field(default_factory=list)
    refused: Dict[str, str] = field(default_factory=dict)  # recipient -> 5xx reply
    transcript: List[str] = field(default_factory=list)
    # A deferral that says something about this message (a 4xx to it, its identity
    # refused), not about this host's setup or the network: it counts towards max_attempts.
    counts: bool = True

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "stage": self.stage, "reply": self.reply,
                "accepted": list(self.accepted), "refused": dict(self.refused)}


# ---------------------------------------------------------------------------- identity
def resolve_identity(message: bytes, received_by: Optional[str], unparsed: str,
                     networks: Sequence[Network] = ()
                     ) -> Tuple[Identity, Optional[str], Optional[str]]:
    """(identity, the trusted header unfolded or None, why it was not parsed or None), by
    the trust path of _received (``networks``: the upstream's internal networks).

    Raises IdentityUnavailable when it cannot be parsed and ``unparsed`` is tempfail."""
    header = None
    try:
        identity, header = identity_for(message, received_by, networks)
        normalize_attributes(identity.xclient())  # Postfix would accept every value
        return identity, header, None
    except (ReceivedError, XclientValueError) as exc:
        problem = f"the trusted Received: header: {exc}" if header else str(exc)
        if unparsed == "tempfail":
            raise IdentityUnavailable(problem) from None
        return UNAVAILABLE_IDENTITY, header, problem


def dry_run_json(identity: Optional[Identity], header: Optional[str],
                 problem: Optional[str] = None) -> str:
    out: dict = {"xclient": identity.as_dict() if identity else None, "received": header}
    if problem:
        out["error"] = problem
    return json.dumps(out, ensure_ascii=False)


# ---------------------------------------------------------------------------- envelope
# RFC 5321 Mailbox (RFC 6531: UTF-8 allowed where letters are): Dot-string or Quoted-string
# local part, then a domain or an address literal. Postfix also takes a bare local part.
_U8 = "\u00a0-\ud7ff\ue000-\U0010ffff"  # non-ASCII, no C1 controls, no surrogates
_ATOM = f"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\\-{_U8}]+"
_QUOTED = f'"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e{_U8}]|\\\\[\\x20-\\x7e])*"'
_LABEL = f"[A-Za-z0-9{_U8}](?:[A-Za-z0-9\\-{_U8}]*[A-Za-z0-9{_U8}])?"
_MAILBOX = re.compile(
    f"(?P<local>{_ATOM}(?:\\.{_ATOM})*|{_QUOTED})"
    f"(?:@(?:(?P<domain>{_LABEL}(?:\\.{_LABEL})*)|\\[(?P<literal>[^\\[\\]\\\\]*)\\]))?")
MAX_PATH = 256  # RFC 5321 4.5.3.1.3, without the angle brackets


def mailbox_problem(address: str, null_ok: bool) -> Optional[str]:
    """Why ``address`` cannot go between the angle brackets of MAIL FROM / RCPT TO as one
    RFC 5321 mailbox (quoted local parts like ``"a b"@example.com`` included), or None."""
    if address == "":
        return None if null_ok else "empty"
    if len(address.encode("utf-8", "surrogateescape")) > MAX_PATH:
        return f"longer than {MAX_PATH} octets"
    match = _MAILBOX.fullmatch(address)
    if not match:
        return ("not an RFC 5321 address (a local part - dot-atoms or one quoted string -"
                " then @domain; no spaces outside quotes, no angle brackets, no parameters,"
                " no control characters)")
    literal = match.group("literal")
    if literal is not None:
        try:
            if literal[:5].upper() == "IPV6:":
                ipaddress.IPv6Address(literal[5:])
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            return f"[{literal}] is not an address literal"
    return None


def check_address(field_name: str, address: str, null_ok: bool = False) -> str:
    """``address`` if it is one RFC 5321 mailbox, else UsageError naming the field."""
    problem = mailbox_problem(address, null_ok)
    if problem:
        raise UsageError(f"{field_name}: {address!r}: {problem}")
    return address


def return_path(message: bytes) -> Optional[str]:
    """The address of the first Return-Path: header ('' for <>), or None."""
    for name, value in header_fields(message):
        if name.lower() == "return-path":
            value = value.strip()
            match = re.fullmatch(r"<([^<>]*)>", value)
            return match.group(1) if match else value
    return None


# ---------------------------------------------------------------------------- SMTP
def _klass_outcome(reply: Reply) -> str:
    return "deferred" if reply.klass == 4 else "rejected"


def _setup_refusal(reply: Reply) -> bool:
    """An XCLIENT refusal that is about this host's setup, not about the message:
    not authorized (550 5.7.0), syntax (5.5.x, 501-504)."""
    return (reply.code in (500, 501, 502, 503, 504) or (reply.enhanced or "").startswith("5.5")
            or reply.enhanced == "5.7.0")


def _greet(session: SmtpSession, verb: str, name: str) -> Reply:
    if verb == "HELO":
        return session.helo(name)
    reply = session.ehlo(name)
    if reply.code >= 500 and reply.code != 554:
        reply = session.helo(name)
    return reply


def deliver(message: bytes, identity: Identity, sender: str, recipients: List[str],
            target: Target) -> Delivery:
    """Inject one message; never raises for server or network trouble."""
    transcript: List[str] = []
    try:
        prepared = prepare_message(message)
    except MessageError as exc:
        return Delivery("rejected", "message", f"SMTP cannot carry the message: {exc}")
    try:
        commands = build_commands(normalize_attributes(identity.xclient()))
    except XclientValueError as exc:  # resolve_identity checked it; a caller that did not
        return Delivery("deferred", "xclient", f"identity not usable: {exc}")
    session = SmtpSession(target.server, target.port, timeout=target.timeout,
                          source_address=target.source_address, transcript=transcript)
    try:
        delivery = _dialogue(session, prepared, identity, commands, sender, recipients,
                             target)
        if delivery.outcome != "deferred" or delivery.stage != "connect":
            session.quit()
    except SmtpExtensionMissing as exc:  # nothing was sent for it: the message is the cause
        delivery = Delivery("rejected", "message", str(exc))
        session.quit()
    except SmtpSessionError as exc:
        delivery = Delivery("deferred", exc.kind, str(exc), counts=False)
    except OSError as exc:
        delivery = Delivery("deferred", "network", f"network error: {exc}", counts=False)
    finally:
        session.close()
    delivery.transcript = transcript
    return delivery


def _dialogue(session: SmtpSession, prepared, identity: Identity, commands: List[str],
              sender: str, recipients: List[str], target: Target) -> Delivery:
    greeting = session.open()
    if greeting.klass != 2:
        return Delivery("deferred", "connect", greeting.render(), counts=False)
    ehlo = _greet(session, "EHLO", target.helo)
    if ehlo.klass != 2:
        return Delivery("deferred", "ehlo", ehlo.render(), counts=False)
    offered = xclient_attributes(ehlo_keywords(ehlo))
    if offered is None:
        return Delivery("deferred", "xclient",
                        f"{target.server}:{target.port} does not offer XCLIENT to this host:"
                        " authorize it on the injection listener (smtpd_authorized_xclient_hosts)",
                        counts=False)
    wanted = [part.split("=", 1)[0] for command in commands for part in command.split()[1:]]
    missing = [name for name in wanted if name not in offered]
    if missing:
        return Delivery("deferred", "xclient", "the server does not offer XCLIENT "
                        + " ".join(missing))
    for command in commands:
        reply = session.command(command)
        if reply.klass != 2:
            if reply.klass == 5 and not _setup_refusal(reply):
                return Delivery("rejected", "xclient", reply.render())
            # not authorized (5.7.0) is this host's setup; a syntax refusal (501) of a
            # value, e.g. an IPv6 ADDR on an IPv4-only Postfix, is about this message
            return Delivery("deferred", "xclient", reply.render(),
                            counts=reply.enhanced != "5.7.0")
    # Greet again as the client did. EHLO would turn a declared PROTO=SMTP into ESMTP, so
    # HELO then, unless the message needs 8BITMIME / SMTPUTF8 (which only EHLO offers).
    plain = identity.proto == "SMTP" and not (
        prepared.needs_8bitmime or prepared.needs_smtputf8
        or any(not a.isascii() for a in [sender, *recipients]))
    greeted = _greet(session, "HELO" if plain else "EHLO", _helo_word(identity, target))
    if greeted.klass != 2:
        return Delivery(_klass_outcome(greeted), "helo", greeted.render())
    mail = session.mail(sender, prepared, recipients)
    if mail.klass != 2:
        return Delivery(_klass_outcome(mail), "mail", mail.render())
    accepted: List[str] = []
    refused: Dict[str, str] = {}
    for rcpt in recipients:
        reply = session.command(f"RCPT TO:<{rcpt}>")
        if reply.klass == 2:
            accepted.append(rcpt)
        elif reply.klass == 4:
            # Retrying later must not deliver twice: send it to nobody now.
            return Delivery("deferred", "rcpt", f"{rcpt}: {reply.render()}")
        else:
            refused[rcpt] = reply.render()
    if not accepted:
        return Delivery("rejected", "rcpt", next(iter(refused.values())), refused=refused)
    first, final = session.data(prepared)
    reply = final if final is not None else first
    if reply.klass != 2:
        return Delivery(_klass_outcome(reply), "data", reply.render(), refused=refused)
    return Delivery("partial" if refused else "accepted", "data", reply.render(),
                    accepted=accepted, refused=refused)


def _helo_word(identity: Identity, target: Target) -> str:
    # [UNAVAILABLE] means the client sent none; a greeting needs a word: the address
    # literal is what the client would have had to use.
    if identity.helo.upper() != "[UNAVAILABLE]":
        return identity.helo
    if identity.addr.upper() == "[UNAVAILABLE]":
        return target.helo
    return f"[IPv6:{identity.addr}]" if ":" in identity.addr else f"[{identity.addr}]"


# ---------------------------------------------------------------------------- quarantine
def _one_line(text: str, limit: int = 900) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text)[:limit]


def quarantine_message(message: bytes, sender: str, recipients: List[str], why: str,
                       reasons: Optional[Dict[str, str]] = None) -> bytes:
    """The file content for the quarantine: envelope and reason first, then the message.

    ``reasons`` (recipient -> reply) gives each refused recipient its own
    X-Xclient-Inject-Rejected: line; else ``why`` is the one reason for all."""
    lines = [f"{Q_FROM}: <{_one_line(sender)}>",
             f"{Q_TO}: " + ", ".join(_one_line(r) for r in recipients)]
    if reasons:
        lines.extend(f"{Q_WHY}: {_one_line(f'{rcpt}: {reply}')}"
                     for rcpt, reply in reasons.items())
    else:
        lines.append(f"{Q_WHY}: {_one_line(why)}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape") + message


def _split_recipients(text: str) -> List[str]:
    """The addresses of an X-Xclient-Inject-Envelope-To: value: split at commas outside
    quoted local parts (``"a,b"@example.com`` is one address)."""
    parts = re.findall(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+', text)
    return [p.strip() for p in parts if p.strip()]


def split_quarantined(message: bytes) -> Tuple[bytes, Optional[str], List[str]]:
    """(message, envelope sender or None, recipients) of a quarantined file; the headers
    quarantine_message added are taken off. Only lines at the very top count."""
    sender: Optional[str] = None
    recipients: List[str] = []
    rest = message
    while True:
        line, sep, after = rest.partition(b"\n")
        name, colon, value = line.rstrip(b"\r").partition(b":")
        key = name.decode("ascii", "replace")
        if not colon or key not in (Q_FROM, Q_TO, Q_WHY):
            return rest, sender, recipients
        text = value.decode("utf-8", "replace").strip()
        if key == Q_FROM:
            sender = text[1:-1] if text.startswith("<") and text.endswith(">") else text
        elif key == Q_TO:
            recipients = _split_recipients(text)
        rest = after if sep else b""


# ---------------------------------------------------------------------------- logging
def log_line(outcome: str, identity: Optional[Identity], sender: str,
             recipients: List[str], target: Target, detail: str) -> str:
    who = identity.describe() if identity else "identity=none"
    return (f"{outcome}: {who} from=<{sender}> to=<{','.join(recipients)}>"
            f" server={target.server}:{target.port} {detail}").rstrip()


def _err(line: str) -> None:
    sys.stderr.write(f"xclient-inject: {line}\n")
    sys.stderr.flush()


def _emit(line: str, warning: bool) -> None:
    # the sender, recipients and replies come from outside: one log line stays one line
    line = re.sub(r"[\x00-\x1f\x7f]", "?", line)
    _err(line)
    try:
        import syslog  # pylint: disable=import-outside-toplevel
        syslog.openlog("xclient-inject", syslog.LOG_PID, syslog.LOG_MAIL)
        syslog.syslog(syslog.LOG_WARNING if warning else syslog.LOG_INFO, line)
    except (ImportError, OSError):
        pass


# ---------------------------------------------------------------------------- command
EXIT_CODES = (
    (EX_OK, "delivered to every recipient; or refused (5xx), or given up after the retry"
            " bounds, and handled by --on-reject quarantine or discard: the fetcher"
            " deletes the message upstream"),
    (EX_USAGE, "bad options or RECIPIENT (a configuration error; nothing was sent)"),
    (EX_DATAERR, f"the message is larger than {MAX_MESSAGE} octets (nothing was sent)"),
    (EX_UNAVAILABLE, "refused (5xx) or given up, with --on-reject keep: the message stays"
                     " upstream"),
    (EX_SOFTWARE, "an internal error (a bug; the message stays upstream)"),
    (EX_TEMPFAIL, "try again later: no connection, a 4xx, XCLIENT not offered, no trusted"
                  " Received: header (--unparsed tempfail), or the quarantine could not be"
                  " written; nothing was queued, the message stays upstream, until"
                  " --max-attempts / --max-age"),
)


def exit_codes_text() -> str:
    return "exit status: " + "; ".join(f"{code} = {what}" for code, what in EXIT_CODES)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xclient-inject",
        description="Inject one RFC 5322 message (stdin) into Postfix over SMTP, as the"
        " client the upstream MX recorded in its Received: header (XCLIENT). For"
        " fetchmail / getmail MDAs. " + exit_codes_text() + ".",
        epilog="fetchmail: mda \"xclient-inject --port 10027 --received-by 'mx\\.isp\\.example'"
        " --internal-network 198.51.100.0/24 --from %F -- you@example.net\"")
    p.add_argument("recipients", nargs="*", metavar="RECIPIENT",
                   help="envelope recipients (fetchmail %%T)")
    p.add_argument("--from", dest="sender", metavar="ADDRESS",
                   help="envelope sender (fetchmail %%F); default the Return-Path: header."
                   " It comes from the message: one that is not an RFC 5321 address (e.g."
                   " with parameters) is refused like a 5xx (--on-reject)")
    p.add_argument("--server", default=INJECT_SERVER,
                   help=f"injection listener ({INJECT_SERVER})")
    p.add_argument("--port", type=int, default=INJECT_PORT, help=f"its port ({INJECT_PORT})")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds for the whole SMTP session (60)")
    p.add_argument("--helo", help="own name for the first EHLO (the host name)")
    p.add_argument("--source-address", help="local address to connect from")
    p.add_argument("--received-by", metavar="REGEX",
                   help="the upstream MX: its host name in the 'by' part of its Received:"
                   " header, matched as a whole (case-insensitive). The first header with an"
                   " external client must be the MX's, else the message is not injected;"
                   " without it, the first header with an external client is trusted")
    p.add_argument("--internal-network", dest="internal_networks", action="append",
                   default=[], metavar="CIDR",
                   help="a network of the upstream's own hosts (content filters, LMTP"
                   " stores): headers whose client is there are skipped like loopback ones;"
                   " repeat for several")
    p.add_argument("--unparsed", choices=UNPARSED_CHOICES, default="tempfail",
                   help="no trusted header, or it cannot be parsed: tempfail (exit 75,"
                   " default) or inject with ADDR=[UNAVAILABLE]")
    p.add_argument("--on-reject", default="quarantine:/var/lib/xclient-inject/quarantine",
                   metavar="quarantine:DIR|discard|keep",
                   help="when Postfix refuses the message (5xx), or the retries are used up:"
                   " quarantine into the Maildir DIR and exit 0 (default), discard and exit"
                   " 0, or keep it upstream (exit 69)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                   help="where the retry records live (DIR/retries; default"
                   f" {DEFAULT_STATE_DIR}); 'none': no records, no bound on retries")
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, metavar="N",
                   help="give up on a message after N deferred attempts that Postfix"
                   " answered about it (a 4xx, its identity refused, no trusted header);"
                   f" 0 = no bound ({DEFAULT_MAX_ATTEMPTS})")
    p.add_argument("--max-age", type=int, default=DEFAULT_MAX_AGE, metavar="SECONDS",
                   help="give up on a message deferred for this long since its first"
                   f" deferral, whatever the reason; 0 = no bound ({DEFAULT_MAX_AGE}, 5 days)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the identity as JSON and send nothing")
    return p


def parse_on_reject(value: str) -> Tuple[str, Optional[str]]:
    if value in ON_REJECT_WORDS:
        return value, None
    if value.startswith("quarantine:") and len(value) > len("quarantine:"):
        return "quarantine", value[len("quarantine:"):]
    raise UsageError(f"--on-reject: {value!r} must be quarantine:DIR, discard or keep")


def _check_args(args) -> Tuple[Target, Tuple[str, Optional[str]], RetryPolicy]:
    if not 0 < args.port <= 65535:
        raise UsageError(f"--port: {args.port} is not a TCP port")
    if not 0 < args.timeout < 86400:
        raise UsageError(f"--timeout: {args.timeout} must be between 0 and 86400 seconds")
    if args.received_by is not None:
        try:
            re.compile(args.received_by)
        except re.error as exc:
            raise UsageError(f"--received-by: {args.received_by!r} is not a regular"
                             f" expression: {exc}") from None
    try:
        args.networks = internal_networks(args.internal_networks)
    except ValueError as exc:
        raise UsageError(f"--internal-network: {exc}") from None
    helo = args.helo or socket.gethostname() or "localhost"
    try:
        validate_text("--helo", helo)
    except XclientValueError as exc:
        raise UsageError(str(exc)) from None
    if re.search(r"[\s\0]", helo):
        raise UsageError(f"--helo: {helo!r} must be one word")
    if not args.dry_run and not args.recipients:
        raise UsageError("RECIPIENT: give at least one envelope recipient")
    for rcpt in args.recipients:
        check_address("RECIPIENT", rcpt)
    if args.max_attempts < 0:
        raise UsageError(f"--max-attempts: {args.max_attempts} must be 0 (no bound) or more")
    if args.max_age < 0:
        raise UsageError(f"--max-age: {args.max_age} must be 0 (no bound) or more")
    target = Target(server=args.server, port=args.port, timeout=args.timeout, helo=helo,
                    source_address=args.source_address)
    policy = RetryPolicy(None if args.state_dir == "none" else args.state_dir,
                         args.max_attempts, args.max_age)
    return target, parse_on_reject(args.on_reject), policy


def main(argv: Optional[List[str]] = None, stdin=None) -> int:
    """The xclient-inject command; returns the exit status (EXIT_CODES)."""
    try:
        return _main(argv, stdin)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        _err(f"internal error, the message stays upstream: {exc!r}")
        return EX_SOFTWARE


def _main(argv: Optional[List[str]], stdin) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        target, (on_reject, quarantine_dir), policy = _check_args(args)
    except UsageError as exc:
        _err(str(exc))
        return EX_USAGE
    source = stdin if stdin is not None else sys.stdin.buffer
    message = source.read(MAX_MESSAGE + 1)
    if len(message) > MAX_MESSAGE:
        _err(f"the message is larger than {MAX_MESSAGE} octets")
        return EX_DATAERR
    sender = args.sender if args.sender is not None else (return_path(message) or "")
    recipients = list(args.recipients)
    try:
        identity, header, problem = resolve_identity(message, args.received_by, args.unparsed,
                                                     args.networks)
    except IdentityUnavailable as exc:
        if args.dry_run:
            sys.stdout.write(dry_run_json(None, None, str(exc)) + "\n")
            _emit(log_line("deferred", None, sender, recipients, target,
                           f"stage=identity reason=\"{exc}\" (--unparsed tempfail)"), True)
            return EX_TEMPFAIL
        delivery = Delivery("deferred", "identity", f"{exc} (--unparsed tempfail)")
        return _deferred(message, None, sender, recipients, target, delivery,
                         f"stage=identity reason=\"{delivery.reply}\"", policy, on_reject,
                         quarantine_dir)
    if args.dry_run:
        sys.stdout.write(dry_run_json(identity, header, problem) + "\n")
        return EX_OK
    bad_sender = mailbox_problem(sender, null_ok=True)
    if bad_sender:
        # The sender comes from the message (Return-Path, fetchmail's %F): like a 5xx.
        delivery = Delivery("rejected", "envelope", f"envelope sender {sender!r}: {bad_sender}")
    else:
        delivery = deliver(message, identity, sender, recipients, target)
    detail = f"stage={delivery.stage} reply=\"{delivery.reply}\""
    if problem:
        detail += f" unparsed=\"{problem}\""
    ledger = RetryLedger(policy)
    if delivery.outcome == "accepted":
        _emit(log_line("accepted", identity, sender, recipients, target, detail), False)
        _forget(ledger, message, recipients)
        return EX_OK
    if delivery.outcome == "deferred":
        return _deferred(message, identity, sender, recipients, target, delivery, detail,
                         policy, on_reject, quarantine_dir)
    _forget(ledger, message, recipients)
    refused = list(delivery.refused) if delivery.outcome == "partial" else recipients
    return _rejected(message, identity, sender, refused, target, delivery, detail,
                     on_reject, quarantine_dir)


def _forget(ledger: RetryLedger, message: bytes, recipients: List[str]) -> None:
    try:
        ledger.forget(message_key(message, recipients))
        ledger.prune()
    except OSError as exc:
        _err(f"retry records: {exc}")


def _deferred(message: bytes, identity: Optional[Identity], sender: str,
              recipients: List[str], target: Target, delivery: Delivery, detail: str,
              policy: RetryPolicy, on_reject: str, quarantine_dir: Optional[str]) -> int:
    """Exit 75 (the fetcher keeps it), or, once the retry bounds are reached, give up and
    handle it as refused (--on-reject)."""
    try:
        give_up = RetryLedger(policy).defer(message_key(message, recipients), delivery.counts)
    except OSError as exc:  # no records: retrying stays the safe side
        give_up = None
        detail += f" retry_records=\"{exc}\""
    if give_up is None:
        _emit(log_line("deferred", identity, sender, recipients, target, detail), True)
        return EX_TEMPFAIL
    given_up = Delivery("rejected", delivery.stage, f"{give_up}; last: {delivery.reply}")
    code = _rejected(message, identity, sender, recipients, target, given_up,
                     f"{detail} given_up=\"{give_up}\"", on_reject, quarantine_dir)
    if code != EX_TEMPFAIL:
        _forget(RetryLedger(policy), message, recipients)
    return code


def _rejected(message: bytes, identity: Optional[Identity], sender: str, refused: List[str],
              target: Target, delivery: Delivery, detail: str, on_reject: str,
              quarantine_dir: Optional[str]) -> int:
    word = "partial" if delivery.outcome == "partial" else "rejected"
    if delivery.outcome == "partial":
        detail += " refused=" + ";".join(f"{r}: {why}" for r, why in delivery.refused.items())
    if on_reject == "discard":
        _emit(log_line(f"{word} (discarded)", identity, sender, refused, target, detail), True)
        return EX_OK
    if on_reject == "keep":
        if delivery.outcome == "partial":
            # Keeping it upstream would deliver it again to those who accepted it.
            _emit(log_line(f"{word} (not kept: delivered to "
                           + ",".join(delivery.accepted) + ")", identity, sender, refused,
                           target, detail), True)
            return EX_OK
        _emit(log_line(f"{word} (kept upstream)", identity, sender, refused, target, detail),
              True)
        return EX_UNAVAILABLE
    if quarantine_dir is None:
        raise ValueError("on_reject quarantine needs a quarantine directory")
    reasons = delivery.refused if delivery.outcome == "partial" else None
    try:
        path = maildir_deliver(quarantine_dir, quarantine_message(
            message, sender, refused, delivery.reply, reasons))
    except OSError as exc:
        if delivery.outcome == "partial":
            # Delivered to the others: retrying would deliver it to them again.
            _emit(log_line(f"{word} (quarantine failed, not kept: delivered to "
                           + ",".join(delivery.accepted) + ")", identity, sender, refused,
                           target, f"{detail} error=\"{exc}\""), True)
            return EX_OK
        _emit(log_line(f"{word} (quarantine failed, kept upstream)", identity, sender,
                       refused, target, f"{detail} error=\"{exc}\""), True)
        return EX_TEMPFAIL
    _emit(log_line(f"{word} (quarantined)", identity, sender, refused, target,
                   f"{detail} file={path}"), True)
    return EX_OK


# ---------------------------------------------------------------------------- files
def message_files(path: str) -> List[str]:
    """The paths of one message file, or of every message of a Maildir (new/ then cur/,
    sorted), without injecting (symbolic links and other non-regular entries left out)."""
    try:
        with Messages(path, lock_timeout=60) as found:
            return [ref.path for ref in found.refs]
    except MaildirError as exc:
        raise UsageError(str(exc)) from None


# The outcomes of inject_file that change something: Postfix took the message (and its
# file may be removed). A dry run cannot know Postfix's verdict without sending, so a
# message it would send ("dry_run") counts too: check mode predicts that the real run
# changes something whenever it would try to inject at least one message.
CHANGING_OUTCOMES = frozenset({"accepted", "partial", "dry_run"})


def changed(results: List[dict]) -> bool:
    """Whether these per-message results (real or dry run) change something."""
    return any(r["outcome"] in CHANGING_OUTCOMES for r in results)


def _result(path: str) -> dict:
    return {"path": path, "xclient": None, "received": None, "outcome": None,
            "stage": None, "reply": None, "sender": None, "recipients": [],
            "removed": False, "kept_for": []}


def inject_path(path: str, target: Target, received_by: Optional[str], unparsed: str,
                sender: Optional[str] = None, recipients: Optional[List[str]] = None,
                dry_run: bool = False, remove: bool = True,
                lock_timeout: float = 600.0,
                networks: Sequence[Network] = ()) -> List[dict]:
    """Inject (or in a dry run only resolve) one message file or every message of a
    Maildir, holding the Maildir's lock (one run at a time); per-message results.

    Raises UsageError (naming ``path``) when the path is not a regular message file or a
    Maildir, or the lock is not free within ``lock_timeout`` seconds. Entries that are not
    regular files (symbolic links, fifos, devices, hard links) get outcome ``error`` and
    are never read."""
    try:
        with Messages(path, lock_timeout=lock_timeout) as found:
            results = []
            for bad, why in found.refused:
                result = _result(bad)
                result.update(outcome="error", stage="file", reply=f"{why}: refused, not read")
                results.append(result)
            results.extend(inject_ref(ref, target, received_by, unparsed, sender,
                                      recipients, dry_run, remove, networks)
                           for ref in found.refs)
            results.sort(key=lambda r: r["path"])
            return results
    except MaildirError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"path: {path}: {exc.strerror or exc}") from None


def inject_file(path: str, target: Target, received_by: Optional[str], unparsed: str,
                sender: Optional[str] = None, recipients: Optional[List[str]] = None,
                dry_run: bool = False, remove: bool = True,
                networks: Sequence[Network] = ()) -> dict:
    """inject_path for one message file; an unusable path is an ``error`` result."""
    try:
        results = inject_path(path, target, received_by, unparsed, sender, recipients,
                              dry_run, remove, networks=networks)
    except UsageError as exc:
        result = _result(path)
        result.update(outcome="error", reply=str(exc))
        return result
    if len(results) != 1:
        result = _result(path)
        result.update(outcome="error", reply="not one message file")
        return result
    return results[0]


def inject_ref(ref: MessageRef, target: Target, received_by: Optional[str], unparsed: str,
               sender: Optional[str] = None, recipients: Optional[List[str]] = None,
               dry_run: bool = False, remove: bool = True,
               networks: Sequence[Network] = ()) -> dict:
    """Inject one message file; a per-message result.

    The envelope comes from the arguments, else from the headers a quarantine wrote,
    else the sender from Return-Path:. A message's file is removed (``remove``) only when
    Postfix accepted every recipient, so running again does not inject it twice; after a
    partial delivery it is rewritten for the refused recipients alone, each with its
    reason (``kept_for``)."""
    result = _result(ref.path)
    try:
        raw = ref.read(MAX_MESSAGE)
    except UnsafeFile as exc:
        result.update(outcome="error", stage="file", reply=str(exc.strerror or exc))
        return result
    except OSError as exc:
        result.update(outcome="error", stage="file",
                      reply=f"cannot read: {exc.strerror or exc}")
        return result
    if len(raw) > MAX_MESSAGE:
        result.update(outcome="error", reply=f"larger than {MAX_MESSAGE} octets")
        return result
    message, q_sender, q_recipients = split_quarantined(raw)
    envelope_from = sender if sender is not None else (
        q_sender if q_sender is not None else (return_path(message) or ""))
    rcpts = list(recipients or q_recipients)
    result.update(sender=envelope_from, recipients=rcpts)
    try:
        identity, header, problem = resolve_identity(message, received_by, unparsed, networks)
    except IdentityUnavailable as exc:
        result.update(outcome="deferred", stage="identity", reply=str(exc))
        return result
    result.update(xclient=identity.as_dict(), received=header)
    if problem:
        result["unparsed"] = problem
    if not rcpts:
        result.update(outcome="error", reply="no envelope recipient: give rcpt_to (the"
                      " file has no X-Xclient-Inject-Envelope-To: header)")
        return result
    bad = [(what, addr, why) for what, addr, why in
           [("sender", envelope_from, mailbox_problem(envelope_from, True))]
           + [("recipient", r, mailbox_problem(r, False)) for r in rcpts] if why]
    if bad:
        result.update(outcome="rejected", stage="envelope", reply="; ".join(
            f"envelope {what} {addr!r}: {why}" for what, addr, why in bad))
        return result
    if dry_run:
        result["outcome"] = "dry_run"
        return result
    delivery = deliver(message, identity, envelope_from, rcpts, target)
    result.update(delivery.as_dict())
    if delivery.outcome == "accepted" and remove:
        ref.remove()
        result["removed"] = True
    elif delivery.outcome == "partial" and remove:
        # The refused recipients' only copy: keep it, for them alone, with their reasons.
        ref.replace(quarantine_message(message, envelope_from, list(delivery.refused),
                                       delivery.reply, delivery.refused))
        result["kept_for"] = list(delivery.refused)
    return result
