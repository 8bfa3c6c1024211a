"""milo-llm: Milo's brain, a llama.cpp model behind Wyoming and an OpenAI-compatible API."""
