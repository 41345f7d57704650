"""Where the chief listens, who the workers are, and the variables of one role."""

import contextlib
import ipaddress
import os
import re
import socket

from kregs.errors import ConfigError, invalid_value

ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
ROLES = ("chief", "worker")
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_oracle(address):
    """Splits `"HOST:PORT"` (IPv6 as `[::1]:PORT`); raises `ConfigError` when malformed.

    Returns:
        `(host, port)`, port an int in [1, 65535].

    Example:
    >>> parse_oracle("[::1]:8000")
    ('::1', 8000)
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s]+):(\d+)", str(address or ""))
    if not match:
        raise invalid_value("oracle", address, "HOST:PORT, e.g. 127.0.0.1:8000")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise invalid_value("oracle", address, "a port in [1, 65535]")
    return host, port


def format_oracle(host, port):
    """`HOST:PORT`, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host):
    """True when `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host):
    """The warning for a chief bound to a non-loopback address, or None."""
    if is_loopback(host):
        return None
    return (
        f"Warning: the chief oracle listens on {host}, not 127.0.0.1. KerasTuner's gRPC "
        "channel has no authentication or encryption: anyone who can reach this port can "
        "read the search and steer it. Bind it only on a trusted network."
    )


def check_worker_id(worker_id):
    """Returns `worker_id` as a str if it is a valid KerasTuner tuner id for a worker."""
    text = str(worker_id)
    if not _WORKER_ID.match(text) or "chief" in text:
        raise invalid_value(
            "worker_id", worker_id, "1-64 letters, digits, '.', '_' or '-', without 'chief'"
        )
    return text


def tuner_id(role, worker_id=None):
    """The `KERASTUNER_TUNER_ID` of a role: `chief`, or `worker-<id>`."""
    return "chief" if role == "chief" else f"worker-{check_worker_id(worker_id)}"


@contextlib.contextmanager
def oracle_env(role, host, port, worker_id=None):
    """Sets KerasTuner's distribution variables for `role` inside the block, then restores them.

    KerasTuner reads them when a tuner is built (a worker wraps its oracle in
    an `OracleClient`) and when `search` starts (the chief serves).
    """
    saved = {k: os.environ.get(k) for k in ENV_VARS}
    os.environ.update(
        KERASTUNER_TUNER_ID=tuner_id(role, worker_id),
        KERASTUNER_ORACLE_IP=host,
        KERASTUNER_ORACLE_PORT=str(port),
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_bind(host, port):
    """Raises `ConfigError` (one line) when the chief could not listen on `host:port`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            # As gRPC's server binds: a port whose last connections wait in TIME_WAIT
            # (a chief restarted at once) is free; one another process listens on is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as err:
        raise ConfigError(
            f"the chief oracle cannot listen on {format_oracle(host, port)}: "
            f"{err.strerror or err}; choose another --oracle port or address"
        ) from None


def wait_for_chief(host, port, timeout):
    """Waits until the chief's gRPC server answers; raises `ConfigError` after `timeout` s."""
    import grpc

    channel = grpc.insecure_channel(format_oracle(host, port))
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ConfigError(
            f"cannot reach the chief oracle at {format_oracle(host, port)} within "
            f"{timeout:g} s; start `kregs tune --role chief` first, or check --oracle"
        ) from None
    finally:
        channel.close()
