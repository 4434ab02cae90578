"""Label Studio round trip: pipeline proposals in as pre-annotations, human corrections back into
the manifest (label-studio-sdk 2.x). The CLI is ``tiktok-dm annotate push|pull|status``."""
