"""The failures of `pysteps secret` and `pysteps self-destroy`, each with its own exit code.

    3 the secret does not exist           6 no credential, or the token was refused
    4 the vault does not exist            7 the drain command failed (the instance was kept)
    5 access denied                       8 not running on a scale-set instance
    126 / 127: `secret exec`'s program is not executable / not found (as in shells)
"""

from pysteps.engine.errors import PystepsError


class SecretNotFound(PystepsError):
    exit_code = 3


class VaultNotFound(PystepsError):
    exit_code = 4


class AccessDenied(PystepsError):
    exit_code = 5


class AuthenticationFailed(PystepsError):
    exit_code = 6


class DrainFailed(PystepsError):
    exit_code = 7


class NotOnScaleSet(PystepsError):
    exit_code = 8


class ServiceFailed(PystepsError):
    """Anything else Azure answered (a server error after retries, an unreachable endpoint)."""

    exit_code = 1


class CommandNotExecutable(PystepsError):
    exit_code = 126


class CommandNotFound(PystepsError):
    exit_code = 127
