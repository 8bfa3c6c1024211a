"""milo-tts: Wyoming text-to-speech with piper-tts, streaming sentence by sentence."""
