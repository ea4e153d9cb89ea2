# SPDX-License-Identifier: GPL-3.0-or-later
"""Our stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates its virtual environments without pip and downloads a bootstrap
script from a host this network cannot reach. It runs a cached copy instead if one exists,
so scripts/sanity.sh puts this file there. It installs pip from the interpreter's own
ensurepip, then the packages ansible-test asked for (pip==X) from PyPI.

Debian's pip trusts the system's certificate store (with the machine's local CAs); the
pip that ansible-test asks for is PyPI's, which trusts only its own bundle and fails behind
a TLS-inspecting proxy. So the environment gets a pip.conf of its own naming the system
store, as Debian's pip would use: ansible-test passes no PIP_* variables to pip.
"""

import os
import subprocess
import sys

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"

if os.path.exists(SYSTEM_CA) and sys.prefix != sys.base_prefix:
    with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as fh:
        fh.write("[global]\ncert = %s\n" % SYSTEM_CA)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
