"""Bytes in: the SMTP/LMTP listener, the IMAP poller, parsing into ``InboundMessage``, classification and quote stripping."""
