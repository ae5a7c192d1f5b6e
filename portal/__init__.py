"""The web portal `ppcx serve` serves at `/`: server-rendered pages (Jinja2, htmx) for people
who sign in with accounts of the same roles and owners as API keys. Pages call the same
handlers and API functions as the HTTP API, so validation, tenancy and redaction are the
API's own."""
