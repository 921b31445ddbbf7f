"""Tiny test runner: python3 tests/e2e/run.py [SUBSTRING ...]

Runs every test_* function of tests/e2e/test_*.py in file order; with
arguments, only tests whose "file.function" name contains one of them.
"""

import glob
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def failure_text(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in tb if f.filename.startswith(HERE) and f.filename != os.path.abspath(__file__)]
    tb = (ours or tb)[-3:]
    frames = "".join(traceback.format_list(tb)).rstrip()
    message = str(exc) or type(exc).__name__
    if not isinstance(exc, AssertionError):
        message = f"{type(exc).__name__}: {message}"
    return message, "    " + frames.replace("\n", "\n    ")


def main(filters):
    passed = failed = 0
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        try:
            spec = importlib.util.spec_from_file_location(modname, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except Exception as exc:  # a broken file counts as a failure
            message, frames = failure_text(exc)
            print(f"FAIL {modname} (import): {message}\n{frames}", flush=True)
            failed += 1
            continue
        tests = [(name, fn) for name, fn in vars(module).items()
                 if name.startswith("test_") and callable(fn) and getattr(fn, "__module__", None) == modname]
        for name, fn in tests:
            if filters and not any(f in f"{modname}.{name}" for f in filters):
                continue
            start = time.monotonic()
            try:
                fn()
            except Exception as exc:
                message, frames = failure_text(exc)
                print(f"FAIL {name}: {message}\n{frames}", flush=True)
                failed += 1
            else:
                print(f"ok   {name} ({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
                passed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
