"""The data model: the manifest, stage records, clip records, names and the build directory.

Imports nothing else of tiktok_dm: every other room builds on it.
"""
