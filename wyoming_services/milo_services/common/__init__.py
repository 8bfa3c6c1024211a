"""What every Milo Wyoming service shares.

The small public surface, one module per concern:

- `cli`: `add_service_args()` (`--uri`, `--zeroconf [NAME]`, `--debug`, `--log-format`,
  `--version`) and `setup_logging()`.
- `protocol`: `read_event()`, a Wyoming event reader that checks every length a header claims
  against `EventLimits` before reading (the `wyoming` library's reader allocates whatever a
  header asks for); failures raise `ProtocolError`.
- `handler`: `ServiceHandler`, the base class for a service's per-connection handler. It reads
  with `read_event()`, answers `describe` and `ping`, turns `ProtocolError`/`EventError` into
  an `error` event and closes only that connection.
- `server`: `ServiceServer` (tcp:// or unix://, port 0 allowed, graceful `stop()`),
  `run_service()` (runs until SIGTERM/SIGINT, with zeroconf announcements) and `Announcement`.
- `audio`: PCM conversion to 16 kHz mono float32 in memory (`pcm_to_float`, `resample`).
- `memory`: `release_memory()`, which hands heap freed by a big request back to the system.
"""
