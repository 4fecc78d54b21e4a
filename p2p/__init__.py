"""p2p: peer-to-peer overlay toolkit."""
