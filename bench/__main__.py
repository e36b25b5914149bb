"""``python -m bench``: run every benchmark and print its figures."""
from . import hook_dispatch

if __name__ == "__main__":
    raise SystemExit(hook_dispatch.main())
