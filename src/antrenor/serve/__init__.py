"""Production side of a tuned model: the HTTP server, its request log, and drift monitoring."""
