"""The LLM in a child process of its own. onnxruntime-genai holds Python's GIL for the whole prefill of a
prompt (seconds for a brief's or a long answer's prompt on the CPU): in the server's process that stalls every
other request thread, an extractive ``/ask`` or ``/health`` included, while the brief worker writes in the
background. In a child process the model computes beside the server's threads, which only wait on a pipe."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator, Sequence

from models.llm.spec import Generator

log = logging.getLogger(__name__)

Loader = Callable[[], Generator]


def _serve(conn: Any) -> None:
    """The child: load the model the parent sends (a picklable loader), then answer requests one at a time
    until the parent closes the connection."""
    try:
        generator = conn.recv()()
    except BaseException as error:  # noqa: BLE001 - the parent re-raises it
        conn.send(("error", error))
        return
    conn.send(("ready", generator.name))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        kind, args = request[0], request[1:]
        try:
            if kind == "close":
                return
            if kind == "stop":
                continue  # a stop that came after its stream had ended by itself
            if kind == "stream":
                stopped = False
                pieces = generator.stream(*args)
                try:
                    for piece in pieces:
                        conn.send(("piece", piece))
                        if conn.poll() and conn.recv()[0] == "stop":  # the reader closed the stream early
                            stopped = True
                            break
                finally:
                    pieces.close()  # the model stops before its next token
                conn.send(("end", stopped))
            elif kind == "choose":
                conn.send(("result", generator.choose(*args)))
            else:
                conn.send(("error", ValueError(f"unknown request {kind!r}")))
        except BaseException as error:  # noqa: BLE001 - the parent re-raises it
            conn.send(("error", error))


class ProcessGenerator:
    """A ``Generator`` whose model runs in a child process, started at construction; a child that died is
    started again on the next call. One call at a time (a lock), as the in-process generators do. ``load``
    builds the model in the child: a picklable callable (a module-level function or a ``functools.partial``
    of one). The child is ``python -m models.llm.process`` on one end of a socket pair, not a
    ``multiprocessing`` spawn, which would run the parent's main script again."""

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._conn: Any = None
        self._process: subprocess.Popen | None = None
        self.name = self._start()

    def _start(self) -> str:
        mine, theirs = socket.socketpair()
        process = subprocess.Popen([sys.executable, "-m", "models.llm.process", str(theirs.fileno())],
                                   pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        conn = Connection(mine.detach())
        try:
            conn.send(self._load)
            kind, value = conn.recv()
        except (EOFError, OSError):
            conn.close()
            raise RuntimeError(f"the LLM process exited while loading (exit code {process.wait(30)})") from None
        if kind == "error":
            conn.close()
            process.wait(30)
            raise value
        self._conn, self._process = conn, process
        return value

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _connection(self) -> Any:
        if not self._alive():
            log.warning("the LLM process is gone: starting it again")
            self._start()
        return self._conn

    def _receive(self) -> tuple[str, Any]:
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise RuntimeError("the LLM process died during a generation") from None
        if kind == "error":
            raise value
        return kind, value

    def generate(self, prompt: str, max_tokens: int) -> str:
        return "".join(self.stream(prompt, max_tokens))

    def stream(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Text pieces as the child makes them. Closing the iterator early stops the child at its next token
        and waits for it, so the next call starts clean."""
        with self._lock:
            conn = self._connection()
            conn.send(("stream", prompt, max_tokens))
            ended = False
            try:
                while True:
                    try:
                        kind, value = self._receive()
                    except BaseException:
                        ended = True  # the child reported the error (or died): nothing more will come
                        raise
                    if kind == "end":
                        ended = True
                        return
                    yield value
            finally:
                if not ended and self._alive():
                    conn.send(("stop",))
                    while self._receive()[0] != "end":
                        pass

    def choose(self, prompt: str, choices: Sequence[str]) -> list[float]:
        with self._lock:
            self._connection().send(("choose", prompt, tuple(choices)))
            return self._receive()[1]

    def close(self) -> None:
        """Stop the child (it also stops by itself when this process exits: its connection closes)."""
        with self._lock:
            if self._alive():
                try:
                    self._conn.send(("close",))
                except OSError:
                    pass
                try:
                    self._process.wait(10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
            if self._conn is not None:
                self._conn.close()
            self._process = self._conn = None


if __name__ == "__main__":  # the child: python -m models.llm.process FD
    _serve(Connection(int(sys.argv[1])))
