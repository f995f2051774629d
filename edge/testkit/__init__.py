"""Shared fakes and launchers for tests, bench, demo and the aarch64 job; laptop side,
not in the device wheel."""
