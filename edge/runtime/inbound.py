"""Inbound commands on ``helio/<site>/<gw>/cmd`` and ``cmd/<sub>``: one table.

Responsible for: parsing a JSON command (``{"command": name, ...}``) and
running the handler registered for that name from a short whitelist, or the
handler registered for a sub-topic (``cmd/model``: issue #5's rollout),
and turning every outcome into an event (``command_ok`` /
``command_rejected`` / ``command_failed``) for the events stream.

Does NOT: execute anything not in the table, evaluate payloads, or do I/O.
Handlers run in the agent loop's thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CommandError", "CommandOutcome", "CommandTable"]

#: Largest JSON command accepted. [bytes]
MAX_COMMAND_BYTES = 4096

CommandHandler = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
TopicHandler = Callable[[bytes], Mapping[str, Any] | None]


class CommandError(Exception):
    """A handler refuses a command; the message goes into the error event."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What happened, ready for :func:`edge.runtime.messages.event_message`."""

    level: str
    code: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


class CommandTable:
    """Whitelisted commands by name, and raw handlers by sub-topic.

    Parameters
    ----------
    cmd_topic : str
        ``helio/<site>/<gw>/cmd``.
    """

    def __init__(self, cmd_topic: str) -> None:
        self.cmd_topic = cmd_topic
        self._commands: dict[str, CommandHandler] = {}
        self._topics: dict[str, TopicHandler] = {}

    @property
    def subscription(self) -> str:
        """Topic filter covering ``cmd`` and ``cmd/<sub>``."""
        return self.cmd_topic + "/#"

    @property
    def commands(self) -> tuple[str, ...]:
        """Registered command names."""
        return tuple(sorted(self._commands))

    def register(self, name: str, handler: CommandHandler) -> None:
        """Allow ``{"command": name}``; ``handler(args)`` returns event data."""
        self._commands[name] = handler

    def register_topic(self, sub: str, handler: TopicHandler) -> None:
        """Send raw payloads on ``<cmd_topic>/<sub>`` to ``handler(payload)``."""
        self._topics[sub] = handler

    def handle(self, topic: str, payload: bytes) -> CommandOutcome:
        """Run the command in ``payload`` received on ``topic``; never raises
        for bad input (only handler bugs propagate, to the agent loop)."""
        if topic == self.cmd_topic:
            return self._json_command(payload)
        sub = topic[len(self.cmd_topic) + 1:] if topic.startswith(self.cmd_topic + "/") else ""
        handler = self._topics.get(sub)
        if handler is None:
            return _rejected(f"no handler for topic {topic!r}", topic=topic)
        try:
            data = handler(payload)
        except CommandError as exc:
            return CommandOutcome("error", "command_failed", str(exc), {"topic": topic})
        return CommandOutcome("info", "command_ok", f"{sub} done", dict(data or {}))

    def _json_command(self, payload: bytes) -> CommandOutcome:
        if len(payload) > MAX_COMMAND_BYTES:
            return _rejected(f"command larger than {MAX_COMMAND_BYTES} bytes")
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _rejected(f"command is not JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("command"), str):
            return _rejected('expected {"command": "<name>"}')
        name = body["command"]
        handler = self._commands.get(name)
        if handler is None:
            return _rejected(
                f"unknown command {name[:64]!r}; allowed: {', '.join(self.commands)}",
                command=name[:64],
            )
        args = {k: v for k, v in body.items() if k != "command"}
        try:
            data = handler(args)
        except CommandError as exc:
            return CommandOutcome("error", "command_failed", str(exc), {"command": name})
        result = {"command": name, **(data or {})}
        return CommandOutcome("info", "command_ok", f"{name} done", result)


def _rejected(message: str, **data: Any) -> CommandOutcome:
    return CommandOutcome("error", "command_rejected", message, data)
