"""Stand-in for the get-pip script that ansible-test downloads on first use.

ansible-test bootstraps pip into every virtual environment it creates by running a
get-pip script fetched from ci-files.testing.ansible.com and cached as
~/.ansible/test/cache/get_pip_<version>.py. That host is out of reach on our
machines (only the package index is), so the harness places this file in the cache
instead. It installs the pip bundled with Python through ensurepip, in a child
process so that pip is imported fresh, and then has that pip install exactly what
ansible-test asked for (the pinned pip version) from the package index.
"""

import subprocess
import sys

# Options that only get-pip understands; pip itself would reject them.
GET_PIP_ONLY_OPTIONS = {'--no-setuptools', '--no-wheel'}


def main() -> None:
    pip_arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.run([sys.executable, '-m', 'ensurepip', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, '-m', 'pip', 'install', *pip_arguments], check=True)


if __name__ == '__main__':
    main()
