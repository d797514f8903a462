"""A sandbox for candidate code: a pre-forked worker with qiskit already imported (a fresh interpreter costs
about a second), which forks one child per job.

Each child gets its own process group and temporary directory, an environment scrubbed of secrets,
resource limits (address space, CPU time, file size, open files), no network — a new network namespace
where the kernel allows it (root, or unprivileged user namespaces), else an audit hook that refuses
sockets — and an audit hook that refuses subprocesses, ``os.system``, forks and writes outside its
temporary directory. The worker kills the child's whole process group at the wall-clock limit. The level
of isolation in force is recorded with every result.

The import allowlist only names the failure (``import_denied``) for code that reaches for modules a task
does not allow; it is not the security boundary — the process limits and the hooks are, and they are
meant for model-written code evaluated on your own machine, not for hostile code: run untrusted
evaluations in a container or VM as well.
"""

from __future__ import annotations

import builtins
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from replab.errors import ReplabError

ALLOWED_IMPORTS = ("qiskit", "qiskit_aer", "numpy", "math", "cmath", "itertools", "functools", "collections",
                   "random", "typing", "dataclasses", "fractions", "statistics", "scipy", "__future__")  # fmt: skip
PROGRAM_WITHHELD = ("exec", "eval", "compile", "breakpoint", "input")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
CLONE_NEWNET = 0x40000000


class SandboxViolation(PermissionError):
    """An operation the sandbox refuses; ``kind`` says which (network, subprocess, write)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"sandbox refused {kind}: {detail}")
        self.kind = kind


class ImportDenied(ImportError):
    pass


class MissingEntry(NameError):
    """The program ran but does not define the function the test calls."""


class CheckFailed(AssertionError):
    """Raised by a hidden test with the failure reason it found (e.g. wrong_width) and a detail."""

    def __init__(self, reason: str, detail: str = "", value: float | None = None) -> None:
        super().__init__(detail or reason)
        self.reason, self.detail, self.value = reason, detail, value


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 2048  # beyond what the warm worker already maps
    file_mb: int = 16
    open_files: int = 256


@dataclass
class Outcome:
    passed: bool
    reason: str | None = None  # one of schema.REASONS when not passed
    detail: str = ""
    value: Any = None
    seconds: float = 0.0
    isolation: str = ""
    output: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# audit events that change the file system, with how many of their leading arguments are paths
_PATH_CHANGES = {"os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.rename": 2, "os.mkdir": 1, "os.link": 2,
                 "os.symlink": 2, "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1}  # fmt: skip


def inside(path: str, root_real: str) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies in the directory ``root_real`` (a real path).
    By containment, never by string prefix: ``/tmp/box-abc`` does not contain ``/tmp/box-abcevil``."""
    real = os.path.realpath(path)
    try:
        return os.path.commonpath([real, root_real]) == root_real
    except ValueError:  # one relative, one absolute, or on different drives
        return False


# ---- inside the child ------------------------------------------------------------------------------
def _isolate(tmp: str, limits: Limits) -> str:
    """Limits, environment, network and hooks for this process; returns the isolation level in force."""
    os.setsid()
    mb = 1024 * 1024
    # address space: what the warm worker already maps (qiskit, numpy, thread stacks) plus the job's budget
    space = _mapped_bytes() + limits.memory_mb * mb
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    # CPU seconds across threads (Aer and BLAS use every core): the wall-clock kill is the real limit
    cpu = int(limits.timeout_s * (os.cpu_count() or 1)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    os.chdir(tmp)
    for key in list(os.environ):
        if any(word in key.upper() for word in SECRET_WORDS) or key not in ("PATH", "LANG", "LC_ALL"):
            del os.environ[key]
    os.environ.update(HOME=tmp, TMPDIR=tmp)
    level = ["rlimits", "tempdir", "scrubbed-env", "audit-hook"]
    try:
        if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) == 0:
            level.insert(0, "netns")
    except (OSError, AttributeError):
        pass
    tmp_real = os.path.realpath(tmp)

    def hook(event: str, args: tuple) -> None:
        if event in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty",
                     "os.spawn", "pty.spawn"):  # fmt: skip
            raise SandboxViolation("subprocess", event)
        if event.startswith("socket.") and event not in ("socket.gethostname",):
            raise SandboxViolation("network", event)
        if event == "open" and len(args) > 1 and isinstance(args[0], str | bytes):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            path = os.fsdecode(args[0])
            if writes and path != os.devnull and not inside(path, tmp_real):
                raise SandboxViolation("write", f"outside the temporary directory: {path}")
        if event in _PATH_CHANGES:
            for arg in args[: _PATH_CHANGES[event]]:
                path = os.fsdecode(arg) if isinstance(arg, str | bytes) else ""
                if path and not inside(path, tmp_real):
                    raise SandboxViolation("write", f"{event} outside the temporary directory: {path}")

    sys.addaudithook(hook)
    return "+".join(level)


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _guarded_import(allowed: tuple[str, ...]):
    real = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (globals or {}).get("__name__") == "candidate" and name.split(".")[0] not in allowed:
            raise ImportDenied(f"import of '{name}' is not allowed in this task (allowed: {', '.join(allowed)})")
        return real(name, globals, locals, fromlist, level)

    return guarded


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def needs_network(exc: BaseException) -> bool:
    """True when the failure is a refused network call or an IBM Quantum account lookup (the sandbox has
    neither): decided from what happened, anywhere in the exception's chain, never from the code's text."""
    for link in _chain(exc):
        if isinstance(link, SandboxViolation) and link.kind == "network":
            return True
        frames = traceback.extract_tb(link.__traceback__)
        if any(f"/qiskit_ibm_runtime/{part}" in frame.filename for frame in frames[-3:]
               for part in ("accounts/", "qiskit_runtime_service.py", "api/")):  # fmt: skip
            return True
    return False


def _missing_dependency(exc: BaseException) -> bool:
    """A package that is not installed here at all (qiskit's optional libraries included), as opposed to a
    module gone from a package that is (api_drift)."""
    if type(exc).__name__ == "MissingOptionalLibraryError":
        return True
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        import importlib.util

        try:
            return importlib.util.find_spec(exc.name.split(".")[0]) is None
        except (ImportError, ValueError):
            return True
    return False


def classify(exc: BaseException) -> tuple[str, str]:
    """An exception from candidate code → one of REASONS and a short detail."""
    text = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, CheckFailed):
        return exc.reason, exc.detail or text
    if isinstance(exc, SyntaxError):
        return "syntax", text
    if isinstance(exc, ImportDenied):
        return "import_denied", text
    if isinstance(exc, MissingEntry):
        return "missing_entry", text
    if needs_network(exc):
        return "network_required", text
    if isinstance(exc, SandboxViolation):
        return "runtime", text
    if isinstance(exc, MemoryError):
        return "memory", text
    if _missing_dependency(exc):
        return "missing_dependency", text
    if isinstance(exc, ImportError) and (exc.name or "").startswith("qiskit"):
        return "api_drift", text
    if isinstance(exc, ImportError | AttributeError):
        frames = traceback.extract_tb(exc.__traceback__)
        if "qiskit" in str(exc) or any("/qiskit/" in f.filename for f in frames[-1:]):
            return "api_drift", text
    if isinstance(exc, AssertionError):
        return "not_equivalent", text
    return "runtime", text


def _run_job(job: dict[str, Any], tmp: str, limits: Limits, write_fd: int) -> None:
    """In the forked child: isolate, run candidate then test, report one JSON object, exit."""
    start = time.perf_counter()
    out_path = os.path.join(tmp, "output.txt")
    log = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the worker's job channel is not the candidate's to read
    os.dup2(log, 1)
    os.dup2(log, 2)
    result: dict[str, Any]
    try:
        isolation = _isolate(tmp, limits)
        # said first, so that a child killed at a limit still has its isolation recorded
        os.write(write_fd, json.dumps({"isolation": isolation}).encode() + b"\n")
        try:
            program = job.get("mode") == "program"
            candidate = compile(job["code"], "<program>" if program else "<candidate>", "exec")
            namespace: dict[str, Any] = {"__name__": "candidate", "__builtins__": dict(vars(builtins))}
            namespace["__builtins__"]["__import__"] = _guarded_import(tuple(job.get("allowed") or ALLOWED_IMPORTS))
            if program:  # what Qiskit HumanEval's harness withholds from the program it runs
                for name in PROGRAM_WITHHELD:
                    namespace["__builtins__"].pop(name, None)
            exec(candidate, namespace)
            value = None
            if program:
                if job["entry"] not in namespace:
                    raise MissingEntry(f"the program does not define '{job['entry']}'")
                if job.get("call_check", True):
                    value = namespace["check"](namespace[job["entry"]])
            elif job.get("test"):
                checker: dict[str, Any] = {"__name__": "hidden_test", "CheckFailed": CheckFailed}
                exec(compile(job["test"], "<hidden test>", "exec"), checker)
                target = namespace[job["entry"]] if job.get("entry") else namespace
                value = checker["check"](target)
            result = {"passed": True, "value": _plain(value)}
        except BaseException as exc:  # noqa: BLE001 — every failure of candidate code is a recorded outcome
            reason, detail = classify(exc)
            result = {"passed": False, "reason": reason, "detail": detail, "value": getattr(exc, "value", None)}
        result["isolation"] = isolation
    except BaseException as exc:  # noqa: BLE001 — the sandbox could not be set up
        result = {"passed": False, "reason": "runtime", "detail": f"sandbox setup failed: {exc}",
                  "isolation": "none (setup failed)"}  # fmt: skip
    result["seconds"] = time.perf_counter() - start
    os.write(write_fd, json.dumps(result, default=str).encode() + b"\n")
    os.close(write_fd)
    os._exit(0)


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)[:200]


# ---- the worker: one process, qiskit imported, one fork per job ------------------------------------
def _serve(preload: list[str]) -> None:
    for module in preload:
        __import__(module)
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    channel_out.write(b'{"ready": true}\n')
    channel_out.flush()
    for line in channel_in:
        job = json.loads(line)
        outcome = _fork_job(job, Limits(**job.get("limits", {})))
        channel_out.write(json.dumps(outcome.to_dict(), default=str).encode() + b"\n")
        channel_out.flush()


def _fork_job(job: dict[str, Any], limits: Limits) -> Outcome:
    tmp = tempfile.mkdtemp(prefix="replab-sandbox-")
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _run_job(job, tmp, limits, write_fd)
    os.close(write_fd)
    chunks, deadline = [], start + limits.timeout_s
    while True:
        left = deadline - time.perf_counter()
        ready, _, _ = select.select([read_fd], [], [], max(0.0, left))
        if not ready:
            break
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    reached_deadline = time.perf_counter() >= deadline
    try:
        os.killpg(pid, signal.SIGKILL)  # the child and anything it started
    except (ProcessLookupError, PermissionError):
        pass
    _, status = os.waitpid(pid, 0)
    os.close(read_fd)
    output = _read_output(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - start
    said = _messages(b"".join(chunks))
    isolation = next((m["isolation"] for m in said if "isolation" in m), "none (killed before isolating)")
    data = next((m for m in said if "passed" in m), None)
    if data is not None:
        return Outcome(data["passed"], data.get("reason"), data.get("detail", ""), data.get("value"), seconds,
                       data.get("isolation", isolation), output)  # fmt: skip
    if reached_deadline:
        detail = f"no result within {limits.timeout_s:g} s; killed"
        return Outcome(False, "timeout", detail, None, seconds, isolation, output)
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if signum == signal.SIGXCPU:
        return Outcome(False, "timeout", "CPU-time limit exceeded", None, seconds, isolation, output)
    if signum in (signal.SIGKILL, signal.SIGSEGV) or "MemoryError" in output:
        return Outcome(False, "memory", f"killed by signal {signum} (memory limit {limits.memory_mb} MB)", None,
                       seconds, isolation, output)  # fmt: skip
    detail = f"the child exited without a result (status {status})"
    return Outcome(False, "runtime", detail, None, seconds, isolation, output)


def _messages(data: bytes) -> list[dict[str, Any]]:
    """The child's JSON lines; a line cut short by a kill is dropped."""
    found = []
    for line in data.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


def _read_output(tmp: str, limit: int = 2000) -> str:
    try:
        with open(os.path.join(tmp, "output.txt"), errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return ""


class SandboxError(ReplabError):
    """The sandbox worker itself failed (not the candidate)."""


class Sandbox:
    """The client: starts the worker (``python -m replab.quantum.sandbox``) and sends it jobs.

    ``run(code, test, entry)`` executes ``code``, then the hidden ``test``'s ``check(namespace[entry])``;
    returns an ``Outcome``. A worker that dies is restarted; the job that killed it is reported as such."""

    def __init__(self, limits: Limits | None = None, preload: tuple[str, ...] = ("qiskit", "qiskit.quantum_info")):
        self.limits, self.preload = limits or Limits(), preload
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not any(w in k.upper() for w in SECRET_WORDS)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "replab.quantum.sandbox", *self.preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        ready = self._proc.stdout.readline()
        if not ready.startswith(b'{"ready"'):
            raise SandboxError(f"the sandbox worker did not start: {ready[:200]!r}")

    def run(self, code: str, test: str = "", entry: str = "", allowed: tuple[str, ...] | None = None,
            limits: Limits | None = None) -> Outcome:  # fmt: skip
        """``code`` in a namespace of its own, then the hidden ``test``'s ``check(code's entry)`` in another."""
        return self._submit({"code": code, "test": test, "entry": entry}, allowed, limits)

    def run_program(self, code: str, entry: str, allowed: tuple[str, ...] | None = None,
                    limits: Limits | None = None, call_check: bool = True) -> Outcome:  # fmt: skip
        """One program (e.g. prompt + completion + test) in one namespace, then its own ``check(entry)``
        (``call_check=False``: the program already calls it)."""
        job = {"code": code, "entry": entry, "mode": "program", "call_check": call_check}
        return self._submit(job, allowed, limits)

    def _submit(self, job: dict[str, Any], allowed: tuple[str, ...] | None, limits: Limits | None) -> Outcome:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        limits = limits or self.limits
        job = {**job, "allowed": list(allowed or ALLOWED_IMPORTS), "limits": vars(limits)}
        self._proc.stdin.write(json.dumps(job).encode() + b"\n")
        self._proc.stdin.flush()
        ready, _, _ = select.select([self._proc.stdout], [], [], limits.timeout_s + 30)
        line = self._proc.stdout.readline() if ready else b""
        if not line:
            self.close()
            return Outcome(
                False,
                "runtime",
                "the sandbox worker died during this job; restarted",
                isolation="unknown (the worker died)",
            )
        return Outcome(**json.loads(line))

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    # serve from the imported module, so that CheckFailed & co. are the classes hidden tests import
    from replab.quantum import sandbox as _module

    _module._serve(sys.argv[1:])
