"""Where Azure is: its ARM endpoint, its Key Vault DNS suffix and the default subscription.

The ARM endpoint is, in order: the command's option, $PYSTEPS_ARM_ENDPOINT, the cloud the az CLI
is configured with (`az cloud set`/`az cloud register`, read from $AZURE_CONFIG_DIR or ~/.azure
without running az), else Azure's public cloud. A custom cloud such as the local sandbox thus
works with no option once az is configured for it.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pysteps.engine.errors import UsageError

ARM_ENDPOINT_ENV = "PYSTEPS_ARM_ENDPOINT"
PUBLIC_CLOUD = "AzureCloud"


@dataclass(frozen=True)
class Cloud:
    name: str
    arm_endpoint: str
    keyvault_dns_suffix: str
    subscription: str | None = None  # az's default subscription in this cloud


BUILT_IN = {
    PUBLIC_CLOUD: Cloud(PUBLIC_CLOUD, "https://management.azure.com/", "vault.azure.net"),
    "AzureChinaCloud": Cloud("AzureChinaCloud", "https://management.chinacloudapi.cn/", "vault.azure.cn"),
    "AzureUSGovernment": Cloud("AzureUSGovernment", "https://management.usgovcloudapi.net/",
                               "vault.usgovcloudapi.net"),
}


def az_config_dir() -> Path:
    return Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")


def az_cloud(config_dir: Path | None = None) -> Cloud:
    """The cloud az is configured with (the public cloud when az has no configuration)."""
    folder = config_dir or az_config_dir()
    name = os.environ.get("AZURE_CLOUD_NAME") or _read_ini(folder / "config").get("cloud", "name",
                                                                                   fallback=PUBLIC_CLOUD)
    clouds = _read_ini(folder / "clouds.config")
    section = clouds[name] if clouds.has_section(name) else {}
    known = BUILT_IN.get(name, BUILT_IN[PUBLIC_CLOUD])
    return Cloud(
        name=name,
        arm_endpoint=section.get("endpoint_resource_manager") or known.arm_endpoint,
        keyvault_dns_suffix=(section.get("suffix_keyvault_dns") or known.keyvault_dns_suffix).lstrip("."),
        subscription=section.get("subscription") or None,
    )


def arm_endpoint(option: str | None = None, cloud: Cloud | None = None) -> str:
    """The ARM endpoint to call, without a trailing slash."""
    if option:
        return check_https_url(option, "--arm-endpoint")
    if os.environ.get(ARM_ENDPOINT_ENV):
        return check_https_url(os.environ[ARM_ENDPOINT_ENV], ARM_ENDPOINT_ENV)
    return check_https_url((cloud or az_cloud()).arm_endpoint, "az's cloud configuration")


def check_https_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise UsageError(f"{where}: {url!r} is not an https URL: expected one such as https://management.azure.com")
    return url.rstrip("/")


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(configparser.Error, UnicodeDecodeError):  # unreadable counts as none
        parser.read(path, encoding="utf-8")
    return parser
