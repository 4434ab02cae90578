"""Per-item pipeline stages: download, boundaries, cut, fingerprint, pose, segments (``registry`` lists them in order).

Each maps one item to one typed output (``tiktok_dm.model.outputs``) under the contract of ``base``.
"""
