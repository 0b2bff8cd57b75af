"""Dataset readers: each reads the real format and the synthetic world alike."""
