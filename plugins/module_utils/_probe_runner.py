# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running probe cases against a server: one connection per case, cases in parallel.

One case = one connection (Postfix re-checks XCLIENT authorization against the new
identity, so a second XCLIENT in the same session is normally refused). A case that fails
or errors never stops the others.
"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    RegexTimeout,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    CaseSpec,
    Expectation,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_result import (
    NOT_JUDGED,
    CaseResult,
    StageResult,
    Stages,
    case_result,
    judge,
    reply_stage,
    skipped_stage,
    unsent_xclient_stage,
    xclient_outcome,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_reply import (
    Reply,
    ehlo_keywords,
    xclient_attributes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._smtp_session import (
    SmtpServiceClosing,
    SmtpSession,
    SmtpSessionError,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_command import (
    mask_login,
)

# transcript option: which cases return the transcript. Its choices in the module's
# argument spec; a Python caller with another value gets the transcript of failures.
TRANSCRIPT_MODES = ("failures", "all", "none")
Advertised = Dict[int, Optional[List[str]]]  # case index -> XCLIENT attributes offered


@dataclass
class ProbeTarget:
    """Where and how to connect; shared by every case."""

    server: str
    port: int = 25
    tls: str = "none"
    helo: str = "localhost"
    source_address: Optional[str] = None
    timeout: float = 30.0
    tls_context: Optional[ssl.SSLContext] = None
    server_name: Optional[str] = None


class _Dialogue:
    """The dialogue of one case. Fills ``stages`` as it goes; ``at`` names the stage
    whose command is in flight (for a 421 reply, which ends the session at once). Each
    step returns False when the case ends there."""

    def __init__(self, spec: CaseSpec, target: ProbeTarget, session: SmtpSession,
                 check_mode: bool) -> None:
        self.spec = spec
        self.target = target
        self.session = session
        self.check_mode = check_mode
        self.stages: Stages = {}
        self.at = "connect"
        self.advertised: Optional[List[str]] = None
        self.reached_ehlo = False

    def run(self) -> None:
        steps = (self._connect, self._ehlo, self._xclient, self._mail, self._rcpt,
                 self._data)
        for step in steps:
            if not step():
                return

    def _reply(self, stage: str, reply: Reply, first_line: bool = False) -> bool:
        self.stages[stage] = reply_stage(reply, first_line=first_line)
        return reply.klass == 2

    def _greet(self, name: str) -> Reply:
        reply = self.session.ehlo(name)
        if reply.code >= 500 and reply.code != 554:
            # A server without ESMTP: fall back to HELO, as RFC 5321 4.1.4 allows.
            reply = self.session.helo(name)
        return reply

    def _connect(self) -> bool:
        return self._reply("connect", self.session.open())

    def _ehlo(self) -> bool:
        self.at = "ehlo"
        ehlo = self._greet(self.target.helo)
        if not self._reply("ehlo", ehlo, first_line=True):
            return False
        if self.target.tls == "starttls":
            ehlo = self._starttls(ehlo)
            if not self._reply("ehlo", ehlo, first_line=True):
                return False
        self.advertised = xclient_attributes(ehlo_keywords(ehlo))
        self.reached_ehlo = True
        return True

    def _starttls(self, ehlo: Reply) -> Reply:
        """STARTTLS, and EHLO again (its reply) over TLS."""
        if "STARTTLS" not in ehlo_keywords(ehlo):
            raise SmtpSessionError(f"{self.target.server}:{self.target.port} does not offer"
                                   " STARTTLS")
        reply = self.session.starttls()
        if reply.code != 220:
            raise SmtpSessionError(f"STARTTLS refused: {reply.render()}")
        return self._greet(self.target.helo)

    def _xclient(self) -> bool:
        spec, advertised = self.spec, self.advertised
        if spec.xclient is None:
            if "xclient" in spec.expect:
                self.stages["xclient"] = unsent_xclient_stage(
                    "offered" if advertised is not None else "not_offered", "",
                    advertised, with_attributes=True)
            return True
        missing = [a for a in spec.xclient if a not in (advertised or [])]
        if missing and not spec.force_xclient:
            self.stages["xclient"] = unsent_xclient_stage(
                "not_offered", "XCLIENT is not in the EHLO reply" if advertised is None
                else "the server does not advertise the attributes " + " ".join(missing))
            return False
        self.at = "xclient"
        for command in spec.xclient_commands:
            # Send nothing after XCLIENT before its reply: smtpd treats anything queued
            # as improper pipelining once it resets to the greeting stage.
            reply = self.session.command(command, shown=mask_login(command))
            if reply.klass != 2:
                # refused: the command itself (authorization, syntax); rejected/deferred:
                # the identity was applied and the restrictions refused it at once
                # (smtpd_delay_reject=no). Either way nothing else is in force.
                self.stages["xclient"] = reply_stage(
                    reply, outcome=xclient_outcome(reply.code, reply.enhanced, reply.text))
                return False
        self.stages["xclient"] = reply_stage(reply, outcome="accepted")
        return self._greet_again(spec.xclient)

    def _greet_again(self, xclient: Dict[str, str]) -> bool:
        """smtpd reset to the 220 stage after XCLIENT: greet again, with the declared
        HELO when there is one (parse_case made sure). A declared PROTO=SMTP would be
        turned back into ESMTP by EHLO, so then greet with HELO."""
        spec = self.spec
        if not spec.greet_after_xclient:
            # Declared HELO [UNAVAILABLE] / [TEMPUNAVAIL]: any greeting would set a name.
            self.stages["helo"] = skipped_stage(f"xclient.helo is {xclient['HELO']}:"
                                                " no HELO/EHLO after XCLIENT")
            return True
        self.at = "helo"
        name = spec.helo or self.target.helo
        # The server offered XCLIENT in its EHLO reply: it speaks ESMTP, so a refused
        # EHLO here is the answer for this identity (a HELO check), not a reason to
        # fall back to HELO. Whatever it says, the case goes on as Postfix does: MAIL
        # is still sent (smtpd decides what a client without a HELO may do).
        reply = self.session.helo(name) if xclient.get("PROTO") == "SMTP" \
            else self.session.ehlo(name)
        self._reply("helo", reply, first_line=True)
        return True

    def _mail(self) -> bool:
        if self.spec.mail_from is None:
            return False
        # The message decides BODY=8BITMIME / SMTPUTF8 only when it will be sent.
        payload = self.spec.data if not self.check_mode else None
        self.at = "mail"
        return self._reply("mail", self.session.mail(self.spec.mail_from, payload,
                                                     self.spec.rcpt_to))

    def _rcpt(self) -> bool:
        rcpts: List[StageResult] = []
        self.stages["rcpt"] = rcpts
        self.at = "rcpt"
        for rcpt in self.spec.rcpt_to:
            rcpts.append(reply_stage(self.session.command(f"RCPT TO:<{rcpt}>"),
                                     recipient=rcpt))
        return True

    def _data(self) -> bool:
        if self.spec.data is None:
            return False
        if self.check_mode:
            judged = "data" in self.spec.expect
            self.stages["data"] = skipped_stage(
                "check mode: no message is sent" + (f"; expect.data {NOT_JUDGED}" if judged
                                                    else ""))
            return False
        if not any((r.get("code") or 0) // 100 == 2 for r in self.stages["rcpt"]):
            return False
        self.at = "data"
        first, final = self.session.data(self.spec.data)
        return self._reply("data", final if final is not None else first)

    def record_closing(self, exc: SmtpServiceClosing) -> bool:
        """Put the 421 reply where it came; True when the case expected exactly that
        code there."""
        reply, stage, stages = exc.reply, self.at, self.stages
        if stage == "rcpt":
            rcpts = stages.setdefault("rcpt", [])
            rcpts.append(reply_stage(reply, recipient=self.spec.rcpt_to[len(rcpts)]))
        else:
            outcome = xclient_outcome(reply.code, reply.enhanced, reply.text) \
                if stage == "xclient" else None
            stages[stage] = reply_stage(reply, outcome=outcome)
        exp = self.spec.expect.get(stage)
        exps = exp if isinstance(exp, list) else [exp]
        return any(isinstance(e, Expectation) and e.value == "421" for e in exps)


@dataclass
class _Session:
    """The network part of a case, done in any thread; judged later in the main one."""

    started: float
    left: float  # seconds of the case's timeout left when the session ended
    stages: Stages
    error: Optional[str]
    transcript: Optional[List[str]]


def _run_session(spec: CaseSpec, target: ProbeTarget, check_mode: bool,
                 transcript_mode: str, advertised: Optional[Advertised]) -> _Session:
    started = time.monotonic()
    transcript: Optional[List[str]] = [] if transcript_mode != "none" else None
    error = None
    session = SmtpSession(target.server, target.port, timeout=target.timeout,
                          source_address=spec.source_address or target.source_address,
                          tls=target.tls,
                          tls_context=target.tls_context, server_name=target.server_name,
                          transcript=transcript)
    dialogue = _Dialogue(spec, target, session, check_mode)
    try:
        dialogue.run()
        session.quit(strict=True)  # a reply out of step anywhere shows at RSET/QUIT
    except SmtpServiceClosing as exc:
        # 421: the session is over, nothing more is sent. Only a case that expected
        # exactly 421 at that stage can pass.
        if not dialogue.record_closing(exc):
            error = str(exc)
    except SmtpSessionError as exc:
        error = str(exc)
    except (OSError, ssl.SSLError, socket.error) as exc:  # anything the socket layer adds
        error = f"network error: {exc}"
    finally:
        session.close()
    if advertised is not None and dialogue.reached_ehlo:
        advertised[spec.index] = dialogue.advertised
    left = max(session.deadline - time.monotonic(), 0.0)
    return _Session(started, left, dialogue.stages, error, transcript)


def _finish(spec: CaseSpec, part: _Session, transcript_mode: str) -> CaseResult:
    """Judge a case (call in the main thread: user regexes are bounded there by a timer)
    and build its result, with the LOGIN masked everywhere. The regexes get what was left
    of the case's own timeout when its session ended, counted from now: how long other
    cases took to judge never touches this one."""
    error = part.error
    try:
        mismatches = judge(spec, part.stages, time.monotonic() + part.left)
    except RegexTimeout:
        mismatches = []
        error = error or ("a regular expression of expect did not finish within the case's"
                          " timeout (the reply text comes from the server)")
    return case_result(spec.name, part.stages, error, mismatches, part.started,
                       part.transcript, transcript_mode, spec.expect, spec.secrets())


def run_case(spec: CaseSpec, target: ProbeTarget, check_mode: bool = False,
             transcript_mode: str = "failures",
             advertised: Optional[Advertised] = None) -> CaseResult:
    """Run one case; never raises for server or network trouble.

    ``advertised``, if given, receives what the server's EHLO advertised for XCLIENT,
    keyed by the case's index (see ``advertised_attributes``)."""
    return _finish(spec, _run_session(spec, target, check_mode, transcript_mode, advertised),
                   transcript_mode)


Progress = Callable[[int, int], None]  # (cases whose session is done, all cases)
PROGRESS_EVERY = 10.0  # seconds between two progress calls


def run_cases(specs: List[CaseSpec], target: ProbeTarget, concurrency: int = 10,
              check_mode: bool = False, transcript_mode: str = "failures",
              advertised: Optional[Advertised] = None,
              progress: Optional[Progress] = None) -> List[CaseResult]:
    """Run all cases, up to ``concurrency`` at once; results in the order of ``specs``.

    Pass a dict as ``advertised`` to learn what the server advertised for XCLIENT;
    ``progress`` is called every PROGRESS_EVERY seconds while sessions run.

    Every session runs first, then each case is judged on its own (see ``_finish``):
    a regular expression holds the interpreter while it backtracks, so judging while
    other sessions are on the wire could run their clocks out; and each case's regexes
    get its own time, so how many cases run at once never changes a verdict."""
    sessions: List[Optional[_Session]] = [None] * len(specs)
    workers = max(1, min(concurrency, len(specs)))
    done, last = 0, time.monotonic()

    def tick() -> None:
        nonlocal last
        if progress is not None and time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            progress(done, len(specs))

    if workers == 1:
        for i, spec in enumerate(specs):
            sessions[i] = _run_session(spec, target, check_mode, transcript_mode,
                                       advertised)
            done += 1
            tick()
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_session, spec, target, check_mode,
                                   transcript_mode, advertised): i
                       for i, spec in enumerate(specs)}
            for future in as_completed(futures):
                sessions[futures.pop(future)] = future.result()
                done += 1
                tick()
    results: List[CaseResult] = []
    for i, spec in enumerate(specs):
        part = sessions[i]
        sessions[i] = None  # held once: the result takes its stages over
        results.append(_finish(spec, part, transcript_mode))  # type: ignore[arg-type]
    return results


def advertised_attributes(advertised: Advertised) -> Optional[List[str]]:
    """What the server advertised, from the first case (in declared order) that got as
    far as EHLO and was offered XCLIENT."""
    for index in sorted(advertised):
        if advertised[index] is not None:
            return advertised[index]
    return None
