"""Real redis-server processes on loopback ports that tests can stop, pause and resume."""

import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from memcached_procs import free_port, wait_stopped

#: What the README's test command is, for the message when redis-server is missing.
_INSTALL_HINT = (
    "redis-server is not installed; the README's test command (bash dev/test.sh) installs it"
)


class RedisServer:
    """One redis-server on 127.0.0.1 with nothing persisted, in the foreground so that the
    test owns the process (a daemonized server would outlive a failed test)."""

    def __init__(self, program="redis-server"):
        # valkey-server takes the same options (tests/test_url.py starts one where installed)
        self.binary = shutil.which(program)
        if self.binary is None:
            pytest.fail(_INSTALL_HINT if program == "redis-server" else f"no {program}")
        self.port = free_port()
        self.proc = None
        # Its working directory and log: nothing lands in the checkout, and a server that
        # does not start can say why.
        self._dir = tempfile.TemporaryDirectory(prefix="jinja-bccache-redis-")
        self._log = None

    @property
    def host(self):
        return "127.0.0.1"

    def start(self):
        self._log = open(f"{self._dir.name}/redis.log", "w+b")  # noqa: SIM115 (closed in stop)
        # --save '' and --appendonly no: nothing is written to disk, so a stop is instant
        # and no test can see data left by an earlier server on a reused port.
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_answering()
        return self

    def _wait_answering(self, deadline=10.0):
        # A listening socket is not enough: redis answers PING only once it has loaded.
        end = time.monotonic() + deadline
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                self._log.seek(0)
                log = self._log.read().decode(errors="replace")
                self.close()
                pytest.fail(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # A paused server would never handle SIGTERM.
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self):
        self.stop()
        self._dir.cleanup()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        wait_stopped(self.proc.pid)  # delivered asynchronously, as memcached_procs says

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
