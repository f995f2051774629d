"""Broker options of ``helio-monitor run`` and ``helio-train publish/rollback``.

Responsible for: the command-line options that match the agent's ``[mqtt]``
table (``--tls``, ``--ca-file``, ``--cert-file``, ``--key-file``,
``--credentials-file``: a TOML file with ``username`` and ``password``, the
agent's format) and turning them into :class:`edge.runtime.mqtt.BrokerSettings`
for :func:`edge.runtime.mqtt.make_client`.

Does NOT: connect, publish or subscribe.
"""

from __future__ import annotations

import argparse

from edge.runtime.config import load_credentials
from edge.runtime.mqtt import BrokerSettings

__all__ = ["add_auth_arguments", "settings_from_args"]


def add_auth_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tls --ca-file --cert-file --key-file --credentials-file``."""
    g = parser.add_argument_group("broker TLS and credentials (as the agent's [mqtt] table)")
    g.add_argument("--tls", action="store_true",
                   help="connect with TLS (implied by --ca-file or --cert-file)")
    g.add_argument("--ca-file", default="", help="CA bundle (PEM); default: system store")
    g.add_argument("--cert-file", default="", help="client certificate (PEM)")
    g.add_argument("--key-file", default="", help="client key (PEM)")
    g.add_argument("--credentials-file", default="",
                   help="TOML file with username and password (keep it mode 0600)")


def settings_from_args(args: argparse.Namespace, *, client_id: str = "") -> BrokerSettings:
    """``--host``/``--port`` and the options of :func:`add_auth_arguments`.

    Raises
    ------
    firmware_bridge.config.ConfigError
        The credentials file is missing or malformed (names the file and key).
    ValueError
        A client certificate without its key.
    """
    if bool(args.cert_file) != bool(args.key_file):
        raise ValueError("--cert-file and --key-file go together")
    user = pw = ""
    if args.credentials_file:
        cred = load_credentials(args.credentials_file)
        user, pw = cred.username, cred.password
    return BrokerSettings(host=args.host, port=args.port, client_id=client_id,
                          tls=bool(args.tls or args.ca_file or args.cert_file),
                          ca_file=args.ca_file, cert_file=args.cert_file,
                          key_file=args.key_file, username=user, password=pw)
