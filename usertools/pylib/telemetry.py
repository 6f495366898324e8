# SPDX-License-Identifier: BSD-3-Clause
"""A minimal DPDK telemetry (v2) client: one command, one JSON answer."""

import json
import socket


def query(prefix, command, timeout=5.0):
    """Send COMMAND to the telemetry socket of the EAL process whose
    --file-prefix is PREFIX; returns the decoded answer."""
    path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.recv(16384)  # greeting: version, pid, max output length
        s.send(command.encode())
        return json.loads(s.recv(1 << 20).decode())
    finally:
        s.close()


def vmlink_port_stats(prefix, port):
    return query(prefix, "/vmlink/port_stats," + port)["/vmlink/port_stats"]


def value(prefix, command, timeout=5.0):
    """The payload of COMMAND's answer (the answer is keyed by the command
    without its parameter)."""
    return query(prefix, command, timeout)[command.split(",")[0]]
