"""The one set of scenario defaults shared by the Python API, every CLI command and the studies.

A decode-like step attends a KV cache of DEFAULT_CONTEXT tokens; a prefill processes
DEFAULT_PROMPT tokens (it starts from an empty cache, so it has no context); a serving request
has DEFAULT_PROMPT prompt and DEFAULT_OUTPUT output tokens; the runtime is DEFAULT_RUNTIME.
Kept free of imports so that argument parsers can read it cheaply.
"""

DEFAULT_CONTEXT = 1024
DEFAULT_PROMPT = 1024
DEFAULT_OUTPUT = 256
DEFAULT_RUNTIME = "graph"
