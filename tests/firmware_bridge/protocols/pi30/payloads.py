"""PI30 replies shared by the framer, decoder and encoder tests (annotated per field)."""

from __future__ import annotations

# The QPIGS test response of jblance/mpp-solar (mppsolar/protocols/pi30.py), annotated
# per PI30 §2.9.
EXAMPLE = bytes.fromhex(
    "28"  # (
    "3030302e30" "20"  # grid voltage 000.0 V
    "30302e30" "20"  # grid frequency 00.0 Hz
    "3233302e30" "20"  # AC output voltage 230.0 V
    "34392e39" "20"  # AC output frequency 49.9 Hz
    "30313631" "20"  # AC output apparent power 0161 VA
    "30313139" "20"  # AC output active power 0119 W
    "303033" "20"  # load percent 003 %
    "343630" "20"  # bus voltage 460 V
    "35372e3530" "20"  # battery voltage 57.50 V
    "303132" "20"  # battery charging current 012 A
    "313030" "20"  # battery capacity 100 %
    "30303639" "20"  # heat-sink temperature 0069
    "30303134" "20"  # PV input current 0014 A
    "3130332e38" "20"  # PV input voltage 103.8 V
    "35372e3435" "20"  # battery voltage from SCC 57.45 V
    "3030303030" "20"  # battery discharge current 00000 A
    "3030313130313130" "20"  # status b7..b0: b5 SCC fw updated, b4 load on, b2 b1 SCC charging
    "3030" "20"  # fan offset 00 x 10 mV
    "3030" "20"  # EEPROM version 00
    "3030383536" "20"  # PV charging power 00856 W
    "303130"  # status b10..b8: b9 switched on
    "248c"  # CRC-16/XMODEM 0x248C
    "0d"  # CR
)

SIM_VALUES = {
    "grid_voltage": 229.8, "grid_frequency": 50.0, "ac_output_voltage": 230.1,
    "ac_output_frequency": 50.0, "ac_output_apparent_power": 1234, "ac_output_power": 1100,
    "load_percent": 24, "bus_voltage": 402, "battery_voltage": 52.37,
    "battery_charge_current": 0, "battery_soc": 64, "heatsink_temperature": 38,
    "pv_current": 0, "pv_voltage": 0.0, "scc_battery_voltage": 0.0,
    "battery_discharge_current": 25, "pv_power": 0, "load_output_on": 1,
    "charging_source": "none", "charging_to_float": 0, "battery_current": -25,
}

COMMANDS = ["QPIGS", "QPIRI", "QMOD", "QPIWS", "QPIGS2", "QPGS0", "QET", "QEY2026", "QED20260301"]
