# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The driver of the modules that edit main.cf / master.cf (postconf, postfix_service,
xclient_hosts): one run from the options to the result.

A module gives its argument spec, checks its own input (raising FieldError, which names
the option), and one ``edit(work, entry)`` that decides on the locked work copy and
returns a Change: what it found and what it made. The driver owns the rest:

- the ``config_dir`` and ``backup`` options and check mode;
- a ``service`` option (``NAME/TYPE``) parsed once, and the service looked up once, under
  the lock, on the work copy: ``edit`` gets the entry and never sees a missing one;
- the safe edit (``_postfix_config_edit``) with the pre-flight check
  (``_postfix_preflight``), whose problems name the module's own fields;
- the shadow (``_shadow``): a changed copy must let mail flow on a shadow of the instance
  before anything is written (check mode too); option ``shadow``; a proven change that is
  written refreshes last-known-good;
- error mapping: every expected error ends the run with one message, no traceback;
- the result: ``changed``, ``diff`` in diff mode, ``backup_file``, and the Change's keys.

A setting's value given in YAML becomes Postfix text in one place (``setting_text``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Protocol, TypeVar

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailops.xclient.plugins.module_utils._module_glue import (
    BACKUP_SPEC,
    CONFIG_DIR_SPEC,
    FieldError,
    parse_service,
    postconf_for,
)
from ansible_collections.mailops.xclient.plugins.module_utils._param_types import (
    type_problems,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postconf import (
    PARAM_NAME,
    Postconf,
    PostconfError,
    ServiceEntry,
    braces_balanced,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_config_edit import (
    ConfigEditError,
    EditResult,
    edit_config,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_instance import (
    save_lkg,
    seed_lkg,
)
from ansible_collections.mailops.xclient.plugins.module_utils._postfix_preflight import (
    Locator,
    PreflightError,
    Problem,
    describe,
    generic_field,
    preflight,
)
from ansible_collections.mailops.xclient.plugins.module_utils._public_suffix import (
    LIST_PATHS,
)
from ansible_collections.mailops.xclient.plugins.module_utils._public_suffix import (
    load as load_suffixes,
)
from ansible_collections.mailops.xclient.plugins.module_utils._shadow import (
    SHADOW_SPEC,
    ShadowRefused,
    shadow_check,
)
from ansible_collections.mailops.xclient.plugins.module_utils._xclient_guard import (
    Judge,
    broad_problems,
)

# A pre-flight problem's field in the module's own words; None: the generic wording.
FieldNamer = Callable[[Locator], Optional[str]]
# Errors a run may end with; their message is the whole story.
EXPECTED = (ConfigEditError, PostconfError, PreflightError, ShadowRefused)


class Change(Protocol):
    """What an edit found and made; its result keys once the driver knows whether the
    files changed."""

    def result(self, changed: bool) -> Dict[str, Any]:
        ...


C = TypeVar("C", bound=Change)
Edit = Callable[[Postconf, Optional[ServiceEntry]], C]


def service_key(text: Optional[str], field: str = "service") -> Optional[str]:
    """``parse_service`` for an optional option: None when not given (or empty)."""
    return parse_service(text, field) if text else None


def setting_text(name: str, value: Any, *, override: bool,
                 field: Callable[[str], str]) -> Optional[str]:
    """A parameter and its YAML value as Postfix text: true/false as yes/no, numbers as
    written, surrounding whitespace off; None stays None (a removal). Whether Postfix can
    read the text as the parameter's type is asked of Postfix later (``_param_types``).

    ``field("name")`` / ``field("value")`` is the option an error names. An ``override``
    (a master.cf ``-o``) must have balanced braces: Postfix would read a stray brace as an
    argument of its own and the daemon would exit."""
    if not PARAM_NAME.match(name):
        raise FieldError(field("name"), f"{name!r} is not a Postfix parameter name")
    if value is None:
        return None
    if isinstance(value, (list, dict, tuple, set)):
        raise FieldError(field("value"), f"give {name} as text (a Postfix list is one string,"
                         f" comma or space separated), not a YAML {type(value).__name__}")
    text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    if any(ch in text for ch in "\r\n\0"):
        raise FieldError(field("value"), f"must not contain a line break or NUL ({name})")
    if override and not braces_balanced(text):
        raise FieldError(field("value"), f"the braces in {text!r} do not balance; as a -o"
                         " override Postfix would read the stray brace as an argument of"
                         " its own and the daemon would exit")
    return text.strip()


def find_service(work: Postconf, service: str, config_dir: str) -> ServiceEntry:
    """The entry of ``service`` (read under the lock); FieldError naming ``service``."""
    entries = work.services()
    for entry in entries:
        if entry.key == service:
            return entry
    raise FieldError("service", f"master.cf in {config_dir} has no service {service};"
                     " it has: " + ", ".join(e.key for e in entries))


def outcome(result: EditResult, change: Change, diff_mode: bool) -> Dict[str, Any]:
    """The module's result: changed, diff (in diff mode), backup_file, the change's keys."""
    out: Dict[str, Any] = {"changed": result.changed}
    if diff_mode and result.diff:
        out["diff"] = result.diff
    if result.backups:
        out["backup_file"] = result.backups
    out.update(change.result(result.changed))
    return out


# More checks of the edit (live, work) -> problems, such as the XCLIENT list guard.
Guard = Callable[[Postconf, Postconf], List[Problem]]


def preflight_check(postmap: str, field: Optional[FieldNamer], allow_unbound: bool,
                    guard: Optional[Guard] = None, notes: Optional[List[str]] = None,
                    shadow: Optional[Callable[[Postconf, Postconf], None]] = None
                    ) -> Callable[[Postconf, Postconf], None]:
    """The pre-flight step of the safe edit; its problems name the module's fields, what
    it could not check goes to ``notes``. Then ``shadow(live, work)``: the change on a
    shadow (raises ShadowRefused)."""
    def check(live: Postconf, work: Postconf) -> None:
        _preflight(live, work)
        if shadow is not None:
            shadow(live, work)

    def _preflight(live: Postconf, work: Postconf) -> None:
        problems: List[Problem] = []
        try:
            # Types first: a value Postfix cannot read as its type also stops postconf -m,
            # which the rest of the pre-flight asks.
            problems = type_problems(live, work)
            if guard is not None:
                problems += guard(live, work)
            problems += preflight(live, work, postmap, allow_unbound=allow_unbound,
                                  notes=notes)
        except PostconfError:
            # postconf cannot read the edited copy: postfix check says why, and the files
            # are put back (edit_config).
            if not problems:
                return
        if problems:
            raise PreflightError(problems, describe(
                problems, lambda loc: (field(loc) if field else None) or generic_field(loc))
                + " (nothing was written)")
    return check


class NotYetInCheckMode(Exception):
    """Check mode: the service the task edits does not exist (yet)."""


class ConfigModule:
    """One run of a config module; ``argument_spec`` without config_dir and backup."""

    def __init__(self, argument_spec: Dict[str, Any], **kwargs: Any) -> None:
        spec = dict(argument_spec, config_dir=CONFIG_DIR_SPEC, backup=BACKUP_SPEC,
                    shadow=SHADOW_SPEC)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
        self.params: Dict[str, Any] = self.module.params
        self._real: Optional[Postconf] = None

    @property
    def real(self) -> Postconf:
        """postconf for the live config dir (found once; fails the run without Postfix)."""
        if self._real is None:
            self._real = postconf_for(self.module, self.params["config_dir"])
        return self._real

    def fail(self, msg: str) -> NoReturn:
        self.module.fail_json(msg=msg)
        raise AssertionError("fail_json returned")  # for the type checker

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Ends the run with the message of an expected error raised inside."""
        try:
            yield
        except (FieldError,) + EXPECTED as exc:
            self.fail(str(exc))

    @property
    def postmap(self) -> str:
        """The postmap binary (fails the run without it)."""
        return str(self.module.get_bin_path("postmap", required=True, opt_dirs=["/usr/sbin"]))

    def judge(self, pc: Postconf, postmap: str) -> Judge:
        """The XCLIENT list judge for ``pc``; warns when the host has no public suffix
        list."""
        suffixes = load_suffixes()
        if suffixes.path is None:
            self.module.warn("No Public Suffix List on this host (" + ", ".join(LIST_PATHS)
                             + "; Debian/Ubuntu package publicsuffix): only top-level"
                             " domains and common country registries (co.uk, com.au ...)"
                             " are refused as XCLIENT names")
        return Judge(pc, postmap, suffixes, pc.map_types())

    def edit(self, edit: Edit[C], *, service: Optional[str] = None,
             field: Optional[FieldNamer] = None, allow_unbound: bool = False,
             allow_broad: bool = False) -> NoReturn:
        """Run ``edit`` safely under the lock and exit with the result.

        Unless ``allow_broad``, the XCLIENT / XFORWARD lists the edit writes are judged
        (``_xclient_guard``)."""
        config_dir = self.params["config_dir"]
        postmap = self.postmap

        notes: List[str] = []

        def guard(live: Postconf, work: Postconf) -> List[Problem]:
            # judged as the live instance will read it ($config_directory is the live one)
            return broad_problems(live, work, lambda: self.judge(live, postmap))

        def locked(work: Postconf) -> C:
            try:
                entry = find_service(work, service, config_dir) if service else None
            except FieldError as exc:
                if self.module.check_mode:
                    raise NotYetInCheckMode(str(exc)) from None
                raise
            return edit(work, entry)

        try:
            self._edit(locked, field, allow_unbound, allow_broad, guard, notes, postmap)
        except NotYetInCheckMode as exc:
            # An earlier task of the play creates the service, and its check mode created
            # nothing: say so and predict a change, rather than fail the dry run.
            self.module.warn(f"check mode: {exc}. If an earlier task creates it (its check"
                             " mode wrote nothing), the real run edits it then; this"
                             " prediction could not be checked")
            self.module.exit_json(changed=True, service_missing=True,
                                  msg=f"check mode: {service} does not exist yet")
        raise AssertionError("exit_json returned")

    def _edit(self, locked: Callable[[Postconf], C], field: Optional[FieldNamer],
              allow_unbound: bool, allow_broad: bool, guard: Guard, notes: List[str],
              postmap: str) -> None:
        config_dir = self.params["config_dir"]
        proven: Dict[str, Any] = {}

        def on_shadow(live: Postconf, work: Postconf) -> None:
            proven.update(shadow_check(live, work))
            if proven.get("warning"):
                self.module.warn(proven["warning"])

        with self.errors():
            result, change = edit_config(
                self.real, locked, check_mode=self.module.check_mode,
                atomic_move=self.module.atomic_move,
                backup=self.module.backup_local if self.params["backup"] else None,
                preflight=preflight_check(postmap, field, allow_unbound,
                                          None if allow_broad else guard, notes,
                                          on_shadow if self.params["shadow"] else None),
                before_write=seed_lkg)
            if result.changed and not self.module.check_mode and proven.get("proved"):
                # What mail was proven to flow on is the new last-known-good: a later
                # rollback never reverts this edit.
                save_lkg(config_dir)
        for note in notes:
            self.module.warn(note)
        out = outcome(result, change, self.module._diff)
        if proven:
            out["shadow"] = {k: v for k, v in proven.items() if k != "warning"}
        self.module.exit_json(**out)
