"""Domain operations. Services flush; the request (or the job) commits."""
