"""Stand-ins for the satellite's microphone and speaker, run as its --mic/--snd commands.

Standalone scripts (standard library only): the satellite starts them as subprocesses, so
they must not import the demo package or need its environment.
"""
