# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An upstream mail provider for the fetch-and-inject tests and the demo: a private
Postfix instance (own log) that delivers one domain into Maildirs, and a private Dovecot
instance (own config file, base_dir and log) that serves them over POP3 and IMAP on
loopback ports. The machine's default Postfix and Dovecot are never touched.

Postfix here does no reverse lookups (``smtpd_peername_lookup = no``: no dependence on
the machine's DNS). A loopback client is one of the provider's own hops for the injector
(a content filter re-injecting), so tests and the demo send as TEST-NET clients: Postfix
here lets loopback (and those clients) use XCLIENT, and records ``XCLIENT ADDR=192.0.2.10
NAME=...`` as ``from HELO (NAME [192.0.2.10])`` exactly as it records a real client.

From a shell or a playbook::

    python3 tests/harness/private_upstream.py start BASE [SMTP_PORT POP3_PORT IMAP_PORT]
    python3 tests/harness/private_upstream.py status BASE   # exit 0 when both run
    python3 tests/harness/private_upstream.py stop BASE
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from private_postfix import PrivatePostfix, free_port, wait_ports

DOVECOT = "/usr/sbin/dovecot"
MAIL_UID = 8  # Debian's "mail" user and group own the mailboxes
MAIL_GID = 8

# What Dovecot 2.3 and 2.4 spell alike: where the instance keeps its files, what it serves.
_DOVECOT_COMMON = """\
# Private Dovecot instance of the mailops.xclient tests (never the machine's default)
base_dir = {base}/dovecot/run
state_dir = {base}/dovecot/state
instance_name = xclient-upstream-{port_pop3}
log_path = {base}/dovecot/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
"""

_DOVECOT_CONF = _DOVECOT_COMMON + """\
disable_plaintext_auth = no
mail_location = maildir:{base}/mail/%d/%n/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%d/%n
}}
"""

# The same instance for Dovecot 2.4 (Debian 13), whose configuration language changed:
# a version header, mail_driver/mail_path, %{...} variables, named passdb/userdb blocks.
_DOVECOT_CONF_24 = """\
dovecot_config_version = 2.4.1
dovecot_storage_version = 2.4.1
""" + _DOVECOT_COMMON + """\
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = {base}/mail/%{{user | domain}}/%{{user | username}}/Maildir
mail_home = {base}/mail/%{{user | domain}}/%{{user | username}}
pop3_uidl_format = %{{uid | hex(8)}}%{{uidvalidity | hex(8)}}
passdb passwd-file {{
  passwd_file_path = {base}/dovecot/users
  default_password_scheme = PLAIN
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
  }}
}}
"""


def _login_service(proto: str) -> str:
    """A login service's listeners (a str.format template): the plain one on its port,
    the TLS one off. The same in both languages but for the name of the address setting."""
    return (f"service {proto}-login {{{{\n"
            f"  inet_listener {proto} {{{{\n"
            "    {address_setting} = 127.0.0.1\n"
            f"    port = {{port_{proto}}}\n"
            "  }}\n"
            f"  inet_listener {proto}s {{{{\n"
            "    port = 0\n"
            "  }}\n"
            "}}\n")


_DOVECOT_SERVICES = _login_service("pop3") + _login_service("imap") + """\
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


def _dovecot_conf_template() -> str:
    """The configuration language of the installed Dovecot (2.3 on Debian 12, 2.4 on 13)."""
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True,
                         check=False).stdout.strip()
    major_minor = tuple(int(x) for x in re.findall(r"\d+", out)[:2])
    if major_minor >= (2, 4):
        return _DOVECOT_CONF_24 + _DOVECOT_SERVICES.replace("{address_setting}", "listen")
    return _DOVECOT_CONF + _DOVECOT_SERVICES.replace("{address_setting}", "address")


class UpstreamPostfix(PrivatePostfix):
    """Postfix of the upstream provider: one listener, virtual(8) delivery to Maildirs."""

    domain: str = "upstream.test"
    users: Dict[str, str] = {}

    def main_cf(self) -> Dict[str, str]:
        mailboxes = " ".join(f"{{{user} = {self.domain}/{user.split('@')[0]}/Maildir/}}"
                             for user in self.users)
        # beyond the postfix role's main.cf.j2, which every private instance starts from
        return {
            "mydomain": self.domain,
            "smtpd_banner": "$myhostname ESMTP upstream-test-instance",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.1/32",
            "mydestination": "",
            "relay_domains": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": os.path.join(self.base, "mail"),
            "virtual_mailbox_maps": f"inline:{{ {mailboxes} }}",
            "virtual_uid_maps": f"static:{MAIL_UID}",
            "virtual_gid_maps": f"static:{MAIL_GID}",
            "virtual_minimum_uid": str(MAIL_UID),
            "virtual_transport": "virtual",
            "default_transport": "discard:upstream test instance",
            "relay_transport": "discard:upstream test instance",
            "local_transport": "discard:upstream test instance",
            "in_flow_delay": "0",
            "smtpd_peername_lookup": "no",
            # XCLIENT is authorized again against the identity it set: the TEST-NET
            # clients too, so that one session can send as several
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8 192.0.2.0/24 198.51.100.0/24"
                                              " 203.0.113.0/24",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
        }

    def listeners(self) -> List[str]:
        return [f"127.0.0.1:{self.ports['smtp']} inet n - n - - smtpd",
                "  -o syslog_name=postfix/upstream"]

    def port_names(self) -> Tuple[str, ...]:
        return ("smtp",)

    def start(self, timeout: float = 20.0) -> "UpstreamPostfix":
        mail = os.path.join(self.base, "mail")
        os.makedirs(mail, exist_ok=True)
        os.chown(mail, MAIL_UID, MAIL_GID)
        # no reverse lookups here, so no resolver of its own (it outlives the command line)
        self.tls = self.ipv6 = self.own_resolver = False
        super().start(timeout)
        return self


@dataclass
class PrivateUpstream:
    """Upstream Postfix + Dovecot under one base directory."""

    base: str
    hostname: str = "mx.upstream.test"
    domain: str = "upstream.test"
    users: Dict[str, str] = field(default_factory=lambda: {"demo@upstream.test": "demo-secret"})
    ports: Dict[str, int] = field(default_factory=dict)
    postfix: Optional[UpstreamPostfix] = None

    @property
    def dovecot_conf(self) -> str:
        return os.path.join(self.base, "dovecot", "dovecot.conf")

    @property
    def maillog(self) -> str:
        return os.path.join(self.base, "postfix", "maillog")

    def maildir(self, user: str) -> str:
        local, domain = user.split("@")
        return os.path.join(self.base, "postfix", "mail", domain, local, "Maildir")

    def start(self) -> "PrivateUpstream":
        for name in ("smtp", "pop3", "imap"):
            self.ports.setdefault(name, free_port())
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        UpstreamPostfix.users = dict(self.users)
        UpstreamPostfix.domain = self.domain
        self.postfix = UpstreamPostfix(base=os.path.join(self.base, "postfix"),
                                       hostname=self.hostname, policy_logger=False,
                                       ports={"smtp": self.ports["smtp"]}).start()
        self._start_dovecot()
        return self

    def _start_dovecot(self) -> None:
        root = os.path.join(self.base, "dovecot")
        for sub in ("run", "state"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        with open(self.dovecot_conf, "w", encoding="utf-8") as fh:
            conf = _dovecot_conf_template().format(
                base=self.base, uid=MAIL_UID, gid=MAIL_GID, port_pop3=self.ports["pop3"],
                port_imap=self.ports["imap"])
            fh.write(conf.replace(f"{self.base}/mail", f"{self.base}/postfix/mail"))
        users = os.path.join(root, "users")
        with open(users, "w", encoding="utf-8") as fh:
            for user, password in self.users.items():
                fh.write(f"{user}:{{PLAIN}}{password}\n")
        os.chmod(users, 0o640)
        shutil.chown(users, group="dovecot")
        # The daemon keeps the descriptors it was started with: no pipes to wait on.
        errors = os.path.join(root, "start.err")
        with open(errors, "w+", encoding="utf-8") as err:
            res = subprocess.run([DOVECOT, "-c", self.dovecot_conf], stdin=subprocess.DEVNULL,
                                 stdout=err, stderr=err, check=False)
            err.seek(0)
            if res.returncode != 0:
                raise RuntimeError(f"dovecot did not start: {err.read()}")
        wait_ports([self.ports["pop3"], self.ports["imap"]], 20, self.dovecot_conf)

    def stop(self) -> None:
        pidfile = os.path.join(self.base, "dovecot", "run", "master.pid")
        try:
            pid = int(open(pidfile, encoding="ascii").read().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.05)
        except (OSError, ValueError):
            pass
        post = self.postfix or UpstreamPostfix(base=os.path.join(self.base, "postfix"))
        post.stop()

    def running(self) -> bool:
        pidfile = os.path.join(self.base, "dovecot", "run", "master.pid")
        try:
            os.kill(int(open(pidfile, encoding="ascii").read().strip()), 0)
        except (OSError, ValueError):
            return False
        post = self.postfix or UpstreamPostfix(base=os.path.join(self.base, "postfix"))
        return post.running()

    def messages(self, user: str) -> List[str]:
        """Files in the user's Maildir (new/ and cur/)."""
        found: List[str] = []
        for sub in ("new", "cur"):
            path = os.path.join(self.maildir(user), sub)
            if os.path.isdir(path):
                found.extend(os.path.join(path, name) for name in sorted(os.listdir(path)))
        return found

    def facts(self) -> dict:
        # the users without their passwords: the facts are printed (and logged by Ansible)
        return {"base": self.base, "hostname": self.hostname, "domain": self.domain,
                "users": sorted(self.users), "ports": self.ports, "maillog": self.maillog,
                "dovecot_conf": self.dovecot_conf}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) not in (2, 5) or argv[0] not in ("start", "stop", "status"):
        print("usage: private_upstream.py start BASE [SMTP POP3 IMAP] | status BASE |"
              " stop BASE", file=sys.stderr)
        return 2
    base = os.path.abspath(argv[1])
    if argv[0] == "status":
        return 0 if PrivateUpstream(base=base).running() else 3
    if argv[0] == "stop":
        PrivateUpstream(base=base).stop()
        return 0
    ports = (dict(zip(("smtp", "pop3", "imap"), map(int, argv[2:]), strict=True))
             if len(argv) == 5 else {})
    upstream = PrivateUpstream(base=base, ports=ports).start()
    print(json.dumps(upstream.facts()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
