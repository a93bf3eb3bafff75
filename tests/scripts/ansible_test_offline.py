# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Jenkins HA platform team
# Apache License 2.0 (see LICENSE)
"""ansible-test, with its sanity virtual environments made from the Debian packages
of the controller's own release instead of pip (no package index is reachable here).

ansible-test makes one virtual environment per sanity test and pip-installs pinned
requirements into it. This runs the same ansible-test with those environments
created with the system's site-packages and nothing pip-installed, so each test
runs with its release's Debian packages (pylint, pycodestyle, yamllint, voluptuous,
...). Everything else is ansible-test's own.

    python3 tests/scripts/ansible_test_offline.py sanity ...   (tests/scripts/sanity.sh)
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import sys


def main():
    from ansible_test._internal.commands import sanity
    from ansible_test._internal.venv import create_virtual_environment

    def with_system_packages(args, python, path, system_site_packages=False, pip=False):
        return create_virtual_environment(args, python, path, True, pip)

    def no_pip(*_args, **_kwargs):
        return None

    sanity.create_virtual_environment = with_system_packages
    sanity.run_pip = no_pip
    sys.argv[0] = os.path.join(os.path.dirname(sanity.__file__), "ansible-test")
    from ansible_test._internal import main as ansible_test_main
    ansible_test_main()


if __name__ == "__main__":
    main()
