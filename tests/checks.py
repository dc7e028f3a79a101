"""Soft assertions for the script tests (test_faults.py, test_run_file_cli.py): a failed check is
printed and counted, and the script goes on to its other cases before exiting non-zero."""

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return ok
