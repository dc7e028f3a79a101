#!/usr/bin/env bash
# Installs the optional benchmark peers (bench/peers/, bench/cpu_shapes.py) on Debian 12:
# PyTorch from Debian (python3-torch 1.13, CPU, for Debian's /usr/bin/python3 with its NumPy 1.24)
# and JAX (CPU) from PyPI into a virtual environment of its own. The two cannot share an
# interpreter: JAX from PyPI needs NumPy 2, with which Debian's torch cannot convert arrays
# ("Numpy is not available"), so the venv does not see Debian's packages and each peer runs under
# its own python (bench/cpu_shapes.py and bench/peers/check_peers.py start them so).
# Not needed to build, test or run specsweep, and not part of CI or scripts/test.sh.
#
# Usage: scripts/setup-peers.sh [VENV]     (default VENV: .venv-peers in the repository root)
# Then:  /usr/bin/python3 bench/cpu_shapes.py ...   (finds .venv-peers/bin/python for the JAX peer)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.venv-peers}
# Debian's interpreter, not whatever `python3` is first on PATH (a pyenv shim has no python3-torch).
py=/usr/bin/python3

packages=(python3 python3-venv python3-pip python3-numpy python3-h5py python3-torch)
bash "$(dirname "$0")/install-debian-packages.sh" "${packages[@]}"

[[ -x $venv/bin/python ]] || "$py" -m venv "$venv"
echo '*' > "$venv/.gitignore"  # the venv ignores itself: nothing in it is ever committed
"$venv/bin/python" -m pip install -q --upgrade pip "jax[cpu]"
"$py" -c 'import torch, numpy; print(f"PyTorch peer: torch {torch.__version__}, numpy {numpy.__version__} ('"$py"')")'
"$venv/bin/python" -c 'import jax, numpy; print(f"JAX peer: jax {jax.__version__} on {jax.devices()[0].platform}, numpy {numpy.__version__} ('"$venv"'/bin/python)")'
