"""Central monitoring of a Helio Edge fleet over MQTT."""
