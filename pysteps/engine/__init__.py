"""The step engine: declared steps, substitution, runners, retries, exports and run outputs."""
