"""Personal API keys for the management API: made, checked, revoked and rate-limited here."""
