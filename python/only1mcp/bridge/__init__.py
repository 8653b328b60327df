"""The 2026-07-28 bridge: multi round-trip calls to handshake-era servers, sealed state."""
