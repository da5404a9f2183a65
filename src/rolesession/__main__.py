"""``python -m rolesession``: the command line."""

from rolesession.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
