"""Reference solutions of the code tasks, read as text (an answer), one file per task."""
