"""The foundation every layer stands on; it imports nothing above it.

errors (user-input errors with file, field path and fix), units (one SI convention),
io (atomic writes), and the shared infrastructure added beside them.
"""
