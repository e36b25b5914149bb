"""Test-only plugins, loaded through the GARAGE_EXTRA_PLUGINS setting (never installed)."""
