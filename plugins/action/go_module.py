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
name that carries its SHA-256, and sent only when that file is missing. A
repeated task is one round trip: a fixed shell snippet picks the binary for
``uname -m`` and runs it with the task's arguments, which travel on stdin into a
private temp file (never on a command line). Async tasks take Ansible's own path.
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
NEED_MARKER = "__JENKINS_HA_BUILDKIT_NEEDS_BINARY__"


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
    def _binaries(self, module):
        """Local binary, SHA-256 and cached name on the host, per architecture we ship."""
        out = {}
        for arch in sorted(set(ARCHES.values())):
            name = "jenkins_ha_%s_linux_%s" % (module, arch)
            local = os.path.join(BIN_DIR, name)
            if os.path.isfile(local):
                out[arch] = (local, "%s-%s" % (name, _digest(local)[:20]))
        return out

    def _run_command(self, binaries):
        """One round trip: pick the binary for the host's uname -m, run it if the
        host has it (arguments on stdin into a private temp file), else report
        what the host is so the binary can be sent."""
        cases = " ".join(
            "%s) b=%s ;;" % (machine, shlex.quote(binaries[arch][1]))
            for machine, arch in sorted(ARCHES.items())
            if arch in binaries
        )
        return (
            'c="$HOME/{cache}"; case "$(uname -m)" in {cases} *) b= ;; esac; '
            'if [ "$(uname -s)" = Linux ] && [ -n "$b" ] && [ -x "$c/$b" ]; then '
            'f=$(mktemp) || exit 1; cat > "$f"; "$c/$b" "$f"; rc=$?; rm -f "$f"; exit $rc; '
            'else echo "{marker} $(uname -sm) $HOME"; fi'
        ).format(cache=REMOTE_CACHE[2:], cases=cases, marker=NEED_MARKER)

    def _send_binary(self, local, cached, home):
        cache = self._connection._shell.join_path(home, REMOTE_CACHE[2:])
        staged = self._connection._shell.join_path(cache, ".%s.partial" % cached)
        res = self._low_level_execute_command("mkdir -p -m 0700 %s" % shlex.quote(cache), sudoable=True)
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot make %s on the host: %s" % (cache, res.get("stderr", "").strip()))
        self._transfer_file(local, staged)
        res = self._low_level_execute_command(
            "chmod 0755 {s} && mv -f {s} {r}".format(s=shlex.quote(staged), r=shlex.quote(self._connection._shell.join_path(cache, cached))),
            sudoable=True,
        )
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot keep the module binary in %s on the host: %s" % (cache, res.get("stderr", "").strip()))

    def _run_cached(self, module, task_vars):
        binaries = self._binaries(module)
        if not binaries:
            raise AnsibleActionFail("the %s binary is not built: run `make` in the collection (looked in %s)" % (module, BIN_DIR))
        module_args = self._task.args.copy()
        self._update_module_args(module, module_args, task_vars)
        in_data = json.dumps(module_args).encode("utf-8")
        # The task's environment: applies to the module, as for any module.
        cmd = "%s /bin/sh -c %s" % (self._compute_environment_string(), shlex.quote(self._run_command(binaries)))
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
        out = res.get("stdout", "")
        if out.startswith(NEED_MARKER):
            parts = out.split()
            if len(parts) < 4:
                raise AnsibleActionFail("cannot tell the target's system from %r" % out)
            system, machine, home = parts[1], parts[2], parts[3]
            if system != "Linux":
                raise AnsibleActionFail("jenkins_ha.buildkit modules run on Linux targets only, this one is %s" % system)
            arch = ARCHES.get(machine)
            if arch is None or arch not in binaries:
                raise AnsibleActionFail("no jenkins_ha.buildkit binary for architecture %s (built: %s)" % (machine, ", ".join(sorted(binaries))))
            self._send_binary(binaries[arch][0], binaries[arch][1], home)
            res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
            if res.get("stdout", "").startswith(NEED_MARKER):
                raise AnsibleActionFail("the module binary was sent to the host but cannot be run there: %s" % res.get("stdout"))
        data = self._parse_returned_data(res)
        if "stdout" in data and "stdout_lines" not in data:
            txt = data.get("stdout", "")
            data["stdout_lines"] = txt.splitlines() if isinstance(txt, str) else []
        remove_internal_keys(data)
        return data

    def _target_arch(self, task_vars):
        """The target's architecture, for Ansible's own (async) path."""
        facts = {} if self._task.delegate_to else (task_vars or {}).get("ansible_facts", {})
        system = facts.get("system")
        machine = facts.get("architecture")
        if not machine:
            res = self._low_level_execute_command("uname -sm")
            parts = res.get("stdout", "").split()
            if res.get("rc") != 0 or len(parts) != 2:
                raise AnsibleActionFail("cannot tell the target's architecture: uname -sm said %r" % res.get("stdout"))
            system, machine = parts
        if system and system.lower() != "linux":
            raise AnsibleActionFail("jenkins_ha.buildkit modules run on Linux targets only, this one is %s" % system)
        arch = ARCHES.get(machine)
        if arch is None:
            raise AnsibleActionFail("no jenkins_ha.buildkit binary for architecture %s (built: amd64, arm64)" % machine)
        return arch

    def run(self, tmp=None, task_vars=None):
        # Set here, not as class attributes: ActionBase.__init__ resets them.
        self._supports_async = True
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        module = (getattr(self._task, "resolved_action", None) or self._task.action).split(".")[-1]
        try:
            if self._task.async_val and not self._connection.has_native_async:
                # Ansible's async wrapper needs its own copy of the module.
                name = "jenkins_ha_%s_linux_%s" % (module, self._target_arch(task_vars))
                if not os.path.isfile(os.path.join(BIN_DIR, name)):
                    raise AnsibleActionFail("the %s binary is not built: run `make` in the collection (looked for %s)" % (module, name))
                self._shared_loader_obj.module_loader.add_directory(BIN_DIR)
                return merge_hash(
                    result,
                    self._execute_module(
                        module_name="ansible.legacy." + name,
                        module_args=self._task.args.copy(),
                        task_vars=task_vars,
                        wrap_async=True,
                    ),
                )
            return merge_hash(result, self._run_cached(module, task_vars))
        except AnsibleActionFail as e:
            result.update(failed=True, msg=e.message)
            return result
