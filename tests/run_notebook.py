#!/usr/bin/env python3
"""Executes a notebook top to bottom in a fresh kernel (nbclient) with the package on PYTHONPATH,
in WORKDIR; fails on the first cell that raises. The executed copy is kept there to look at.

Usage: run_notebook.py NOTEBOOK PACKAGE_DIR WORKDIR
"""
import os
import shutil
import sys

import nbformat
from nbclient import NotebookClient

notebook, package_dir, work = (os.path.abspath(a) for a in sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.environ["PYTHONPATH"] = package_dir + os.pathsep + os.environ.get("PYTHONPATH", "")
os.environ["MPLBACKEND"] = "Agg"
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # ipykernel debugger noise on frozen modules
nb = nbformat.read(notebook, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": work}}).execute()
nbformat.write(nb, os.path.join(work, os.path.basename(notebook)))
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
print(f"{len(nb.cells)} cells executed, {len(errors)} errors")
sys.exit(1 if errors else 0)
