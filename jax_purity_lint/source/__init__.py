"""The stage before the analysis: from a file's bytes to a libcst tree, or a reason not to build one.

decoding (bytes to text, as Python reads a module) -> preflight (text libcst would choke on, CPython's
own parse) -> prefilter (cheap checks that the file cannot hold a trace site) -> parsing (libcst, in
pieces for large files), with deep_stack (a bigger native stack for deeply nested code) and gc_pause
(no garbage collection while the tree is built).
"""
