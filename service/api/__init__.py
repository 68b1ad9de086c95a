"""The HTTP edge: views, request and response schemas, presenting values as JSON, server-sent events, the
OpenAPI description, auth, rate limits and the page."""
