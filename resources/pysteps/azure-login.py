"""Log the Azure CLI in, in this build's private AZURE_CONFIG_DIR, without a secret on any command line.

Run by withAzureLogin with the pysteps Python (azure-cli is installed in it: pysteps[az]). The
service principal's secret is read from AZURE_CLIENT_SECRET (set by Jenkins' azureServicePrincipal
binding) and handed to azure-cli in this process, so it never appears in a process list, a shell
trace or the Jenkins log. Without AZURE_CLIENT_ID, it logs in with the agent's managed identity
(PYSTEPS_AZURE_IDENTITY_CLIENT_ID picks a user-assigned one). PYSTEPS_AZURE_CLOUD selects the cloud;
with PYSTEPS_AZURE_RESOURCE_MANAGER it is first registered with that ARM endpoint (Azure Stack Hub,
or a local sandbox).
"""

import os
import sys

from azure.cli.core import get_default_cli


def az(*args: str) -> None:
    """One az command, in this process; its output is discarded, a failure ends the login."""
    with open(os.devnull, "w") as sink:
        code = get_default_cli().invoke([*args, "--only-show-errors", "--output", "none"], out_file=sink)
    if code:
        sys.exit(f"pysteps: az {args[0]} {args[1] if len(args) > 1 else ''} failed (exit {code}); see az's error above")


def main() -> None:
    env = os.environ
    if env.get("AZURE_CLIENT_ID") and not (env.get("AZURE_CLIENT_SECRET") and env.get("AZURE_TENANT_ID")):
        sys.exit("pysteps: AZURE_CLIENT_ID is set but AZURE_CLIENT_SECRET or AZURE_TENANT_ID is empty: "
                 "expected an azureServicePrincipal credential with a client secret")
    cloud = env.get("PYSTEPS_AZURE_CLOUD") or "AzureCloud"
    if env.get("PYSTEPS_AZURE_RESOURCE_MANAGER"):
        az("cloud", "register", "--name", cloud, "--endpoint-resource-manager", env["PYSTEPS_AZURE_RESOURCE_MANAGER"])
    az("cloud", "set", "--name", cloud)
    if env.get("AZURE_CLIENT_ID"):
        # `--password=` keeps a secret that starts with '-' from being read as an option.
        az("login", "--service-principal", "--username", env["AZURE_CLIENT_ID"],
           f"--password={env['AZURE_CLIENT_SECRET']}", "--tenant", env["AZURE_TENANT_ID"])
        how = f"service principal {env['AZURE_CLIENT_ID']}"
    else:
        identity = env.get("PYSTEPS_AZURE_IDENTITY_CLIENT_ID")
        az("login", "--identity", *(["--client-id", identity] if identity else []))
        how = f"managed identity {identity}" if identity else "the agent's managed identity"
    if env.get("AZURE_SUBSCRIPTION_ID"):
        az("account", "set", "--subscription", env["AZURE_SUBSCRIPTION_ID"])
    print(f"pysteps: az logged in to {cloud} with {how}; config in {env.get('AZURE_CONFIG_DIR')}")


if __name__ == "__main__":
    main()
