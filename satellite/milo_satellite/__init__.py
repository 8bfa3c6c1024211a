"""Milo's body: the Raspberry Pi voice satellite and its face-tracking head."""
