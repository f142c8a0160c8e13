"""TAP output for the Python CLI tests: numbered checks, skips, and the plan with the exit status at the end."""
import sys

_count = 0
_failures = 0


def check(ok, name, detail=""):
    """One test point; on failure, `detail` (up to 3000 characters) as TAP comments."""
    global _count, _failures
    _count += 1
    print(("ok" if ok else "not ok") + f" {_count} - {name}")
    if not ok:
        _failures += 1
        if detail:
            print("# " + str(detail).replace("\n", "\n# ")[:3000])


def skip(name, why):
    global _count
    _count += 1
    print(f"ok {_count} - {name} # SKIP {why}")


def finish():
    """Prints the plan and a summary, and exits 1 when any check failed."""
    print(f"1..{_count}")
    print(f"# {_count - _failures} passed, {_failures} failed")
    sys.exit(1 if _failures else 0)
