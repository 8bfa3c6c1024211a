"""milo-llm: Milo's brain, a llama.cpp model behind Wyoming and an OpenAI-compatible API."""

import os

# llama.cpp's OpenMP threads wait for each other at every step of a prompt. libgomp's
# default is to spin, so a core taken by anything else (HA, milo-stt, milo-tts) stalls
# them all: 2 threads read prompts several times slower than 1 on a busy 2-core machine.
# Sleeping instead makes 2 threads the fastest, idle or busy (bench/llm/wait_policy.py).
# libgomp reads this when it loads, so it is set before this package imports llama_cpp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
