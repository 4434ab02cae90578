"""Running a build: the build itself, executors (local or Ray), status, link checks and the demo."""
