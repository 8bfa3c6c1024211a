"""Write the type stub of aioesphomeapi's protobuf module, which ships none.

aioesphomeapi's `api_pb2` builds its message classes at import time, so mypy sees
`Any` for every one of them. mypy-protobuf writes the stub from the module's own
descriptors (no .proto file or protoc needed); the satellite's API server is then
type-checked against the exact classes it sends and receives. Run it after upgrading
aioesphomeapi (tests/satellite/test_api_stub.py says when):

    .venv/bin/python script/api_stubs.py
"""

from __future__ import annotations

from importlib.metadata import version
import os
from pathlib import Path
import subprocess
import sys
import tempfile

from aioesphomeapi import api_options_pb2, api_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2

MYPY_PROTOBUF = "mypy-protobuf==5.1.0"
STUB = Path(__file__).resolve().parent.parent / "satellite" / "typings" / "aioesphomeapi_pb2.pyi"


def _request() -> plugin_pb2.CodeGeneratorRequest:
    """What protoc would hand the plugin for api.proto, from the installed module."""
    request = plugin_pb2.CodeGeneratorRequest(file_to_generate=["api.proto"], parameter="quiet")
    for module in (api_options_pb2, api_pb2):  # dependencies first, as protoc orders them
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        request.proto_file.append(proto)
    return request


def main() -> None:
    """Install mypy-protobuf in a scratch folder, run its plugin, write the stub."""
    with tempfile.TemporaryDirectory() as scratch:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", scratch]
        subprocess.run([*pip, MYPY_PROTOBUF], check=True)
        plugin = subprocess.run(
            [sys.executable, "-c", "from mypy_protobuf.main import main; main()"],
            input=_request().SerializeToString(),
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONPATH": scratch},
        )
    response = plugin_pb2.CodeGeneratorResponse.FromString(plugin.stdout)
    if response.error:
        sys.exit(f"mypy-protobuf: {response.error}")
    (generated,) = response.file
    header = (
        f"# The types of aioesphomeapi {version('aioesphomeapi')}'s api_pb2 (it ships none),\n"
        f"# written by script/api_stubs.py with {MYPY_PROTOBUF}. Do not edit.\n"
    )
    STUB.write_text(header + generated.content)
    print(f"wrote {STUB}")


if __name__ == "__main__":
    main()
