"""Berth's reusable cdktf constructs: one file each, secure by default, small typed props.

Not named `constructs`: that would shadow the `constructs` library every construct imports
(`from constructs import Construct`), see README.
"""
