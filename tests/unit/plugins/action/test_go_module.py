# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
"""The ansible-core internals plugins/action/go_module.py relies on, checked on
the controller that runs this file (CI runs it on each: tests/run), so that
the day one changes, this fails with its name instead of every task failing.

    python3 tests/unit/plugins/action/test_go_module.py   # with the controller's python3
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import importlib.util
import inspect
import os
import re
import unittest

from ansible.plugins.action import ActionBase
from ansible.plugins.connection import ConnectionBase
from ansible.plugins.loader import PluginLoader, shell_loader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.release import __version__

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def load_plugin():
    spec = importlib.util.spec_from_file_location("go_module", os.path.join(ROOT, "plugins", "action", "go_module.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def params(func):
    return list(inspect.signature(func).parameters)


class Shell:
    """The sh shell plugin with what get_shell_option reads."""

    def __init__(self):
        self.shell = shell_loader.get("sh")
        self.tmpdir = None


class Conn:
    has_native_async = False
    socket_path = None
    become = None

    def __init__(self):
        self._shell = shell_loader.get("sh")
        self._shell.tmpdir = None


def plugin_for(mod, task):
    pc = PlayContext()
    return mod.ActionModule(task, Conn(), pc, loader=None, templar=None, shared_loader_obj=None)


class TestInternals(unittest.TestCase):
    def test_low_level_execute_command(self):
        p = params(ActionBase._low_level_execute_command)
        self.assertEqual(p[:4], ["self", "cmd", "sudoable", "in_data"], "ActionBase._low_level_execute_command(cmd, sudoable, in_data) changed: %s" % p)

    def test_compute_environment_string(self):
        p = params(ActionBase._compute_environment_string)
        self.assertEqual(p[0], "self")
        for name in p[1:]:
            self.assertIsNot(inspect.signature(ActionBase._compute_environment_string).parameters[name].default, inspect.Parameter.empty,
                             "ActionBase._compute_environment_string() now needs %s" % name)

    def test_execute_module(self):
        p = params(ActionBase._execute_module)
        for name in ("module_name", "module_args", "task_vars", "wrap_async"):
            self.assertIn(name, p, "ActionBase._execute_module lost %s" % name)

    def test_public_api(self):
        self.assertTrue(callable(PluginLoader.add_directory))
        self.assertIn("option", params(ActionBase.get_shell_option))
        self.assertEqual(params(ConnectionBase.put_file)[:3], ["self", "in_path", "out_path"])
        self.assertTrue(hasattr(ConnectionBase, "has_native_async"))
        for attr in ("args", "async_val", "check_mode", "diff", "no_log", "delegate_to", "action", "resolved_action"):
            self.assertTrue(attr in dir(Task) or hasattr(Task(), attr), "Task.%s is gone" % attr)
        self.assertTrue(hasattr(PlayContext(), "become"))


class TestModuleArgs(unittest.TestCase):
    """The _ansible_* keys the binary's runtime reads are set from the task as
    ansible-core's own _update_module_args sets them."""

    def setUp(self):
        self.mod = load_plugin()

    def task(self, **kw):
        t = Task()
        t.args = {"name": "x"}
        for k, v in kw.items():
            setattr(t, k, v)
        return t

    def test_same_values_as_ansible(self):
        for kw in ({"check_mode": False, "diff": False, "no_log": False}, {"check_mode": True, "diff": True, "no_log": True}):
            a = plugin_for(self.mod, self.task(**kw))
            a._supports_check_mode = True
            ours = a.module_args("buildkit_image")
            theirs = dict(a._task.args)
            a._update_module_args("buildkit_image", theirs, {})
            for key in ours:
                if key.startswith("_ansible_"):
                    self.assertIn(key, theirs, "ansible-core %s no longer sends %s" % (__version__, key))
                    self.assertEqual(ours[key], theirs[key], "%s differs from ansible-core %s's" % (key, __version__))
            self.assertEqual(ours["name"], "x")

    def test_every_key_the_runtime_reads_is_sent(self):
        with open(os.path.join(ROOT, "module-src", "internal", "module", "validate.go")) as f:
            src = f.read()
        body = src[src.index("func (v *validator) internalKeys"):]
        body = body[:body.index("\n}\n")]
        read = set(re.findall(r'"(_ansible_[a-z_]+)"', body))
        ours = set(plugin_for(self.mod, self.task()).module_args("buildkit_image"))
        # _ansible_tmpdir: the cached path makes no remote temp directory (the
        # runtime then uses _ansible_remote_tmp); _ansible_string_conversion_action:
        # gone from ansible-core 2.19 on, sent where it exists.
        missing = read - ours - {"_ansible_tmpdir", "_ansible_string_conversion_action"}
        self.assertFalse(missing, "the runtime reads keys the plugin does not send: %s" % sorted(missing))


class TestReply(unittest.TestCase):
    def setUp(self):
        self.mod = load_plugin()

    def test_banner_and_trailing_junk(self):
        data = self.mod.parse_reply({"stdout": 'motd\n{"changed": true}\nbye\n', "rc": 0})
        self.assertTrue(data["changed"])
        self.assertIn("junk after the JSON", data["warnings"][0])

    def test_not_json_is_module_failure(self):
        data = self.mod.parse_reply({"stdout": "Segmentation fault", "stderr": "core dumped", "rc": 139})
        self.assertTrue(data["failed"])
        self.assertEqual(data["rc"], 139)
        self.assertEqual(data["module_stderr"], "core dumped")
        self.assertIn("MODULE FAILURE", data["msg"])

    def test_internal_keys_dropped(self):
        data = self.mod.parse_reply({"stdout": '{"_ansible_no_log": true, "msg": "ok"}', "rc": 0})
        self.assertEqual(data, {"msg": "ok"})


if __name__ == "__main__":
    unittest.main()
