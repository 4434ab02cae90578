"""The dataset made from finished clips: song ids, the song-disjoint split, the official lists, the
Hugging Face export."""
