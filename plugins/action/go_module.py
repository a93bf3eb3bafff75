# -*- coding: utf-8 -*-
# Copyright: Jenkins HA platform team
# Apache License 2.0 (see galaxy.yml)
"""Runs a jenkins_ha.buildkit Go binary module for the target's architecture.

The modules are static Go binaries built by ``make`` into ``plugins/bin`` as
``jenkins_ha_<module>_linux_<arch>`` (with a ``.sha256`` beside each). They live
outside ``plugins/modules`` so that ``ansible-doc`` only sees the documentation
files there. This plugin finds the target's architecture (from gathered facts
when present, else one ``uname -sm``) and runs the matching binary with the
binary-module protocol (an args file in argv[1], one JSON object back).

Ansible copies a binary module to the host on every task; ours are ~20 MB. So
the binary is kept on the host in ``~/.cache/jenkins_ha.buildkit/bin`` under a
name that carries its SHA-256, and sent only when that file is missing: a
repeated task sends only its arguments. Async tasks take Ansible's own path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

ARCHES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}

BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
REMOTE_CACHE = "~/.cache/jenkins_ha.buildkit/bin"


def _digest(path):
    """The binary's SHA-256: from the .sha256 file make writes, else computed."""
    try:
        with open(path + ".sha256") as f:
            digest = f.read().split()[0]
        if len(digest) == 64:
            return digest
    except (OSError, IndexError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ActionModule(ActionBase):
    def _target_arch(self, task_vars):
        # A delegated task runs elsewhere than the host whose facts these are.
        facts = {} if self._task.delegate_to else (task_vars or {}).get("ansible_facts", {})
        system = facts.get("system")
        machine = facts.get("architecture")
        if not machine:
            res = self._low_level_execute_command("uname -sm")
            if res.get("rc") != 0:
                raise AnsibleActionFail("cannot tell the target's architecture: uname -sm failed: %s" % res.get("stderr", "").strip())
            parts = res.get("stdout", "").split()
            if len(parts) != 2:
                raise AnsibleActionFail("cannot tell the target's architecture from uname -sm: %r" % res.get("stdout"))
            system, machine = parts
        if system and system.lower() != "linux":
            raise AnsibleActionFail("jenkins_ha.buildkit modules run on Linux targets only, this one is %s" % system)
        arch = ARCHES.get(machine)
        if arch is None:
            raise AnsibleActionFail("no jenkins_ha.buildkit binary for architecture %s (built: amd64, arm64)" % machine)
        return arch

    def _cached_binary(self, local, name):
        """The binary's path on the host, sent there only if it is not there yet."""
        cache = self._remote_expand_user(REMOTE_CACHE, sudoable=True)
        remote = self._connection._shell.join_path(cache, "%s-%s" % (name, _digest(local)[:20]))
        res = self._low_level_execute_command("test -x %s && echo present" % shlex.quote(remote), sudoable=True)
        if res.get("rc") == 0 and "present" in res.get("stdout", ""):
            return remote
        staged = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
        self._transfer_file(local, staged)
        cmd = "mkdir -p -m 0700 {d} && chmod 0755 {s} && mv -f {s} {r}".format(
            d=shlex.quote(cache), s=shlex.quote(staged), r=shlex.quote(remote)
        )
        res = self._low_level_execute_command(cmd, sudoable=True)
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot keep the module binary in %s on the host: %s" % (cache, res.get("stderr", "").strip()))
        return remote

    def _run_cached(self, local, name, task_vars):
        module_args = self._task.args.copy()
        self._update_module_args(name, module_args, task_vars)
        tmpdir = self._make_tmp_path()
        try:
            remote_bin = self._cached_binary(local, name)
            args_path = self._connection._shell.join_path(tmpdir, "args")
            self._transfer_data(args_path, json.dumps(module_args))
            self._fixup_perms2([tmpdir, args_path])
            res = self._low_level_execute_command("%s %s" % (shlex.quote(remote_bin), shlex.quote(args_path)), sudoable=True)
            data = self._parse_returned_data(res)
        finally:
            self._remove_tmp_path(tmpdir)
        if "stdout" in data and "stdout_lines" not in data:
            txt = data.get("stdout", "")
            data["stdout_lines"] = txt.splitlines() if isinstance(txt, str) else []
        remove_internal_keys(data)
        return data

    def run(self, tmp=None, task_vars=None):
        # Set here, not as class attributes: ActionBase.__init__ resets them.
        self._supports_async = True
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        module = (getattr(self._task, "resolved_action", None) or self._task.action).split(".")[-1]
        try:
            name = "jenkins_ha_%s_linux_%s" % (module, self._target_arch(task_vars))
            local = os.path.join(BIN_DIR, name)
            if not os.path.isfile(local):
                raise AnsibleActionFail("the %s binary is not built: run `make` in the collection (looked for %s)" % (module, local))
            if self._task.async_val and not self._connection.has_native_async:
                # Ansible's async wrapper needs its own copy of the module.
                self._shared_loader_obj.module_loader.add_directory(BIN_DIR)
                result = merge_hash(
                    result,
                    self._execute_module(
                        module_name="ansible.legacy." + name,
                        module_args=self._task.args.copy(),
                        task_vars=task_vars,
                        wrap_async=True,
                    ),
                )
                return result
            return merge_hash(result, self._run_cached(local, name, task_vars))
        except AnsibleActionFail as e:
            result.update(failed=True, msg=e.message)
            return result
