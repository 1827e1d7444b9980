"""Local, in-process checks: blocklist, pii_regex, content_limits."""
