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
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from ansible_collections.mailops.xclient.plugins.module_utils._bounded_regex import (
    RegexTimeout,
)
from ansible_collections.mailops.xclient.plugins.module_utils._probe_cases import (
    CaseSpec,
    Expectation,
    judge,
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

TRANSCRIPT_MODES = ("failures", "all", "none")
# Stages a passed case reports only with transcript: all (or when it had an expectation).
GREETING_STAGES = ("connect", "ehlo", "helo")


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


def _stage(reply: Reply, first_line: bool = False, **extra: Any) -> Dict[str, Any]:
    """One stage's reply. ``first_line`` for EHLO/HELO: the keywords are the same for
    every case (the run reports them once, as ``xclient_attributes``) and are in the
    transcript; repeating them per case would make a 10,000-case result much larger."""
    text = (reply.lines[0] if reply.lines else "") if first_line else reply.text
    # Most replies are the same for many cases (banner, "Ok", the same rejection): share
    # one string object among them, so a 10,000-case result does not hold 10,000 copies.
    result = {"code": reply.code, "enhanced": _shared(reply.enhanced), "text": _shared(text)}
    result.update(extra)
    return result


def _shared(text: Optional[str]) -> Optional[str]:
    return sys.intern(text) if text is not None and len(text) <= 200 else text


def _ehlo(session: SmtpSession, name: str) -> Reply:
    reply = session.ehlo(name)
    if reply.code >= 500 and reply.code != 554:
        # A server without ESMTP: fall back to HELO, as RFC 5321 4.1.4 allows.
        reply = session.helo(name)
    return reply


def _converse(spec: CaseSpec, target: ProbeTarget, session: SmtpSession,
              stages: Dict[str, Any], check_mode: bool,
              seen_by_case: Dict[int, Optional[List[str]]], at: List[str]) -> None:
    """The dialogue of one case; fills ``stages`` as it goes, ``at[0]`` names the stage
    whose command is in flight (for a 421 reply, which ends the session at once)."""
    at[0] = "connect"
    greeting = session.open()
    stages["connect"] = _stage(greeting)
    if greeting.klass != 2:
        return
    at[0] = "ehlo"
    ehlo = _ehlo(session, target.helo)
    stages["ehlo"] = _stage(ehlo, first_line=True)
    if ehlo.klass != 2:
        return
    if target.tls == "starttls":
        if "STARTTLS" not in ehlo_keywords(ehlo):
            raise SmtpSessionError(f"{target.server}:{target.port} does not offer STARTTLS")
        reply = session.starttls()
        if reply.code != 220:
            raise SmtpSessionError(f"STARTTLS refused: {reply.render()}")
        ehlo = _ehlo(session, target.helo)
        stages["ehlo"] = _stage(ehlo, first_line=True)
        if ehlo.klass != 2:
            return
    advertised = xclient_attributes(ehlo_keywords(ehlo))
    seen_by_case[spec.index] = advertised
    if spec.xclient is None:
        if "xclient" in spec.expect:
            stages["xclient"] = {"outcome": "offered" if advertised is not None
                                 else "not_offered", "code": None, "enhanced": None,
                                 "text": "", "attributes": advertised}
    else:
        if advertised is None and not spec.force_xclient:
            stages["xclient"] = {"outcome": "not_offered", "code": None, "enhanced": None,
                                 "text": "XCLIENT is not in the EHLO reply"}
            return
        missing = [a for a in spec.xclient if a not in (advertised or [])]
        if missing and not spec.force_xclient:
            stages["xclient"] = {"outcome": "not_offered", "code": None, "enhanced": None,
                                 "text": "the server does not advertise the attributes "
                                 + " ".join(missing)}
            return
        at[0] = "xclient"
        for command in spec.xclient_commands:
            # Send nothing after XCLIENT before its reply: smtpd treats anything queued
            # as improper pipelining once it resets to the greeting stage.
            reply = session.command(command, shown=mask_login(command))
            if reply.klass != 2:
                # refused: the command itself (authorization, syntax); rejected/deferred:
                # the identity was applied and the restrictions refused it at once
                # (smtpd_delay_reject=no). Either way nothing else is in force.
                stages["xclient"] = _stage(
                    reply, outcome=xclient_outcome(reply.code, reply.enhanced))
                return
        stages["xclient"] = _stage(reply, outcome="accepted")
        if not spec.greet_after_xclient:
            # Declared HELO [UNAVAILABLE] / [TEMPUNAVAIL]: any greeting would set a name.
            stages["helo"] = {"skipped": f"xclient.helo is {spec.xclient['HELO']}: no"
                              " HELO/EHLO after XCLIENT"}
        else:
            # Greet again: smtpd reset to the 220 stage. With a declared HELO the name is
            # the declared one (parse_case made sure). A declared PROTO=SMTP would be
            # turned back into ESMTP by EHLO, so then greet with HELO.
            at[0] = "helo"
            name = spec.helo or target.helo
            if spec.xclient.get("PROTO") == "SMTP":
                helo = session.helo(name)
            else:
                helo = _ehlo(session, name)
            stages["helo"] = _stage(helo, first_line=True)
            if helo.klass != 2:
                return
    if spec.mail_from is None:
        return
    # The message decides BODY=8BITMIME / SMTPUTF8 only when it will be sent.
    payload = spec.data if not check_mode else None
    at[0] = "mail"
    mail = session.mail(spec.mail_from, payload, spec.rcpt_to)
    stages["mail"] = _stage(mail)
    if mail.klass != 2:
        return
    rcpts: List[Dict[str, Any]] = []
    stages["rcpt"] = rcpts
    at[0] = "rcpt"
    for rcpt in spec.rcpt_to:
        reply = session.command(f"RCPT TO:<{rcpt}>")
        rcpts.append(_stage(reply, recipient=rcpt))
    if spec.data is None:
        return
    if check_mode:
        stages["data"] = {"skipped": "check mode: no message is sent"}
        return
    if not any(r["code"] // 100 == 2 for r in rcpts):
        return
    at[0] = "data"
    first, final = session.data(spec.data)
    stages["data"] = _stage(final if final is not None else first)


def _record_closing(spec: CaseSpec, stages: Dict[str, Any], stage: str,
                    exc: SmtpServiceClosing) -> bool:
    """Put the 421 reply where it came; True when the case expected exactly that code."""
    reply = exc.reply
    if stage == "rcpt":
        stages.setdefault("rcpt", []).append(
            _stage(reply, recipient=spec.rcpt_to[len(stages.get("rcpt", []))]))
    elif stage == "xclient":
        stages["xclient"] = _stage(reply, outcome=xclient_outcome(reply.code,
                                                                  reply.enhanced))
    else:
        stages[stage] = _stage(reply)
    exp = spec.expect.get(stage)
    exps = exp if isinstance(exp, list) else [exp]
    return any(isinstance(e, Expectation) and e.value == "421" for e in exps)


def _run_session(spec: CaseSpec, target: ProbeTarget, check_mode: bool,
                 transcript_mode: str,
                 advertised: Optional[Dict[int, Optional[List[str]]]]) -> Dict[str, Any]:
    """The network part of a case (any thread): stages, error, transcript, deadline."""
    started = time.monotonic()
    transcript: Optional[List[str]] = [] if transcript_mode != "none" else None
    stages: Dict[str, Any] = {}
    error = None
    at = ["connect"]
    session = SmtpSession(target.server, target.port, timeout=target.timeout,
                          source_address=spec.source_address or target.source_address,
                          tls=target.tls,
                          tls_context=target.tls_context, server_name=target.server_name,
                          transcript=transcript)
    try:
        _converse(spec, target, session, stages, check_mode,
                  {} if advertised is None else advertised, at)
        session.quit()
    except SmtpServiceClosing as exc:
        # 421: the session is over, nothing more is sent. Only a case that expected
        # exactly 421 at that stage can pass.
        if not _record_closing(spec, stages, at[0], exc):
            error = str(exc)
    except SmtpSessionError as exc:
        error = str(exc)
    except (OSError, ssl.SSLError, socket.error) as exc:  # anything the socket layer adds
        error = f"network error: {exc}"
    finally:
        session.close()
    return {"started": started, "deadline": session.deadline, "stages": stages,
            "error": error, "transcript": transcript}


def _mask(value: Any, secrets: List[str]) -> Any:
    """``value`` with every secret replaced by ********, in every string it holds."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "********")
        return value
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    return value


def _finish(spec: CaseSpec, part: Dict[str, Any], transcript_mode: str) -> Dict[str, Any]:
    """Judge a case (call in the main thread: user regexes are bounded there by a timer)
    and build its result, with the LOGIN masked everywhere."""
    stages, error, transcript = part["stages"], part["error"], part["transcript"]
    try:
        mismatches = judge(spec, stages, part["deadline"])
    except RegexTimeout:
        mismatches = []
        error = error or ("a regular expression of expect did not finish within the case's"
                          " timeout (the reply text comes from the server)")
    passed = error is None and not mismatches
    if passed and transcript_mode != "all":
        # What a passed case proves is in the stages it judged; the greetings are the
        # same for every case and only help to explain a failure.
        for stage in GREETING_STAGES:
            if stage not in spec.expect:
                stages.pop(stage, None)
    status = "passed" if passed else ("error" if error else "failed")
    result: Dict[str, Any] = {
        "name": spec.name,
        "passed": passed,
        "status": status,
        "error": error,
        "mismatches": mismatches,
        "stages": stages,
        "elapsed_ms": round((time.monotonic() - part["started"]) * 1000, 1),
    }
    if transcript is not None and (transcript_mode == "all" or not passed):
        result["transcript"] = transcript
    secrets = spec.secrets()
    return _mask(result, secrets) if secrets else result


def run_case(spec: CaseSpec, target: ProbeTarget, check_mode: bool = False,
             transcript_mode: str = "failures",
             advertised: Optional[Dict[int, Optional[List[str]]]] = None) -> Dict[str, Any]:
    """Run one case; never raises for server or network trouble.

    ``advertised``, if given, receives what the server's EHLO advertised for XCLIENT,
    keyed by the case's index (see ``advertised_attributes``)."""
    return _finish(spec, _run_session(spec, target, check_mode, transcript_mode, advertised),
                   transcript_mode)


def run_cases(specs: List[CaseSpec], target: ProbeTarget, concurrency: int = 10,
              check_mode: bool = False, transcript_mode: str = "failures",
              advertised: Optional[Dict[int, Optional[List[str]]]] = None
              ) -> List[Dict[str, Any]]:
    """Run all cases, up to ``concurrency`` at once; results in the order of ``specs``.

    Pass a dict as ``advertised`` to learn what the server advertised for XCLIENT."""
    if transcript_mode not in TRANSCRIPT_MODES:
        raise ValueError(f"transcript must be one of {', '.join(TRANSCRIPT_MODES)}")

    def one(spec: CaseSpec) -> Dict[str, Any]:
        return _run_session(spec, target, check_mode, transcript_mode, advertised)

    workers = max(1, min(concurrency, len(specs)))
    if workers == 1:
        return [_finish(s, one(s), transcript_mode) for s in specs]
    # Sessions run in the pool; each is judged here, in the calling thread, as soon as
    # it is done (user regexes are bounded by a timer there, see _bounded_regex) - not in
    # order, or a case that ran into its timeout would hold back the judging of the cases
    # that ran beside it until their own deadlines had passed too.
    results: List[Optional[Dict[str, Any]]] = [None] * len(specs)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(one, spec): i for i, spec in enumerate(specs)}
        for future in as_completed(futures):
            i = futures.pop(future)
            results[i] = _finish(specs[i], future.result(), transcript_mode)
    return results  # type: ignore[return-value]  # every slot is filled


def summarize(results: List[Dict[str, Any]]) -> Dict[str, int]:
    return {
        "total": len(results),
        "passed": sum(1 for r in results if r["status"] == "passed"),
        "failed": sum(1 for r in results if r["status"] == "failed"),
        "errors": sum(1 for r in results if r["status"] == "error"),
    }


def advertised_attributes(advertised: Dict[int, Optional[List[str]]]) -> Optional[List[str]]:
    """What the server advertised, from the first case (in declared order) that got as
    far as EHLO and was offered XCLIENT."""
    for index in sorted(advertised):
        if advertised[index] is not None:
            return advertised[index]
    return None


def render_table(results: List[Dict[str, Any]], only_problems: bool = False) -> str:
    """A readable per-case table: case, result, and what was expected vs what came back."""
    rows = []
    for r in results:
        if only_problems and r["passed"]:
            continue
        if r["error"]:
            rows.append((r["name"], "ERROR", r["error"]))
        for problem in r["mismatches"]:
            rows.append((r["name"], "FAILED", problem))
        if r["passed"]:
            rows.append((r["name"], "passed", _passed_detail(r)))
    if not rows:
        return ""
    width = min(max(len(row[0]) for row in rows), 48)
    lines = [f"{'CASE':<{width}}  {'RESULT':<6}  DETAIL"]
    for name, verdict, detail in rows:
        lines.append(f"{name[:width]:<{width}}  {verdict:<6}  {detail}")
    return "\n".join(lines)


def _passed_detail(result: Dict[str, Any]) -> str:
    stages = result["stages"]
    parts = []
    if "xclient" in stages:
        parts.append(f"xclient {stages['xclient']['outcome']}")
    for stage in ("mail", "data"):
        if stage in stages and "code" in stages[stage]:
            parts.append(f"{stage} {stages[stage]['code']}")
    for rcpt in stages.get("rcpt", []):
        parts.append(f"rcpt {rcpt['code']} {rcpt.get('enhanced') or ''}".rstrip())
    return ", ".join(parts)
