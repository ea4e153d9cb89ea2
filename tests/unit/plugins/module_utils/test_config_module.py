# SPDX-License-Identifier: GPL-3.0-or-later
"""The config-module driver's own parts: service keys, setting values, the service
lookup under the lock, the result shape, and the edit's value handed back by the safe
edit (check mode, no Postfix binary needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._config_module import (
    FieldError,
    find_service,
    outcome,
    parse_service,
    service_key,
    setting_text,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    Postconf,
    ServiceEntry,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    EditResult,
    edit_config,
)


def never_run(argv: List[str]) -> Tuple[int, str, str]:
    raise AssertionError(f"no command expected here: {argv}")


def part(name: str) -> str:
    return name


class Listing(Postconf):
    """A Postconf whose master.cf is given, not asked of postconf."""

    def __init__(self, entries: List[ServiceEntry]) -> None:
        super().__init__(never_run, "/work")
        self.entries = entries
        self.calls = 0

    def services(self) -> List[ServiceEntry]:
        self.calls += 1
        return self.entries


def entry(name: str, kind: str = "inet") -> ServiceEntry:
    return ServiceEntry(name, kind, "n", "-", "n", "-", "-", "smtpd")


# ---------------------------------------------------------------------- service keys

@pytest.mark.parametrize("given,key", [
    (None, None), ("", None),
    ("127.0.0.1:10025", "127.0.0.1:10025/inet"),
    ("submission/inet", "submission/inet"),
    ("[::1]:10025/inet", "[::1]:10025/inet"),
    ("filter/unix", "filter/unix"),
])
def test_service_key_canonical(given: Optional[str], key: Optional[str]) -> None:
    assert service_key(given) == key


def test_service_key_error_names_the_field() -> None:
    with pytest.raises(FieldError) as caught:
        service_key("smtp/tcp")
    assert caught.value.field == "service"
    assert str(caught.value).startswith("service: 'smtp/tcp': service type 'tcp'")
    with pytest.raises(FieldError, match=r"^login_expected\[2\]: 'a b' is not a master.cf"):
        service_key("a b", field="login_expected[2]")
    # given, an empty key is an error, not "no service"
    with pytest.raises(FieldError, match=r"^login_expected\[0\]: '' is not a master.cf"):
        parse_service("", field="login_expected[0]")


# ---------------------------------------------------------------------- setting values

@pytest.mark.parametrize("value,text", [
    (True, "yes"), (False, "no"), (20, "20"), (0, "0"), ("  permit  ", "permit"),
    ("a,  b", "a,  b"), ("", ""), (None, None),
])
def test_setting_text_yaml_to_postfix(value: Any, text: Optional[str]) -> None:
    assert setting_text("smtpd_x", value, override=False, field=part) == text


def test_setting_text_names_the_field() -> None:
    with pytest.raises(FieldError) as caught:
        setting_text("bad name", "1", override=False, field=lambda p: f"settings.bad name/{p}")
    assert caught.value.field == "settings.bad name/name"
    assert "'bad name' is not a Postfix parameter name" in str(caught.value)
    with pytest.raises(FieldError, match=r"^value: must not contain a line break or NUL"):
        setting_text("smtpd_banner", "a\nb", override=False, field=part)
    with pytest.raises(FieldError, match=r"^value: must not contain"):
        setting_text("smtpd_banner", "a\0b", override=True, field=part)
    # a bad name is refused even for a removal
    with pytest.raises(FieldError, match=r"^name: "):
        setting_text("9x", None, override=False, field=part)


def test_setting_text_braces_only_matter_for_overrides() -> None:
    assert setting_text("x", "inline:{ a=OK } }", override=False, field=part) == \
        "inline:{ a=OK } }"
    with pytest.raises(FieldError, match=r"^value: the braces in .* do not balance"):
        setting_text("x", "inline:{ a=OK } }", override=True, field=part)
    assert setting_text("x", "inline:{ a=OK, { b = OK } }", override=True, field=part) == \
        "inline:{ a=OK, { b = OK } }"


# ---------------------------------------------------------------------- the lookup

def test_find_service_asks_once_and_returns_the_entry() -> None:
    work = Listing([entry("smtp"), entry("127.0.0.1:10025")])
    assert find_service(work, "127.0.0.1:10025/inet", "/etc/postfix").name == \
        "127.0.0.1:10025"
    assert work.calls == 1


def test_find_service_missing_names_the_field_and_what_there_is() -> None:
    work = Listing([entry("smtp"), entry("pickup", "unix")])
    with pytest.raises(FieldError) as caught:
        find_service(work, "127.0.0.1:9/inet", "/etc/postfix-test")
    assert caught.value.field == "service"
    assert str(caught.value) == ("service: master.cf in /etc/postfix-test has no service"
                                 " 127.0.0.1:9/inet; it has: smtp/inet, pickup/unix")
    assert work.calls == 1


# ---------------------------------------------------------------------- the result

@dataclass
class Noted:
    before: str
    after: str

    def result(self, changed: bool) -> Dict[str, Any]:
        return {"before": self.before, "after": self.after, "reload_needed": changed}


def test_outcome_shape() -> None:
    diff = [{"before_header": "m", "after_header": "m", "before": "a", "after": "b"}]
    changed = EditResult(True, diff=diff, backups={"main.cf": "/b"})
    assert outcome(changed, Noted("a", "b"), diff_mode=True) == {
        "changed": True, "diff": diff, "backup_file": {"main.cf": "/b"},
        "before": "a", "after": "b", "reload_needed": True}
    assert "diff" not in outcome(changed, Noted("a", "b"), diff_mode=False)
    assert outcome(EditResult(False), Noted("a", "a"), diff_mode=True) == {
        "changed": False, "before": "a", "after": "a", "reload_needed": False}


# ---------------------------------------------------------------------- the edit's value

def config_dir(tmp_path: Path) -> Tuple[Postconf, Dict[str, bytes]]:
    files = {"main.cf": b"a = 1\n", "master.cf": b"smtp inet n - n - - smtpd\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return Postconf(never_run, str(tmp_path)), files


def unchanged(tmp_path: Path, files: Dict[str, bytes]) -> bool:
    return all((tmp_path / n).read_bytes() == d for n, d in files.items()) and \
        not [f for f in os.listdir(tmp_path) if f.startswith(".mailops")]


def append_to_main(work: Postconf, text: bytes) -> None:
    with open(os.path.join(work.config_dir, "main.cf"), "ab") as fh:
        fh.write(text)


def no_move(src: str, dst: str) -> None:
    raise AssertionError("check mode must not move files")


def test_edit_returns_what_it_made_in_check_mode_and_writes_nothing(tmp_path: Path) -> None:
    real, files = config_dir(tmp_path)

    def edit(work: Postconf) -> Noted:
        append_to_main(work, b"b = 2\n")
        return Noted("", "b = 2")

    result, made = edit_config(real, edit, check_mode=True, atomic_move=no_move)
    assert made == Noted("", "b = 2")
    assert result.changed and result.diff[0]["after"] == "a = 1\nb = 2\n"
    assert unchanged(tmp_path, files)


def test_edit_that_changes_nothing_still_hands_back_its_value(tmp_path: Path) -> None:
    real, files = config_dir(tmp_path)
    result, made = edit_config(real, lambda work: Noted("x", "x"), check_mode=False,
                               atomic_move=no_move)
    assert not result.changed and made == Noted("x", "x")
    assert unchanged(tmp_path, files)


def test_edit_that_raises_leaves_the_files_byte_identical(tmp_path: Path) -> None:
    real, files = config_dir(tmp_path)

    def edit(work: Postconf) -> Noted:
        append_to_main(work, b"half = written\n")
        raise FieldError("service", "master.cf has no service x/inet")

    with pytest.raises(FieldError, match="^service: "):
        edit_config(real, edit, check_mode=False, atomic_move=no_move)
    assert unchanged(tmp_path, files)


class Checked(Postconf):
    """A Postconf whose ``postfix check`` says what the test wants (no Postfix needed)."""

    def __init__(self, config_dir: str, ok: bool) -> None:
        super().__init__(never_run, config_dir)
        self.ok = ok

    def check(self) -> Tuple[bool, str]:
        return self.ok, "" if self.ok else "fatal: test says no"


@pytest.mark.parametrize("ok", [True, False])
def test_a_symlinked_main_cf_is_edited_through_the_link(tmp_path: Path, ok: bool) -> None:
    # main.cf kept elsewhere (version control, a shared tree) and linked into config_dir:
    # the edit and a rollback write the target; the link stays a link.
    conf, kept = tmp_path / "etc", tmp_path / "kept"
    conf.mkdir()
    kept.mkdir()
    (kept / "main.cf").write_bytes(b"a = 1\n")
    (conf / "main.cf").symlink_to(kept / "main.cf")
    (conf / "master.cf").write_bytes(b"")
    real = Checked(str(conf), ok)

    def edit(work: Postconf) -> Noted:
        append_to_main(work, b"b = 2\n")
        return Noted("", "b = 2")

    if ok:
        result, _made = edit_config(real, edit, check_mode=False, atomic_move=os.replace)
        assert result.changed
    else:
        with pytest.raises(Exception, match="test says no"):
            edit_config(real, edit, check_mode=False, atomic_move=os.replace)
    assert (conf / "main.cf").is_symlink()
    assert (kept / "main.cf").read_bytes() == (b"a = 1\nb = 2\n" if ok else b"a = 1\n")
    assert not [f for f in os.listdir(kept) if f.startswith(".mailops")]
