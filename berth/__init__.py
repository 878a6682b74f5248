"""Berth: the `berth` command and the tasks behind it (config, local emulator, charts, review)."""
