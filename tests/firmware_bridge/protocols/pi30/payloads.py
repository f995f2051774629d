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

# A PI30MAX reply to QPGS0 as real units send it for the unit the reader is wired to
# (hand-built, PI30MAX §2.11 layout, 29 fields): the first field says 0 ("not
# present") yet the unit carries a serial number and live values.
QPGS0_MAX_LEADING_ZERO = " ".join((
    "0",  # parallel unit exists: 0, although the unit answers
    "92932105105315",  # serial number
    "B",  # work mode: battery
    "00",  # fault code
    "000.0", "00.00",  # grid voltage [V], frequency [Hz]: no AC input
    "230.0", "50.00",  # AC output voltage [V], frequency [Hz]: live
    "0345", "0312", "006",  # AC output apparent [VA], active power [W], load [%]
    "52.1",  # battery voltage [V]
    "000", "057",  # battery charging current [A], capacity [%]
    "000.0",  # PV input voltage [V]
    "000",  # total charging current [A]
    "00345", "00312", "006",  # total AC output apparent [VA], active [W], load [%]
    "10000010",  # status: b7 SCC ok, b1 load on
    "0",  # output mode: single
    "3",  # charger source priority: solar only
    "060", "120", "30",  # max charge current, its limit, max AC charge current [A]
    "00",  # PV input current [A]
    "007",  # battery discharge current [A]
    "000.0", "00",  # PV2 voltage [V], current [A]
))
#: An empty slot of a parallel system: 0, a zero serial, zero values.
QPGS_EMPTY_SLOT = " ".join((
    "0", "00000000000000", "B", "00", "000.0", "00.00", "000.0", "00.00", "0000", "0000",
    "000", "00.0", "000", "000", "000.0", "000", "00000", "00000", "000", "00000000", "0", "0",
    "000", "000", "00", "00", "000",
))
