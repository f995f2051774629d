"""Broker connection options shared by ``helio-monitor`` and ``helio-train publish/rollback``.

Responsible for: the command-line options that match the agent's ``[mqtt]``
table (``--tls``, ``--ca-file``, ``--cert-file``, ``--key-file``,
``--credentials-file``: a TOML file with ``username`` and ``password``,
the agent's format), and applying them to a paho client.

Does NOT: connect, publish or subscribe.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edge.runtime.config import load_credentials

__all__ = ["BrokerAuth", "add_auth_arguments", "auth_from_args"]


@dataclass(frozen=True, slots=True)
class BrokerAuth:
    """TLS and credentials of one MQTT connection.

    Attributes
    ----------
    tls : bool
        Use TLS; an empty ``ca_file`` means the system trust store.
    ca_file, cert_file, key_file : str
        CA bundle and optional client certificate and key (PEM).
    username, password : str
        Empty ``username`` means anonymous.
    """

    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together")

    def apply(self, client: mqtt.Client) -> None:
        """Set the credentials and TLS context of ``client`` (before connecting)."""
        if self.username:
            client.username_pw_set(self.username, self.password or None)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file or None, certfile=self.cert_file or None,
                           keyfile=self.key_file or None)


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


def auth_from_args(args: argparse.Namespace) -> BrokerAuth:
    """The options parsed by :func:`add_auth_arguments`.

    Raises
    ------
    firmware_bridge.config.ConfigError
        The credentials file is missing or malformed (names the file and key).
    ValueError
        A certificate without its key.
    """
    user = pw = ""
    if args.credentials_file:
        cred = load_credentials(args.credentials_file)
        user, pw = cred.username, cred.password
    return BrokerAuth(tls=bool(args.tls or args.ca_file or args.cert_file),
                      ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file,
                      username=user, password=pw)
