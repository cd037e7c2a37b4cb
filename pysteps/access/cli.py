"""The `pysteps secret get | exec | search` and `pysteps self-destroy` commands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pysteps.engine.errors import UsageError

DELIVERY_HELP = "the secret's value goes only where asked: a 0600 file (--to-file), stdout (--reveal) or `secret exec`"
_ARM_HELP = ("the ARM endpoint (default: $PYSTEPS_ARM_ENDPOINT, else the cloud az is configured with, else "
             "https://management.azure.com)")


def add_commands(commands) -> None:
    secret = commands.add_parser("secret", help="read Key Vault secrets for pipelines and apps, without an SDK",
                                 description=f"Read Key Vault secrets; {DELIVERY_HELP}.", allow_abbrev=False)
    actions = secret.add_subparsers(dest="action", required=True, metavar="ACTION")

    get = actions.add_parser("get", help="read one secret into a 0600 file, or print it with --reveal",
                             allow_abbrev=False)
    get.add_argument("--vault", required=True, metavar="VAULT", help="a vault name, or its URI (https://...)")
    get.add_argument("--name", required=True, help="the secret's name")
    get.add_argument("--version", help="a version of the secret (default: the current one)")
    delivery = get.add_mutually_exclusive_group(required=True)
    delivery.add_argument("--to-file", metavar="PATH", help="write the value to PATH, created with mode 0600 "
                                                            "(an existing file must be a regular file of mode 0600)")
    delivery.add_argument("--reveal", action="store_true", help="print the value on stdout")
    _identity_options(get)
    get.set_defaults(handler=cmd_get)

    run = actions.add_parser("exec", help="start a program with secrets in its environment (never on its argv)",
                             allow_abbrev=False,
                             epilog="example: pysteps secret exec --env DB_PASSWORD=kv-app/db-password -- ./app")
    run.add_argument("--env", action="append", required=True, metavar="NAME=VAULT/SECRET[/VERSION]",
                     help="put that secret in variable NAME; VAULT is a vault name or https://VAULT-HOST; repeatable")
    _identity_options(run)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS", help="the program, after --")
    run.set_defaults(handler=cmd_exec)

    search = actions.add_parser("search", help="find which vaults of the subscription hold a secret name",
                                allow_abbrev=False)
    search.add_argument("--name", required=True, help="the secret's name")
    search.add_argument("--json", action="store_true", help="print JSON: found, missing and unreadable vaults")
    _identity_options(search)
    search.set_defaults(handler=cmd_search)

    destroy = commands.add_parser(
        "self-destroy", allow_abbrev=False,
        help="on a scale-set instance: delete this instance (after an optional drain command)",
        description="Run on a VM scale-set instance when its work is done: reads IMDS for where it runs, "
                    "authenticates with the managed identity and deletes this instance through ARM.")
    destroy.add_argument("--imds-endpoint", metavar="URL",
                         help="the instance metadata service (default: $AZURE_POD_IDENTITY_AUTHORITY_HOST, else "
                              "http://169.254.169.254)")
    destroy.add_argument("--arm-endpoint", metavar="URL", help=_ARM_HELP)
    destroy.add_argument("--client-id", help="the client id of a user-assigned managed identity to use")
    destroy.add_argument("--drain-cmd", metavar="COMMAND",
                         help="a shell command to run first; if it fails, the instance is not deleted")
    destroy.add_argument("--drain-timeout", type=_seconds, metavar="SECONDS",
                         help="give up (and keep the instance) when the drain command takes longer")
    destroy.add_argument("--dry-run", action="store_true", help="say what would be deleted; change nothing")
    destroy.set_defaults(handler=cmd_self_destroy)



def _identity_options(sub) -> None:
    from pysteps.access.credentials import AUTH_MODES

    sub.add_argument("--auth", choices=AUTH_MODES, default="auto",
                     help="the identity: a service principal (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID), "
                          "a managed identity, or the current az login (default auto: in that order of availability)")
    sub.add_argument("--subscription", metavar="ID", help="where vault names are looked up (default: "
                                                          "$AZURE_SUBSCRIPTION_ID, else az's default subscription)")
    sub.add_argument("--arm-endpoint", metavar="URL", help=_ARM_HELP)


def _vaults(args):
    from pysteps.access.cloud import arm_endpoint, az_cloud
    from pysteps.access.credentials import login
    from pysteps.access.secrets import Vaults

    logging.getLogger("azure").setLevel(logging.CRITICAL)  # failures are reported once, as our own one line
    cloud = az_cloud()
    subscription = args.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID") or cloud.subscription
    return Vaults(login(args.auth), cloud, arm_endpoint(args.arm_endpoint, cloud), subscription)


def _note(message: str) -> None:
    print(f"pysteps: {message}", file=sys.stderr, flush=True)


def cmd_get(args) -> int:
    from pysteps.access.secrets import SecretRef, check_destination, write_secret_file

    ref = SecretRef(args.vault, args.name, args.version)
    if args.to_file:
        check_destination(Path(args.to_file))  # before reading: a refused file should cost no secret read
    secret = _vaults(args).get(ref)
    if args.reveal:
        print(secret.value, flush=True)
        return 0
    path = write_secret_file(args.to_file, secret.value)
    _note(f"secret {secret.name} (version {secret.version}) from vault {ref.vault} written to {path} (mode 0600)")
    return 0


def cmd_exec(args) -> int:
    from pysteps.access.secrets import SecretRef, exec_with_secrets
    from pysteps.engine.exports import check_env_name

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UsageError("no command given: expected it after --, e.g. pysteps secret exec --env X=kv/name -- ./app")
    wanted: dict[str, SecretRef] = {}
    for item in args.env:
        name, eq, reference = item.partition("=")
        if not eq:
            raise UsageError(f"--env {item!r}: expected NAME=VAULT/SECRET[/VERSION]")
        if check_env_name(name, "--env") in wanted:
            raise UsageError(f"--env {name}: given twice: expected each variable once")
        wanted[name] = SecretRef.parse(reference)
    vaults = _vaults(args)
    values = {name: vaults.get(ref).value for name, ref in wanted.items()}
    exec_with_secrets(values, command)


def cmd_search(args) -> int:
    from pysteps.access.errors import SecretNotFound
    from pysteps.access.secrets import check_secret_name

    check_secret_name(args.name)
    vaults = _vaults(args)
    result = vaults.search(args.name)
    if args.json:
        print(json.dumps({
            "name": result.name, "subscription": vaults.subscription,
            "found": [{"vault": s.vault, "uri": s.uri, "version": s.version, "updated": s.updated}
                      for s in result.found],
            "missing": result.missing,
            "unreadable": [{"vault": vault, "reason": reason} for vault, reason in result.unreadable],
        }, indent=2))
    else:
        for secret in result.found:
            print(f"{secret.vault}\tversion {secret.version}\tupdated {secret.updated or '?'}\t{secret.uri}")
    for vault, reason in result.unreadable:
        _note(f"vault {vault} unreadable: {reason}")
    searched = len(result.found) + len(result.missing) + len(result.unreadable)
    if not result.found:
        raise SecretNotFound(f"secret {args.name!r} not found in the {searched - len(result.unreadable)} readable "
                             f"vault(s) of subscription {vaults.subscription} ({len(result.unreadable)} unreadable)")
    _note(f"secret {args.name}: in {len(result.found)} of {searched} vault(s), {len(result.unreadable)} unreadable")
    return 0


def cmd_self_destroy(args) -> int:
    from pysteps.access.cloud import arm_endpoint
    from pysteps.access.selfdestroy import Imds, Options, imds_endpoint, self_destroy

    imds = Imds(imds_endpoint(args.imds_endpoint, dict(os.environ)), client_id=args.client_id)
    options = Options(arm_endpoint=arm_endpoint(args.arm_endpoint), drain_cmd=args.drain_cmd,
                      drain_timeout=args.drain_timeout, dry_run=args.dry_run)
    self_destroy(imds, options, say=lambda line: print(f"self-destroy: {line}", flush=True))
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds above 0")
    return value
