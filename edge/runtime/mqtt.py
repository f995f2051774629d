"""The one way this project builds a paho-mqtt client: TLS, credentials, protocol.

Responsible for: :class:`BrokerSettings` (where and how to connect),
:func:`broker_settings` (from the agent's ``[mqtt]`` table and its
credentials file), and :func:`make_client`, which every MQTT user calls: the
agent's publisher, ``helio-edge check``, the post-deploy health check, the
demo's live view, and on the cloud side ``helio-monitor``, ``helio-train
publish`` and ``rollback``.

Does NOT: connect, loop, publish or subscribe.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.runtime.config import AgentConfig, load_credentials

__all__ = ["BrokerSettings", "broker_settings", "make_client"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how to connect.

    Attributes
    ----------
    host : str
        Broker host.
    port : int
        Broker port.
    client_id : str
        MQTT client id.
    keepalive : int
        Keep-alive. [s]
    tls : bool
        Use TLS.
    ca_file, cert_file, key_file : str
        PEM files; empty ``ca_file`` means the system store.
    username, password : str
        Empty ``username`` means anonymous.
    """

    host: str
    port: int
    client_id: str
    keepalive: int = 60
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)


def broker_settings(cfg: AgentConfig, site_id: str, *, client_suffix: str = "") -> BrokerSettings:
    """Connection settings of the agent, credentials read from their own file.

    Parameters
    ----------
    cfg : AgentConfig
        The agent's configuration (its ``[mqtt]`` table).
    site_id : str
        For the default client id ``helio-<site>-<gateway>``.
    client_suffix : str
        Appended to the client id, so a tool (``-check``) does not take over
        the running agent's session.
    """
    m = cfg.mqtt
    user = password = ""
    if m.credentials_file:
        creds = load_credentials(m.credentials_file)
        if os.stat(m.credentials_file).st_mode & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", m.credentials_file)
        user, password = creds.username, creds.password
    client_id = (m.client_id or f"helio-{site_id}-{cfg.agent.id}") + client_suffix
    return BrokerSettings(
        host=m.host, port=m.port, client_id=client_id, keepalive=m.keepalive, tls=m.tls,
        ca_file=m.ca_file, cert_file=m.cert_file, key_file=m.key_file, username=user,
        password=password,
    )


def make_client(
    broker: BrokerSettings, *, client_id: str | None = None, mqtt5: bool = False
) -> mqtt.Client:
    """A paho-mqtt 2 client (callback API 2) with the broker's credentials and TLS.

    Parameters
    ----------
    broker : BrokerSettings
        Where and how; TLS verifies the broker's certificate against
        ``ca_file`` (or the system store) and its host name.
    client_id : str, optional
        Overrides ``broker.client_id``.
    mqtt5 : bool
        Speak MQTT 5 (reason codes on acknowledgements, shared
        subscriptions) instead of 3.1.1.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=broker.client_id if client_id is None else client_id,
        protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password or None)
    if broker.tls:
        client.tls_set(
            ca_certs=broker.ca_file or None,
            certfile=broker.cert_file or None,
            keyfile=broker.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    return client
