# -*- coding: utf-8 -*-
# Copyright: Jenkins HA platform team
# Apache License 2.0 (see galaxy.yml)
"""Runs a jenkins_ha.buildkit Go binary module for the target's architecture.

The modules are static Go binaries built by ``make`` into ``plugins/bin`` as
``jenkins_ha_<module>_linux_<arch>``. They live outside ``plugins/modules`` so
that ``ansible-doc`` only sees the documentation files there. This plugin finds
the target's architecture (from gathered facts when present, else one
``uname -m``), and hands the matching binary to Ansible's normal module
execution: the binary-module protocol, check mode, async and become all work
as for any module.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

ARCHES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}

BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")


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

    def run(self, tmp=None, task_vars=None):
        # Set here, not as class attributes: ActionBase.__init__ resets them.
        self._supports_async = True
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        module = (getattr(self._task, "resolved_action", None) or self._task.action).split(".")[-1]
        try:
            name = "jenkins_ha_%s_linux_%s" % (module, self._target_arch(task_vars))
            if not os.path.isfile(os.path.join(BIN_DIR, name)):
                raise AnsibleActionFail(
                    "the %s binary is not built: run `make` in the collection (looked for %s)" % (module, os.path.join(BIN_DIR, name))
                )
        except AnsibleActionFail as e:
            result.update(failed=True, msg=e.message)
            return result
        self._shared_loader_obj.module_loader.add_directory(BIN_DIR)

        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(
            result,
            self._execute_module(
                module_name="ansible.legacy." + name,
                module_args=self._task.args.copy(),
                task_vars=task_vars,
                wrap_async=wrap_async,
            ),
        )
        if not wrap_async:
            # As the normal action does: the module's temp dir goes once the task is done.
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
