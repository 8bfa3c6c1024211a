"""Milo's end-to-end demo: the services, a simulated satellite and a real Home Assistant.

`script/demo` runs `python -m milo_demo`; tests/e2e and bench/pipeline drive the same
stack through `milo_demo.stack.DemoStack`.
"""
