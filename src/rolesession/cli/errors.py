"""Errors the command line itself raises, each with its exit code, and option names."""

from __future__ import annotations

__all__ = ["PARAMETER_OPTIONS", "CliError", "UsageError", "option_for"]


class CliError(Exception):
    """A failure of the command line itself; ``exit_code`` 5 unless a subclass says otherwise."""

    exit_code = 5

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    """Invalid command-line usage: exit code 2."""

    exit_code = 2


#: The one table from a library parameter (``InvalidParameterError.parameter``)
#: to the option a CLI user typed for it.
PARAMETER_OPTIONS = {
    "role_arn": "ROLE_ARN",
    "session_name": "--session-name",
    "duration": "--duration",
    "policy": "--policy",
    "policy_arns": "--policy-arn",
    "tags": "--tag",
    "external_id": "--external-id",
    "source_identity": "--source-identity",
    "mfa_serial": "--mfa-serial",
    "mfa_token": "--mfa-command",
    "token_file": "--web-identity-token-file",
    "principal_arn": "--principal-arn",
    "assertion": "--saml-assertion-command",
    "region": "--region",
    "sts_endpoint_url": "--sts-endpoint-url",
    "source": "--profile",  # the source session's (the profile's) configuration
}


def option_for(parameter: str) -> str:
    """The option standing for a library parameter (``tags[0].Key`` -> ``--tag``).

    Anything else -- an environment variable such as ``AWS_REGION``, or a
    parameter the CLI has no option for -- is named as it is.
    """
    name = parameter.split(".")[0].split("[")[0]
    return PARAMETER_OPTIONS.get(name, parameter)
