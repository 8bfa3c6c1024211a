"""Milo's character benchmark: run.py runs it, RUBRIC.md says how answers are judged."""
