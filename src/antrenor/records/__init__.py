"""What stages hand each other besides models: record kinds and their conversations (kinds.py), Romanian text
normalization (normalize.py), reading prepared splits (splits.py), language detection (language.py), the
request log the server writes and the monitor reads (request_log.py), and the text shipped in the package
(bundled.py). It imports no stage."""
