"""Our stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates its virtual environments without pip and downloads a bootstrap
script from a host this network cannot reach. It runs a cached copy instead if one exists,
so scripts/sanity.sh puts this file there. It installs pip from the interpreter's own
ensurepip, then the packages ansible-test asked for (pip==X) from PyPI.
"""

import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
