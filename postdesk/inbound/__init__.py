"""Bytes in: SMTP/LMTP listener, IMAP poller, parsing, classification, quote stripping."""
