# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
"""Runs a jenkins_ha.buildkit module: the collection's multi-call Go binary for the target's architecture.

Every module of the collection is one static Go binary per architecture,
``plugins/bin/jenkins_ha_buildkit_linux_<arch>`` (built by ``make``, with a
``.sha256`` beside it), that runs the module it is named for (busybox-style).
It lives outside ``plugins/modules`` so that ``ansible-doc`` and ansible-test
only see the documentation files there.

A repeated task is one round trip: a fixed shell snippet picks the binary for
the host's ``uname -m`` from ``~/.cache/jenkins_ha.buildkit/bin`` (named by its
SHA-256) and runs it as ``<binary> <module> <args file>``; the arguments travel
on stdin into a private temporary file (never on a command line). Only when the
host lacks that binary is it sent, once, for every module. Async tasks take
Ansible's own path (its async wrapper needs its own copy of the module).

Works on ansible-core 2.14 to the newest. It uses only these ActionBase
internals, each checked by tests/controller/test_go_module.py on every
controller CI runs:

- ``_low_level_execute_command(cmd, sudoable=, in_data=)``: runs a command the
  way ``raw`` does (become, shell executable);
- ``_compute_environment_string()``: the task's ``environment:``, templated
  as this ansible-core templates it;
- ``_execute_module(module_name=, module_args=, task_vars=, wrap_async=True)``
  and ``module_loader.add_directory()``: async tasks only.

The ``_ansible_*`` keys the binary reads are set here from the task (see
``module_args``), and its one JSON reply is parsed here: both ends of that
protocol are this collection's.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import hashlib
import json
import os
import posixpath
import shlex
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

# uname -m -> the GOARCH of the binary built for it.
ARCHES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}

BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
BINARY = "jenkins_ha_buildkit_linux_%s"
REMOTE_CACHE = ".cache/jenkins_ha.buildkit/bin"  # under the (become) user's $HOME
NEED_MARKER = "__JENKINS_HA_BUILDKIT_NEEDS_BINARY__"


def digest(path):
    """The binary's SHA-256: from the .sha256 file make writes, else computed."""
    try:
        with open(path + ".sha256") as f:
            value = f.read().split()[0]
        if len(value) == 64:
            return value
    except (OSError, IndexError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def binaries():
    """Per architecture we ship: the local binary and its name in the host-side cache."""
    out = {}
    for arch in sorted(set(ARCHES.values())):
        local = os.path.join(BIN_DIR, BINARY % arch)
        if os.path.isfile(local):
            out[arch] = (local, "%s-%s" % (BINARY % arch, digest(local)[:20]))
    return out


def run_command(module, bins):
    """The one round trip: pick the binary for the host's uname -m and run it
    if the host has it (the arguments on its stdin, read as the arguments file
    "-": no file holding them is written on the host, so none is left behind
    when the run is killed), else report what the host is so that the binary
    can be sent."""
    cases = " ".join(
        "%s) b=%s ;;" % (machine, shlex.quote(bins[arch][1]))
        for machine, arch in sorted(ARCHES.items())
        if arch in bins
    )
    return (
        'c="$HOME/{cache}"; case "$(uname -m)" in {cases} *) b= ;; esac; '
        'if [ "$(uname -s)" = Linux ] && [ -n "$b" ] && [ -x "$c/$b" ]; then '
        'exec "$c/$b" {module} -; '
        'else echo "{marker} $(uname -sm) $HOME"; fi'
    ).format(cache=REMOTE_CACHE, cases=cases, module=shlex.quote(module), marker=NEED_MARKER)


def json_default(value):
    """Task arguments JSON does not know: dates as ISO strings, anything else as text."""
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    return str(value)


def parse_reply(res):
    """The binary's one JSON object. As Ansible does for any module, lines
    before it (a login banner) are skipped and a reply that is not JSON is a
    MODULE FAILURE with what the host printed."""
    out = res.get("stdout", "") or ""
    data, end, offset = None, 0, 0
    for line in out.splitlines(True):
        if line.lstrip().startswith("{"):
            try:
                data, end = json.JSONDecoder().raw_decode(out, offset + len(line) - len(line.lstrip()))
            except ValueError:
                data = None
            break
        offset += len(line)
    if not isinstance(data, dict):
        failure = {
            "failed": True,
            "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
            "module_stdout": out,
            "module_stderr": res.get("stderr", "") or "",
        }
        if "rc" in res:
            failure["rc"] = res["rc"]
        return failure
    # The runtime never returns Ansible's internal keys; drop any, as Ansible would.
    for k in [k for k in data if k.startswith("_ansible_")]:
        del data[k]
    rest = out[end:].strip()
    if rest:
        data.setdefault("warnings", []).append("Module invocation had junk after the JSON data: %s" % rest)
    if "stdout" in data and "stdout_lines" not in data:
        txt = data.get("stdout", "")
        data["stdout_lines"] = txt.splitlines() if isinstance(txt, str) else []
    return data


class ActionModule(ActionBase):
    def module_args(self, module):
        """The task's arguments and the ``_ansible_*`` keys the binary's runtime
        reads (module-src/internal/module/validate.go, internalKeys), from the
        task's public keywords."""
        args = dict(self._task.args)
        args.update(
            _ansible_check_mode=bool(self._task.check_mode),
            _ansible_diff=bool(self._task.diff),
            _ansible_no_log=bool(self._task.no_log),
            _ansible_verbosity=display.verbosity,
            _ansible_version=ansible_version,
            _ansible_module_name=module,
            _ansible_remote_tmp=self.get_shell_option("remote_tmp", default="~/.ansible/tmp"),
        )
        # Gone from ansible-core 2.19 on (the module then warns, its default).
        conversion = getattr(C, "STRING_CONVERSION_ACTION", None)
        if conversion:
            args["_ansible_string_conversion_action"] = conversion
        return args

    def command(self, cmd, sudoable=True, in_data=None):
        return self._low_level_execute_command(cmd, sudoable=sudoable, in_data=in_data)

    def send_binary(self, local, cached, home):
        """Keeps the binary in the (become) user's cache on the host. Without
        become the connection's user puts it there; with become it is staged
        in a directory of the connection's user and copied by the become user."""
        cache = posixpath.join(home, REMOTE_CACHE)
        final = posixpath.join(cache, cached)
        partial = posixpath.join(cache, ".%s.partial" % cached)
        if not self._play_context.become:
            res = self.command("mkdir -p -m 0700 %s" % shlex.quote(cache))
            if res.get("rc") != 0:
                raise AnsibleActionFail("cannot make %s on the host: %s" % (cache, (res.get("stderr") or "").strip()))
            self._connection.put_file(local, partial)
            res = self.command("chmod 0755 {p} && mv -f {p} {f}".format(p=shlex.quote(partial), f=shlex.quote(final)))
        else:
            res = self.command('s=$(mktemp -d) && chmod 0711 "$s" && echo "$s"', sudoable=False)
            stage = (res.get("stdout") or "").strip()
            if res.get("rc") != 0 or not stage.startswith("/"):
                raise AnsibleActionFail("cannot make a staging directory on the host: %s" % (res.get("stderr") or "").strip())
            staged = posixpath.join(stage, cached)
            try:
                self._connection.put_file(local, staged)
                res = self.command("chmod 0644 %s" % shlex.quote(staged), sudoable=False)
                if res.get("rc") == 0:
                    res = self.command(
                        "mkdir -p -m 0700 {c} && cp {s} {p} && chmod 0755 {p} && mv -f {p} {f}".format(
                            c=shlex.quote(cache), s=shlex.quote(staged), p=shlex.quote(partial), f=shlex.quote(final)))
            finally:
                self.command("rm -rf %s" % shlex.quote(stage), sudoable=False)
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot keep the module binary in %s on the host: %s" % (cache, (res.get("stderr") or "").strip()))

    def run_cached(self, module):
        bins = binaries()
        if not bins:
            raise AnsibleActionFail("the jenkins_ha.buildkit binaries are not built: run `make` in the collection (looked in %s)" % BIN_DIR)
        in_data = json.dumps(self.module_args(module), default=json_default).encode("utf-8")
        # The task's environment applies to the module, as for any module.
        cmd = "%s /bin/sh -c %s" % (self._compute_environment_string(), shlex.quote(run_command(module, bins)))
        res = self.command(cmd, in_data=in_data)
        out = res.get("stdout", "") or ""
        if out.startswith(NEED_MARKER):
            parts = out.split()
            if len(parts) < 4:
                raise AnsibleActionFail("cannot tell the target's system from %r" % out)
            system, machine, home = parts[1], parts[2], parts[3]
            if system != "Linux":
                raise AnsibleActionFail("jenkins_ha.buildkit modules run on Linux targets only, this one is %s" % system)
            arch = ARCHES.get(machine)
            if arch is None or arch not in bins:
                raise AnsibleActionFail("no jenkins_ha.buildkit binary for architecture %s (built: %s)" % (machine, ", ".join(sorted(bins))))
            self.send_binary(bins[arch][0], bins[arch][1], home)
            res = self.command(cmd, in_data=in_data)
            if (res.get("stdout") or "").startswith(NEED_MARKER):
                raise AnsibleActionFail("the module binary was sent to the host but cannot be run there: %s" % res.get("stdout"))
        return parse_reply(res)

    def target_arch(self, task_vars):
        """The target's architecture, for Ansible's own (async) path."""
        facts = {} if self._task.delegate_to else (task_vars or {}).get("ansible_facts", {})
        system = facts.get("system")
        machine = facts.get("architecture")
        if not machine:
            res = self.command("uname -sm")
            parts = (res.get("stdout") or "").split()
            if res.get("rc") != 0 or len(parts) != 2:
                raise AnsibleActionFail("cannot tell the target's architecture: uname -sm said %r" % res.get("stdout"))
            system, machine = parts
        if system and system.lower() != "linux":
            raise AnsibleActionFail("jenkins_ha.buildkit modules run on Linux targets only, this one is %s" % system)
        arch = ARCHES.get(machine)
        if arch is None:
            raise AnsibleActionFail("no jenkins_ha.buildkit binary for architecture %s (built: amd64, arm64)" % machine)
        return arch

    def run_async(self, module, task_vars):
        """Ansible's own module execution with its async wrapper. The binary is
        offered to Ansible's module loader under the module's own name (a link
        in this run's local temporary directory), which is the name the binary
        dispatches on when Ansible runs it as AnsiballZ_<name>."""
        arch = self.target_arch(task_vars)
        local = os.path.join(BIN_DIR, BINARY % arch)
        if not os.path.isfile(local):
            raise AnsibleActionFail("the jenkins_ha.buildkit binary is not built: run `make` in the collection (looked for %s)" % local)
        name = "jenkins_ha_%s_linux_%s" % (module, arch)
        local_tmp = getattr(C, "DEFAULT_LOCAL_TMP", None)
        links = tempfile.mkdtemp(prefix="jenkins_ha.buildkit-", dir=local_tmp if local_tmp and os.path.isdir(local_tmp) else None)
        os.symlink(local, os.path.join(links, name))
        self._shared_loader_obj.module_loader.add_directory(links)
        return self._execute_module(
            module_name="ansible.legacy." + name,
            module_args=dict(self._task.args),
            task_vars=task_vars,
            wrap_async=True,
        )

    def run(self, tmp=None, task_vars=None):
        # Set here, not as class attributes: ActionBase.__init__ resets them.
        self._supports_async = True
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        module = (getattr(self._task, "resolved_action", None) or self._task.action).split(".")[-1]
        try:
            if self._task.async_val and not self._connection.has_native_async:
                return merge_hash(result, self.run_async(module, task_vars))
            return merge_hash(result, self.run_cached(module))
        except AnsibleActionFail as e:
            result.update(failed=True, msg=str(e.message))
            return result
