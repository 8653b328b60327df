"""Between the protocol eras: a 2026-07-28 client's calls to handshake-era servers (parked,
multi round-trip, :mod:`.calls`) and to 2026 servers (passed through, :mod:`.direct`); a
handshake-era client's calls to 2026 servers (:mod:`.reverse`); the sealed request state."""
