"""Getting the source videos: yt-dlp settings, options and error text (the download stage and ``verify``)."""
