"""Webhooks and pixels (issue 20): who hears about which call events, signed per the Standard
Webhooks specification, redacted per recipient, sent only where the deployment allows."""
