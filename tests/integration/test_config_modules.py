# SPDX-License-Identifier: GPL-3.0-or-later
"""The Postfix configuration modules on a real private Postfix instance."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._postfix_audit import (
    login_ignored_without_sasl,
)
import collection
from private_postfix import PrivatePostfix, free_port
from run_module import module_command, run_module

HERE = os.path.dirname(os.path.abspath(__file__))


def digest(config_dir):
    return {name: hashlib.sha256(open(os.path.join(config_dir, name), "rb").read()).hexdigest()
            for name in ("main.cf", "master.cf")}


@pytest.fixture
def config_only(tmp_path_factory):
    """A private instance's config, not started: for tests that only read or write it."""
    base = str(tmp_path_factory.mktemp("cfg"))
    os.chmod(base, 0o755)
    inst = PrivatePostfix(base=base, tls=False, ipv6=True,
                          ports={"authorized": 10025, "unauthorized": 10026, "sasl": 10027})
    inst.write_config()
    return inst


def test_config_modules_playbook(installed_collection, fresh_postfix):
    extra = {"config_dir": fresh_postfix.config_dir, "new_port": free_port(),
             "unauthorized_port": fresh_postfix.ports["unauthorized"]}
    done = collection.playbook(installed_collection,
                               os.path.join(HERE, "playbooks", "config_modules.yml"),
                               extra_vars=extra)
    assert done.returncode == 0, done.tail(6000)
    assert [t["task"] for t in done.statuses("failed")] == []
    assert (done.host_stats()["failures"], done.host_stats()["unreachable"]) == (0, 0)


# ---------------------------------------------------------------------- bad input

BAD = [
    ("postconf", {"name": "no_such_parameter", "value": "1"}, "name: Postfix does not know"),
    ("postconf", {"name": "bad name", "value": "1"}, "name: 'bad name' is not"),
    ("postconf", {"name": "smtpd_banner", "value": "a\nb"}, "value: must not contain a line"),
    ("postconf", {"name": "syslog_name", "value": "x", "service": "127.0.0.1:9/inet"},
     "service: master.cf in"),
    ("postconf", {"name": "syslog_name", "value": "x", "service": "smtp/tcp"},
     "service: 'smtp/tcp': service type 'tcp'"),
    ("postconf", {"name": "in_flow_delay", "value": "banana"},
     "postfix check rejected the change, so main.cf and master.cf were restored:"
     " postfix: fatal: parameter in_flow_delay: bad time value"),
    ("postconf", {"settings": {"in_flow_delay": "0", "no_such_parameter": "1"}},
     "settings.no_such_parameter: Postfix does not know"),
    ("postconf", {"settings": {"smtpd_banner": "a\nb"}},
     "settings.smtpd_banner: must not contain a line"),
    ("postconf", {"settings": {}}, "settings: give at least one parameter"),
    ("postconf", {"name": "in_flow_delay"}, "value: required with name"),
    # one bad value among good ones: postfix check rejects, all of them are rolled back
    ("postconf", {"settings": {"smtpd_helo_required": True, "in_flow_delay": "banana"}},
     "postfix check rejected the change, so main.cf and master.cf were restored"),
    ("xclient_hosts", {"hosts": ["192.0.2.1/24"]}, "hosts[0]: '192.0.2.1/24' has host bits"),
    ("xclient_hosts", {"hosts": ["127.0.0.1", "hash:/nonexistent/xclient"]},
     "hosts[1]: 'hash:/nonexistent/xclient': /nonexistent/xclient.db does not exist"),
    ("xclient_hosts", {"hosts": ["/nonexistent/list"]}, "hosts[0]: /nonexistent/list: the file"),
    ("xclient_hosts", {"hosts": ["0.0.0.0/0"]}, "hosts[0]: 0.0.0.0/0 is every address"),
    ("xclient_hosts", {"hosts": ["::/0"]}, "hosts[0]: [::]/0 is every address"),
    ("xclient_hosts", {"hosts": ["static:all"]}, "static: table matches every client"),
    ("xclient_hosts", {"hosts": ["10.0.0.0/8"]}, "wider than /16"),
    ("xclient_hosts", {"hosts": ["2001:db8::/32"]}, "wider than /48"),
    ("xclient_hosts", {"hosts": ["pcre:/etc/x.pcre"]}, "table type 'pcre' is not supported"),
    ("xclient_hosts", {"hosts": ["not a pattern"]}, "hosts[0]: 'not a pattern' holds more"),
    ("xclient_hosts", {"hosts": ["127.0.0.1, [::1]"]}, "one pattern per list item"),
    ("xclient_hosts", {"hosts": ["127.0.0.1"], "service": "127.0.0.1:9/inet"},
     "service: master.cf in"),
    ("postfix_service", {"name": "127.0.0.1:99999", "command": "smtpd"}, "name: 127.0.0.1:99999"),
    ("postfix_service", {"name": "::1:25", "command": "smtpd"}, "in brackets: [::1]:25"),
    ("postfix_service", {"name": "x", "type": "unix", "command": "smtpd\nqmgr"}, "command:"),
    ("postfix_service", {"name": "x", "type": "unix", "command": "smtpd",
                         "options": {"bad key": "1"}}, "options.bad key"),
    ("postfix_service", {"name": "x", "type": "unix", "command": "smtpd", "wakeup": "soon"},
     "wakeup:"),
    ("postfix_info", {"login_expected": ["smtp/tcp"]}, "login_expected[0]:"),
]


@pytest.mark.parametrize("module,args,needle", BAD, ids=[f"{m}-{n}" for m, _a, n in BAD])
def test_bad_input_fails_naming_the_field_and_changes_nothing(
        config_only, module, args, needle):
    before = digest(config_only.config_dir)
    result = run_module(module, dict(args, config_dir=config_only.config_dir))
    assert result.get("failed"), result
    assert needle in result["msg"], result["msg"]
    assert digest(config_only.config_dir) == before
    assert not [f for f in os.listdir(config_only.config_dir) if "work" in f]


def test_broad_allowed_with_consent(config_only):
    result = run_module("xclient_hosts", {"hosts": ["10.0.0.0/8"], "allow_broad": True,
                                          "config_dir": config_only.config_dir})
    assert result["changed"] and result["hosts_after"] == ["10.0.0.0/8"]


def test_broad_pattern_inside_a_file_is_refused(config_only, tmp_path):
    listing = tmp_path / "xclient-hosts"
    listing.write_text("# proxies\n127.0.0.1\n0.0.0.0/0\n")
    result = run_module("xclient_hosts", {"hosts": [str(listing)],
                                          "config_dir": config_only.config_dir})
    assert result.get("failed") and f"(in {listing})" in result["msg"]


def test_backup(config_only):
    result = run_module("postconf", {"name": "smtpd_helo_required", "value": "yes",
                                     "backup": True, "config_dir": config_only.config_dir})
    backup = result["backup_file"]["main.cf"]
    assert os.path.exists(backup)
    assert "smtpd_helo_required" not in open(backup).read()


def test_service_param_with_spaces_rewrites_only_that_entry(config_only):
    d = config_only.config_dir
    before = open(os.path.join(d, "master.cf")).read().splitlines()
    result = run_module("postconf", {"name": "smtpd_client_restrictions",
                                     "value": "permit_mynetworks, reject",
                                     "service": "127.0.0.1:10026/inet", "config_dir": d},
                        diff=True)
    assert result["changed"]
    after = open(os.path.join(d, "master.cf")).read().splitlines()
    changed = [line for line in after if line not in before]
    assert changed and all("10026" in line or line.startswith(" ") for line in changed)
    entry = subprocess.run(["postconf", "-c", d, "-P", "127.0.0.1:10026/inet/"
                            "smtpd_client_restrictions"], capture_output=True, text=True,
                           check=True).stdout
    assert entry.strip().endswith("= permit_mynetworks, reject")
    again = run_module("postconf", {"name": "smtpd_client_restrictions",
                                    "value": "permit_mynetworks,  reject",
                                    "service": "127.0.0.1:10026/inet", "config_dir": d})
    assert not again["changed"]


# ---------------------------------------------------------------------- concurrency, kill -9

def test_concurrent_writers_lose_no_update(config_only):
    d = config_only.config_dir
    hosts = [f"192.0.2.{i}" for i in range(1, 9)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda h: run_module("xclient_hosts", {
            "hosts": [h], "config_dir": d}), hosts))
    assert all(r.get("changed") for r in results), results
    final = subprocess.run(["postconf", "-c", d, "-h", "smtpd_authorized_xclient_hosts"],
                           capture_output=True, text=True, check=True).stdout
    assert sorted(final.replace(",", " ").split()) == sorted(hosts)


def test_kill_9_in_the_middle_leaves_valid_files(config_only):
    d = config_only.config_dir
    original = open(os.path.join(d, "main.cf"), "rb").read()
    killed = 0
    for attempt in range(12):
        value = f"{attempt + 1}s"
        argv, env, path = module_command("postconf", {"name": "in_flow_delay", "value": value,
                                                      "config_dir": d})
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.05 + 0.03 * attempt)  # land at different points of the run
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        os.unlink(path)
        text = open(os.path.join(d, "main.cf"), "rb").read()
        assert text.startswith(original.split(b"in_flow_delay")[0])
        check = subprocess.run(["postconf", "-c", d, "-h", "in_flow_delay"],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0 and check.stdout.strip().endswith("s") or \
            check.stdout.strip() == "0", check
    assert killed >= 3
    # the next run cleans up what killed runs left and works
    result = run_module("postconf", {"name": "in_flow_delay", "value": "0",
                                     "config_dir": d})
    assert not result.get("failed"), result
    assert not [f for f in os.listdir(d) if f.startswith(".mailops-xclient-work-")]


# ---------------------------------------------------------------------- findings on real configs

def pc(d, *args):
    subprocess.run(["postconf", "-c", d, *args], check=True, capture_output=True)


def info(d, **kw):
    result = run_module("postfix_info", dict(kw, config_dir=d))
    assert not result.get("failed"), result
    return result


def codes(result, service):
    """Warnings and errors for one listener (info-level notes left out)."""
    return {f["code"]: f["severity"] for f in result["findings"]
            if f["service"] == service and f["severity"] != "info"}


def test_finding_ipv6_loopback_missing(config_only):
    d = config_only.config_dir
    pc(d, "-M", "-e", "[::1]:10030/inet = [::1]:10030 inet n - n - - smtpd"
       " -o smtpd_authorized_xclient_hosts=127.0.0.1")
    assert codes(info(d), "[::1]:10030/inet") == {"ipv6-loopback-missing": "warning"}
    # and for a listener on all addresses with inet_protocols=all
    pc(d, "-M", "-e", "10031/inet = 10031 inet n - n - - smtpd"
       " -o smtpd_authorized_xclient_hosts=127.0.0.1")
    pc(d, "-e", "inet_interfaces = all")
    assert "ipv6-loopback-missing" in codes(info(d), "10031/inet")


def test_finding_broad_list_on_reachable_listener(config_only):
    d = config_only.config_dir
    pc(d, "-e", "inet_interfaces = all")
    pc(d, "-M", "-e", "10032/inet = 10032 inet n - n - - smtpd"
       " -o smtpd_authorized_xclient_hosts=192.0.2.0/24")
    result = info(d)
    assert codes(result, "10032/inet")["broad-xclient-on-reachable-listener"] == "error"
    svc = [s for s in result["services"] if s["service"] == "10032/inet"][0]
    assert "0.0.0.0" in svc["listen"]
    # the same list on a loopback-only listener is not that finding
    assert "broad-xclient-on-reachable-listener" not in codes(result, "127.0.0.1:10025/inet")


def test_finding_postscreen(config_only):
    d = config_only.config_dir
    pc(d, "-M", "-e", "127.0.0.1:10033/inet = 127.0.0.1:10033 inet n - n - 1 postscreen")
    pc(d, "-M", "-e", "smtpd/pass = smtpd pass - - n - - smtpd"
       " -o smtpd_authorized_xclient_hosts=127.0.0.1")
    result = info(d)
    assert codes(result, "smtpd/pass") == {"postscreen-no-xclient": "warning"}
    svc = [s for s in result["services"] if s["service"] == "smtpd/pass"][0]
    assert svc["fronted_by_postscreen"] and svc["listen"] == ["127.0.0.1"]


def test_finding_hidden_keyword(config_only):
    d = config_only.config_dir
    pc(d, "-P", "-e", "127.0.0.1:10025/inet/smtpd_discard_ehlo_keywords=xclient")
    assert "xclient-hidden-not-disabled" in codes(info(d), "127.0.0.1:10025/inet")


def test_finding_login_without_sasl(config_only):
    d = config_only.config_dir
    result = info(d, login_expected=["127.0.0.1:10025/inet", "127.0.0.1:10027/inet"])
    assert result["version"] == config_only.version
    if not login_ignored_without_sasl(result["version"]):
        # fixed versions (3.7.12+, 3.10): LOGIN counts without SASL, nothing to report
        assert result["login_ignored_without_sasl"] is False
        assert not [f for f in result["findings"] if f["code"].startswith("login-ignored")]
        return
    assert codes(result, "127.0.0.1:10025/inet")["login-ignored-without-sasl"] == "error"
    notes = [f for f in info(d)["findings"] if f["code"] == "login-ignored-without-sasl"]
    assert notes and all(f["severity"] == "info" for f in notes)
    assert "login-ignored-without-sasl" not in codes(result, "127.0.0.1:10027/inet")
    failing = run_module("postfix_info", {"config_dir": d, "fail_on": "error",
                                          "login_expected": ["127.0.0.1:10025/inet"]})
    assert failing["failed"] and "login" in failing["msg"].lower()


def test_finding_login_relay_exposure(config_only):
    d = config_only.config_dir
    pc(d, "-P", "-e", "127.0.0.1:10025/inet/smtpd_authorized_xclient_hosts=127.0.0.0/8",
       "127.0.0.1:10025/inet/smtpd_sasl_auth_enable=yes",
       "127.0.0.1:10025/inet/smtpd_relay_restrictions=permit_sasl_authenticated,"
       "reject_unauth_destination")
    assert codes(info(d), "127.0.0.1:10025/inet")["login-relay-exposure"] == "error"
    pc(d, "-P", "-e", "127.0.0.1:10025/inet/smtpd_relay_restrictions=reject_unauth_destination",
       "127.0.0.1:10025/inet/smtpd_recipient_restrictions=reject_unauth_destination")
    assert "login-relay-exposure" not in codes(info(d), "127.0.0.1:10025/inet")


def test_finding_forbid_unauth_pipelining(config_only):
    d = config_only.config_dir
    pc(d, "-e", "smtpd_forbid_unauth_pipelining = yes")
    result = info(d)
    assert "forbid-unauth-pipelining-behind-proxy" in codes(result, "127.0.0.1:10025/inet")
    # not on a listener without XCLIENT
    assert codes(result, "127.0.0.1:10026/inet") == {}


def test_effective_list_merges_main_and_override(config_only):
    d = config_only.config_dir
    pc(d, "-e", "smtpd_authorized_xclient_hosts = 192.0.2.25")
    result = info(d)
    by = {s["service"]: s for s in result["services"]}
    assert by["127.0.0.1:10026/inet"]["xclient_hosts"] == ["192.0.2.25"]
    assert by["127.0.0.1:10026/inet"]["xclient_hosts_from"] == "main.cf"
    assert by["127.0.0.1:10025/inet"]["xclient_hosts"] == ["127.0.0.1", "[::1]"]
    # adding to a listener without override starts from the main.cf list
    added = run_module("xclient_hosts", {"service": "127.0.0.1:10026/inet",
                                         "hosts": ["127.0.0.1"], "config_dir": d})
    assert added["hosts_before"] == ["192.0.2.25"]
    assert added["hosts_after"] == ["192.0.2.25", "127.0.0.1"]


def test_postfix_service_keeps_overrides_it_does_not_manage(config_only):
    d = config_only.config_dir
    svc = {"name": "127.0.0.1:10040", "command": "smtpd", "chroot": False,
           "options": {"syslog_name": "postfix/proxy"}, "config_dir": d}
    assert run_module("postfix_service", svc)["changed"]
    assert run_module("xclient_hosts", {"service": "127.0.0.1:10040/inet",
                                        "hosts": ["127.0.0.1"], "config_dir": d})["changed"]
    again = run_module("postfix_service", svc)
    assert not again["changed"]
    assert "smtpd_authorized_xclient_hosts=127.0.0.1" in again["entry_after"]
    purged = run_module("postfix_service", dict(svc, purge_options=True))
    assert purged["changed"] and "xclient" not in purged["entry_after"]


def test_settings_are_one_edit_check_mode_real_check_mode_real(config_only):
    d = config_only.config_dir
    args = {"settings": {"smtpd_helo_required": True, "smtpd_junk_command_limit": 50,
                         "smtpd_client_connection_count_limit": 20},
            "config_dir": d}
    before = digest(d)
    predicted = run_module("postconf", args, check_mode=True, diff=True)
    assert predicted["changed"] and digest(d) == before
    assert sorted(predicted["changed_names"]) == [
        "smtpd_client_connection_count_limit", "smtpd_helo_required",
        "smtpd_junk_command_limit"]
    assert "smtpd_helo_required = yes" in predicted["diff"][0]["after"]
    done = run_module("postconf", args, diff=True)
    assert done["changed"] and done["reload_needed"] and not done["restart_needed"]
    assert done["values_after"] == {"smtpd_helo_required": "yes", "smtpd_junk_command_limit": "50",
                                    "smtpd_client_connection_count_limit": "20"}
    main_cf = open(os.path.join(d, "main.cf")).read()
    for line in ("smtpd_helo_required = yes", "smtpd_junk_command_limit = 50",
                 "smtpd_client_connection_count_limit = 20"):
        assert line in main_cf
    assert not run_module("postconf", args, check_mode=True)["changed"]
    again = run_module("postconf", args)
    assert not again["changed"] and again["changed_names"] == []
    removed = run_module("postconf", {"settings": {"smtpd_helo_required": None,
                                                   "smtpd_junk_command_limit": None},
                                      "state": "absent", "config_dir": d})
    assert removed["changed"] and sorted(removed["changed_names"]) == [
        "smtpd_helo_required", "smtpd_junk_command_limit"]
    main_cf = open(os.path.join(d, "main.cf")).read()
    assert "smtpd_helo_required" not in main_cf and "smtpd_junk_command_limit" not in main_cf
    assert "smtpd_client_connection_count_limit = 20" in main_cf


def test_settings_needing_a_restart_say_so(config_only):
    result = run_module("postconf", {"settings": {"inet_protocols": "ipv4",
                                                  "smtpd_helo_required": "yes"},
                                     "config_dir": config_only.config_dir})
    assert result["changed"] and result["restart_needed"] and not result["reload_needed"]
