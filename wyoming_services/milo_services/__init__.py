"""Milo's Wyoming services: speech-to-text, text-to-speech and the LLM."""
