"""Tests for the Milo Home Assistant integration."""
