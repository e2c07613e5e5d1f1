"""The foundation every layer stands on; it imports nothing above it.

errors (user-input errors with file, field path and fix), units (one SI convention),
io (atomic writes), yaml (the one strict YAML dialect, with limits against hostile input),
schema (the validation toolkit specs and studies are checked with), suggest (did you mean),
progress (progress display), paths (output-path checks), fresh_stack (hot calls on a
thread of their own, at a shallow Python stack).
"""
