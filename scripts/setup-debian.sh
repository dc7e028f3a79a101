#!/usr/bin/env bash
# Installs everything specsweep needs to build, test and plot on Debian 12, from Debian packages.
# nvcc (CUDA toolkit) is optional and not installed here: the CUDA backend is built when it is present.
set -euo pipefail
packages=(
  build-essential cmake ninja-build git pkg-config
  libcli11-dev libtomlplusplus-dev libfmt-dev libhdf5-dev librandom123-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
  # A one-node Slurm for tests/test_slurm.py (scripts/slurm-local.sh): the daemons, munge, and the
  # plugins (mpi_pmix_v4 dlopens libpmix.so from libpmix-dev). Installing starts no Slurm daemon:
  # their init scripts do nothing without /etc/slurm/slurm.conf (slurm-local.sh writes it), and in
  # containers policy-rc.d usually forbids starting services; a munged started here is reused.
  slurm-wlm slurm-wlm-basic-plugins munge libpmix-dev
  python3 python3-numpy python3-h5py python3-matplotlib
  # Run files open in xarray through h5netcdf (tests/test_xarray.py checks it).
  python3-xarray python3-h5netcdf
  # The Python package (python/, docs/python.md): pybind11 for its extension, tqdm for its progress
  # bar, and Jupyter's kernel and runner for the example notebook CI executes.
  python3-dev pybind11-dev python3-pybind11 python3-tqdm python3-nbclient python3-nbformat python3-ipykernel
  # libFuzzer (fuzz/, SPECSWEEP_FUZZ): clang and its runtime libraries.
  clang libclang-rt-14-dev
)
bash "$(dirname "$0")/install-debian-packages.sh" "${packages[@]}"
