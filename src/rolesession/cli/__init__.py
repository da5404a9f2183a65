"""The ``rolesession`` command (also ``python -m rolesession``).

Imported only by the entry point, never by ``import rolesession``.

Exit codes: 0 success, 2 invalid usage or parameter, 3 no source
credentials, 4 STS answered with an error, 5 anything else (STS unreachable
included). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

TYPE_CHECKING = False  # neither ``typing`` nor ``logging`` at run time: the cached path answers without
if TYPE_CHECKING:
    import logging

    from rolesession import AssumeRoleError

__all__ = ["main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_SOURCE = 3
EXIT_STS_ERROR = 4
EXIT_OTHER = 5
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # --help or an error line into a closed pipe
        return _reader_went_away()


def _main(arguments: list[str]) -> int:
    if arguments == ["--version"]:  # no parser to build (argparse prints the same line)
        from rolesession import __version__

        print(f"rolesession {__version__}", flush=True)
        return EXIT_OK
    from .fast import answer

    try:
        cached = answer(arguments)  # a hand-out memo for exactly this run: no parser, no boto3
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    except BrokenPipeError:
        raise
    except Exception as exc:  # exec's command could not be run
        return _fail(exit_code(exc), describe(exc))
    if cached is not None:
        return cached
    from .errors import UsageError
    from .parser import parse_args

    try:
        args = parse_args(arguments)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except SystemExit as exc:  # --help and --version
        _flush_stdout()
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    with _logging(verbose=args.verbose):
        try:
            if args.command == "demo":
                from .demo import run_demo

                code = run_demo()
            elif args.command in ("token", "console"):
                from importlib import import_module

                code = import_module(f".{args.command}", __name__).run(args)
            elif args.command == "each":
                from .each import run_each

                code = run_each(args)
            elif args.command == "cache":
                from .process_cache import run_cache

                code = run_cache(args)
            else:
                from . import fast

                answered = fast.run(args)  # no boto3 when the file cache certainly answers
                if answered is None:
                    from .commands import run

                    answered = run(args)
                code = answered
                if (code == EXIT_OK and args.command == "assume") or args.command == "exec":
                    with suppress(Exception):  # a memo not written costs the next run its speed, no more
                        fast.remember(arguments, args)
            _flush_stdout()
            return code
        except KeyboardInterrupt:
            return _fail(130, "interrupted")
        except BrokenPipeError:
            return _reader_went_away()
        except Exception as exc:
            return _fail(exit_code(exc), describe(exc))


def _flush_stdout() -> None:
    # A closed pipe shows here, where it is handled, not in Python's flush at exit.
    if sys.stdout is not None:
        sys.stdout.flush()


def _reader_went_away() -> int:
    """Standard output's reader closed it (``rolesession demo | head -1``): end quietly.

    Exit 141 (128 + SIGPIPE), what a program killed by SIGPIPE reports to
    a shell. Python would print an error when it flushes standard output at
    exit, so our real standard output is pointed at /dev/null first.
    """
    import os

    if sys.stdout is sys.__stdout__ and sys.stdout is not None:
        with suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
    return EXIT_BROKEN_PIPE


def exit_code(exc: BaseException) -> int:
    """The CLI's exit code for an exception that ended a command."""
    from rolesession import AssumeRoleError, InvalidParameterError, SourceCredentialsError

    from .errors import CliError
    from .loops import explain

    if isinstance(exc, CliError):
        return exc.exit_code
    if explain(exc) is not None:
        return EXIT_NO_SOURCE
    if isinstance(exc, InvalidParameterError):
        return EXIT_USAGE
    if isinstance(exc, SourceCredentialsError) or _is_missing_profile(exc):
        return EXIT_NO_SOURCE
    if isinstance(exc, AssumeRoleError) and _sts_answered(exc):
        return EXIT_STS_ERROR
    return EXIT_OTHER


def _is_missing_profile(exc: BaseException) -> bool:
    # AWS_PROFILE names a profile that is not configured: boto3 and botocore
    # raise this as soon as a session reads its configuration.
    from botocore.exceptions import ProfileNotFound

    return isinstance(exc, ProfileNotFound)


def _sts_answered(exc: AssumeRoleError) -> bool:
    import botocore.exceptions

    if exc.__cause__ is not None:
        return isinstance(exc.__cause__, botocore.exceptions.ClientError)
    # No botocore error to look at (e.g. the error was pickled): connection
    # failures carry a botocore exception class name as their code.
    return exc.code not in ("Unknown", "InvalidResponse") and not hasattr(botocore.exceptions, exc.code)


def describe(exc: BaseException) -> str:
    """One line saying what went wrong; library messages never hold secrets."""
    from rolesession import InvalidParameterError, RoleSessionError, SourceCredentialsError, TokenError

    from .errors import CliError
    from .loops import explain
    from .options import option_for
    from .secret_commands import CommandError

    loop = None if isinstance(exc, CliError) else explain(exc)
    if loop is not None:  # a credential_process child found the loop: say it as it did
        return loop
    if isinstance(exc, InvalidParameterError):
        return f"{option_for(exc.parameter)}: {exc.reason}"
    if isinstance(exc, TokenError) and isinstance(exc.__cause__, CommandError):
        return f"{exc} ({exc.__cause__})"
    if _is_missing_profile(exc):
        return f"no source credentials: {exc} (AWS_PROFILE names it)"
    if isinstance(exc, SourceCredentialsError):
        return f"{exc}; on the command line the source is chosen with --profile NAME"
    if isinstance(exc, (RoleSessionError, CliError, CommandError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _fail(code: int, message: str) -> int:
    text = " ".join(message.split())  # one line, whatever the message held
    with suppress(OSError, ValueError):  # stderr closed too: the exit code says it
        print(f"rolesession: error: {text}", file=sys.stderr, flush=True)
    return code


def _one_line(record: logging.LogRecord) -> str:
    import logging

    message = " ".join(record.getMessage().split())
    if record.levelno >= logging.WARNING:
        return f"rolesession: {record.levelname.lower()}: {message}"
    return f"rolesession: {message}"


@contextmanager
def _logging(*, verbose: bool) -> Iterator[None]:
    """The library's WARNINGs (and with ``-v`` its STS calls) on stderr, for this run."""
    import logging

    logger = logging.getLogger("rolesession")
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter()
    formatter.format = _one_line  # type: ignore[method-assign]
    handler.setFormatter(formatter)
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    level = logger.level
    # Never raise the level: a program calling ``main()`` may be listening at INFO.
    logger.setLevel(min(logger.getEffectiveLevel(), handler.level))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
