"""Call evidence: recordings, transcripts, scores (adapters and workers)."""
