"""Real memcached processes and fake servers that tests can stop, kill, pause and restart."""

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_stopped(pid, deadline=10.0):
    """Until every thread of process ``pid`` is stopped (Linux: state T in /proc)."""
    import os

    end = time.monotonic() + deadline
    while True:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                # the state follows the command name, which is in parentheses
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(state in ("T", "t") for state in states):
            return
        if time.monotonic() > end:
            raise TimeoutError(f"process {pid} did not stop: {states}")
        time.sleep(0.001)


def wait_connectable(port, proc=None, deadline=10.0):
    end = time.monotonic() + deadline
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > end:
                pytest.fail(f"memcached on port {port} did not start")
            time.sleep(0.02)


class Memcached:
    """One memcached on a loopback port; the port survives restarts."""

    def __init__(self, *args):
        self.binary = shutil.which("memcached")
        if self.binary is None:
            pytest.fail("memcached is not installed; the README's test command installs it")
        self.port = free_port()
        self.args = args
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        # -u is required when running as root; -U 0 turns UDP off.
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-l",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "0",
                "-m",
                "64",
                "-u",
                "nobody",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_connectable(self.port, self.proc)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        # The signal is delivered asynchronously: until every thread has stopped, the server
        # may still answer the requests a test sends right after (seen: 1 run in 4 here).
        wait_stopped(self.proc.pid)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def restart(self):
        self.stop()
        return self.start()


@pytest.fixture
def memcached_factory():
    """Start memcached servers for one test: ``memcached_factory(*extra_args)``."""
    servers = []

    def start(*args):
        server = Memcached(*args).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@contextlib.contextmanager
def silent_listener():
    """A port whose kernel completes connections that nobody ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield "127.0.0.1:%d" % listener.getsockname()[1]


@contextlib.contextmanager
def fake_server(reply):
    """A server that reads one request line per connection, sends ``reply`` and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    served = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    data = b""
                    while b"\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    served.append(data)
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1:%d" % listener.getsockname()[1], served
    finally:
        stop.set()
        thread.join()
        listener.close()
