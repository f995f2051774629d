"""firmware_bridge: serial charge controllers and inverters -> canonical SI readings.

A sans-IO core (framers and decoders over bytes, protocol field tables) and
a thin I/O shell (transports, devices, simulators). No MQTT and no ML here.
"""
