"""Berth's foundation: environment files (config), derived names (naming), errors, and the
reader of synthesized Terraform JSON (tfjson).

Everything else of Berth may import it; it imports nothing of Berth's (no `berth`,
`berth_constructs` or `stacks`), so constructs and stacks never depend on the command line.
"""
