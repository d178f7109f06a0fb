"""Stand-in for the payload log package (replaced by the payloads branch)."""
