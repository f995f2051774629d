"""edge.runtime.contract: the topic tree both the agent and the monitor use."""

from __future__ import annotations

import pytest

from edge.runtime.contract import SEQ_STREAMS, STREAMS, TopicError, Topics, parse_topic


@pytest.mark.parametrize("stream", [*STREAMS, "cmd/model"])
def test_parse_topic_inverts_topics_of(stream: str) -> None:
    topics = Topics("abuja-01", "gw", prefix="helio")
    parts = parse_topic(topics.of("mppt", stream), "helio")
    assert (parts.site_id, parts.device_id, parts.stream) == ("abuja-01", "mppt", stream)


@pytest.mark.parametrize(
    "topic",
    ["helio/abuja-01/mppt", "other/abuja-01/mppt/reading", "helio//mppt/reading",
     "helio/abuja-01//reading", "helio/abuja-01/mppt/"],
)
def test_parse_topic_refuses_topics_outside_the_tree(topic: str) -> None:
    with pytest.raises(TopicError, match="is not helio/<site>/<device>/<stream>"):
        parse_topic(topic, "helio")


def test_sequenced_streams_are_streams() -> None:
    assert set(SEQ_STREAMS) <= set(STREAMS)
