"""Dataset QA: dance-music alignment from kinematic beats, audio-video offset, per-clip checks, report."""
