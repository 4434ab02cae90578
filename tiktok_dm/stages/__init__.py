"""Pipeline stages: download, cut, pose, segments, split, export."""
