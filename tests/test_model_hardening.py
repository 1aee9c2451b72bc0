"""Issue 10 rows 10, 11, 17, 18 through the real CLI (``python -m voiceskill model ...``):
downloads that trickle or hang, SIGTERM and SIGKILL mid-install, links and devices in a model
folder, zip bombs."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_models import leftovers, make_model, zip_model


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceskill", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "voiceskill", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.pop("VOICESKILL_MODEL", None)
    return env


def users_models(tmp_path: Path) -> Path:
    return tmp_path / "data" / "voiceskill" / "models"


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("voiceskill: error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


# --- row 10: a server that trickles -------------------------------------------------------------

class Trickle(http.server.BaseHTTPRequestHandler):
    """/slow: 1 byte a second (the issue's reproducer); /steady: 4 KB/s, above the stall limit
    but far too slow for the deadline; /headers: the status line itself trickles."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            if self.path == "/headers.zip":
                for c in b"HTTP/1.0 200 OK\r\n":
                    self.wfile.write(bytes([c]))
                    self.wfile.flush()
                    time.sleep(0.5)
                return
            self.send_response(200)
            self.send_header("Content-Length", "50000000")
            self.end_headers()
            step, pause = (1, 1.0) if self.path == "/slow.zip" else (400, 0.1)
            for _ in range(10_000):
                self.wfile.write(b"\0" * step)
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass


@pytest.fixture
def trickle() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_from_a_trickling_server_stalls_out(tmp_path: Path, cli_env: dict[str, str],
                                                      trickle: str) -> None:
    dest = tmp_path / "dest"
    started = time.monotonic()
    done = cli("model", "download", "--url", f"{trickle}/slow.zip", "--timeout", "3", "--dest", str(dest),
               env=cli_env)
    took = time.monotonic() - started
    assert done.returncode == 1
    assert "stalled" in one_error_line(done)
    assert took < 15, took  # before the fix: still running at 20 s (the timeout was per read)
    assert leftovers(dest) == []


@pytest.mark.parametrize("path", ["steady.zip", "headers.zip"])
def test_download_has_an_overall_deadline(tmp_path: Path, cli_env: dict[str, str], trickle: str,
                                          path: str) -> None:
    dest = tmp_path / "dest"
    started = time.monotonic()
    done = cli("model", "download", "--url", f"{trickle}/{path}", "--timeout", "5", "--deadline", "3",
               "--dest", str(dest), env=cli_env)
    took = time.monotonic() - started
    assert done.returncode == 1
    assert "did not finish within 3 s" in one_error_line(done)
    assert took < 12, took
    assert leftovers(dest) == []


def wait_for(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_sigterm_during_download_leaves_no_temp_file(tmp_path: Path, cli_env: dict[str, str],
                                                     trickle: str) -> None:
    dest = users_models(tmp_path)
    proc = start_cli("model", "download", "--url", f"{trickle}/steady.zip", "--timeout", "30", env=cli_env)
    try:
        wait_for(lambda: any(n.startswith(".voiceskill-tmp-") for n in leftovers(dest)))
        # another model command meanwhile must not take a running download's file away
        assert cli("model", "list", env=cli_env).returncode == 1
        assert any(n.startswith(".voiceskill-tmp-") for n in leftovers(dest))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 143
    assert leftovers(dest) == []


# --- row 17: killed installs ----------------------------------------------------------------------

def big_model(root: Path) -> Path:
    make_model(root)
    (root / "am" / "final.mdl").write_bytes(os.urandom(40_000_000))  # copying takes a while
    return root


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_install_leaves_nothing_after_the_next_model_command(tmp_path: Path, cli_env: dict[str, str],
                                                                    sig: signal.Signals) -> None:
    source = big_model(tmp_path / "vosk-model-big")
    dest = users_models(tmp_path)
    for _ in range(5):  # the copy may finish before the signal lands: try again
        proc = start_cli("model", "install", str(source), "--force", env=cli_env)
        wait_for(lambda: any(n.startswith(".voiceskill-tmp-") for n in leftovers(dest)) or proc.poll() is not None)
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        if proc.returncode == -sig or proc.returncode == 128 + sig:
            break
    else:
        pytest.fail("the install always finished before the signal")
    temps = [n for n in leftovers(dest) if n.startswith(".voiceskill-tmp-")]
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and temps == []  # cleaned on the way out
        return
    assert temps  # SIGKILL: nothing can clean up at once...
    done = cli("model", "path", env=cli_env)  # ...but the next model command, of any kind, does
    assert [n for n in leftovers(dest) if n.startswith(".voiceskill-tmp-")] == [], done.stderr


# --- row 11: links and special files in a model folder ------------------------------------------

@pytest.mark.parametrize("kind", ["dev_zero", "outside_file", "fifo"])
def test_install_folder_copies_regular_files_only(tmp_path: Path, cli_env: dict[str, str], kind: str) -> None:
    model = make_model(tmp_path / "m")
    extra = model / "graph" / "extra.fst"
    if kind == "dev_zero":
        extra.symlink_to("/dev/zero")
    elif kind == "outside_file":
        secret = tmp_path / "secret.txt"
        secret.write_text("not part of the model")
        extra.symlink_to(secret)
    else:
        os.mkfifo(extra)
    dest = tmp_path / "dest"
    started = time.monotonic()
    done = cli("model", "install", str(model), "--dest", str(dest), env=cli_env, timeout=30)
    assert time.monotonic() - started < 20  # before the fix: /dev/zero copied forever
    assert done.returncode == 1
    line = one_error_line(done)
    assert "graph/extra.fst" in line
    assert ("link out of the model" in line) if kind != "fifo" else ("not a regular file" in line)
    assert leftovers(dest) == []


def test_install_folder_keeps_links_inside_the_model(tmp_path: Path, cli_env: dict[str, str]) -> None:
    model = make_model(tmp_path / "m")
    (model / "graph" / "words.txt").write_text("a 1\n")
    (model / "words.txt").symlink_to("graph/words.txt")
    done = cli("model", "install", str(model), "--dest", str(tmp_path / "dest"), env=cli_env)
    assert done.returncode == 0, done.stderr
    copied = tmp_path / "dest" / "m" / "words.txt"
    assert copied.is_file() and not copied.is_symlink() and copied.read_text() == "a 1\n"


# --- row 18: zip bombs --------------------------------------------------------------------------

def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path, cli_env: dict[str, str]) -> None:
    archive = zip_model(make_model(tmp_path / "src"), tmp_path / "bomb.zip", "vosk-model-bomb/")
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("vosk-model-bomb/graph/pad.fst", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(315):
                member.write(block)
    assert archive.stat().st_size < 2_000_000  # ~ the 300 KB zip that unpacks to 315 MB
    dest = tmp_path / "dest"
    done = cli("model", "install", str(archive), "--dest", str(dest), env=cli_env)
    assert done.returncode == 1
    line = one_error_line(done)
    assert "zip bomb" in line and "332 MB" in line
    assert leftovers(dest) == []


