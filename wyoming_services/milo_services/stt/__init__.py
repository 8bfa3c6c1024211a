"""milo-stt: Wyoming speech-to-text with faster-whisper."""
