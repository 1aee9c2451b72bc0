"""voiceskill.models and ``voiceskill model``: resolution, checks, atomic install and download."""

from __future__ import annotations

import hashlib
import io
import logging
import http.server
import os
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require

from voiceskill import cli, models
from voiceskill.cliutil import ProgressReporter
from voiceskill.errors import ModelError
from voiceskill.models import (MANIFEST_NAME, check_model_dir, download_model, install_model,
                               installed_models, resolve_model_dir, user_models_dir, verify_model_dir)

MDL_BYTES = 1_200_000  # above models.MIN_FINAL_MDL_BYTES
REAL_AAR_VERSION = "0.3.45"


def fst_bytes(fst_type: str, states: int = 3, arcs: int = 5, *, inner: bytes = b"", tail: bytes = b"") -> bytes:
    """A well-formed OpenFst file: header, then the arrays a ``const`` FST's header announces
    (or ``inner``, the FST an ``olabel_lookahead`` one wraps), then ``tail``."""
    def string(text: str) -> bytes:
        return struct.pack("<i", len(text)) + text.encode()

    header = (struct.pack("<i", 2125659606) + string(fst_type) + string("standard")
              + struct.pack("<iiqqqq", 1, 0, 0, 0 if states else -1, states, arcs))
    if fst_type == "olabel_lookahead":
        return header + struct.pack("<i", 446681434) + inner + tail
    body = bytes(20 * states + 16 * arcs) if fst_type == "const" else bytes(64)
    return header + body + tail


def make_model(root: Path, *, hclg: bool = False, ivector: bool = True, seed: int = 0) -> Path:
    """A small tree with the shape of a Vosk model (structure tests do not need a real one)."""
    files = {
        "am/final.mdl": bytes((seed + i) % 251 for i in range(MDL_BYTES)),
        "conf/model.conf": b"--min-active=200\n--beam=10.0\n",
        "conf/mfcc.conf": b"--sample-frequency=16000\n",
        "graph/phones/word_boundary.int": b"1 nonword\n",
        "README": b"fake model for tests\n",
    }
    if hclg:
        files["graph/HCLG.fst"] = fst_bytes("const", 7, 11)
    else:
        files["graph/HCLr.fst"] = fst_bytes("olabel_lookahead", -1, -1, inner=fst_bytes("const", 4, 9),
                                            tail=bytes(40))
        files["graph/Gr.fst"] = fst_bytes("ngram", 2, 2)
    if ivector:
        for name in ("final.ie", "final.dubm", "final.mat", "global_cmvn.stats",
                     "online_cmvn.conf", "splice.conf"):
            files[f"ivector/{name}"] = f"{name} content\n".encode()
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def zip_model(model: Path, archive: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        for path in sorted(model.rglob("*")):
            if path.is_file():
                z.write(path, prefix + path.relative_to(model).as_posix())
    return archive


def make_aar(model: Path, archive: Path) -> Path:
    """Laid out like com.alphacephei:vosk-model-en: the model under assets/model-en-us/."""
    extra = {"R.txt": b"", "AndroidManifest.xml": b"<manifest/>", "classes.jar": b"PK\x05\x06" + bytes(18),
             "model-en-us/": b"", "model-en-us/am/": b""}
    return zip_model(model, archive, "assets/model-en-us/", extra)


def leftovers(dest: Path) -> list[str]:
    """Everything in an install destination (hidden temp files included)."""
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """os.environ and cwd pointing into tmp_path, for CLI tests. Returns the user models dir."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(models.ENV_VAR, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "data" / "voiceskill" / "models"


# --- resolution ---------------------------------------------------------------------------------

def test_user_models_dir_follows_xdg(env: dict[str, str], tmp_path: Path) -> None:
    assert user_models_dir(env) == tmp_path / "data" / "voiceskill" / "models"
    assert user_models_dir({"HOME": "/home/pi"}) == Path("/home/pi/.local/share/voiceskill/models")
    assert user_models_dir({"HOME": "/home/pi", "XDG_DATA_HOME": "relative"}) == \
        Path("/home/pi/.local/share/voiceskill/models")


def test_user_models_dir_default_agrees_with_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_models_dir() == user_models_dir(dict(os.environ)) == tmp_path / "xdg" / "voiceskill" / "models"


def test_resolution_order(tmp_path: Path, env: dict[str, str]) -> None:
    cwd = tmp_path / "work"
    user = make_model(user_models_dir(env) / "user-model")
    assert resolve_model_dir(env=env, cwd=cwd) == user
    local = make_model(cwd / "models" / "local-model")
    assert resolve_model_dir(env=env, cwd=cwd) == local
    from_env = make_model(tmp_path / "env-model")
    env[models.ENV_VAR] = str(from_env)
    assert resolve_model_dir(env=env, cwd=cwd) == from_env
    explicit = make_model(tmp_path / "explicit-model")
    assert resolve_model_dir(explicit, env=env, cwd=cwd) == explicit
    assert resolve_model_dir(str(explicit), env=env, cwd=cwd) == explicit


def test_local_models_dir_itself_or_first_complete_subdir(tmp_path: Path, env: dict[str, str]) -> None:
    cwd = tmp_path / "work"
    make_model(cwd / "models" / "b-model")
    make_model(cwd / "models" / "c-model")
    (cwd / "models" / "notes").mkdir()  # not a model: ignored
    assert resolve_model_dir(env=env, cwd=cwd).name == "b-model"
    broken = make_model(cwd / "models" / "a-model")
    (broken / "am" / "final.mdl").unlink()
    assert resolve_model_dir(env=env, cwd=cwd).name == "b-model"
    direct = tmp_path / "other"
    make_model(direct / "models")
    assert resolve_model_dir(env=env, cwd=direct) == direct / "models"


def test_explicit_or_env_dir_holding_models_picks_one(tmp_path: Path, env: dict[str, str]) -> None:
    make_model(tmp_path / "shelf" / "m1")
    assert resolve_model_dir(tmp_path / "shelf", env=env, cwd=tmp_path) == tmp_path / "shelf" / "m1"


def test_missing_model_message_names_places_and_fix(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model_dir(env=env, cwd=tmp_path / "work")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no speech model found")
    assert str(tmp_path / "work" / "models") in message and str(user_models_dir(env)) in message
    assert "voiceskill model download" in message and "voiceskill model install FILE" in message


def test_explicit_and_env_dirs_are_never_skipped(tmp_path: Path, env: dict[str, str]) -> None:
    make_model(user_models_dir(env) / "good")
    with pytest.raises(ModelError, match="no such directory"):
        resolve_model_dir(tmp_path / "typo", env=env, cwd=tmp_path)
    broken = make_model(tmp_path / "broken")
    (broken / "conf" / "mfcc.conf").unlink()
    env[models.ENV_VAR] = str(broken)
    with pytest.raises(ModelError, match=r"conf/mfcc.conf is missing.*voiceskill model install FILE"):
        resolve_model_dir(env=env, cwd=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a Vosk model directory"):
        resolve_model_dir(tmp_path / "empty", env=env, cwd=tmp_path)


def test_only_broken_models_are_reported(tmp_path: Path, env: dict[str, str]) -> None:
    broken = make_model(user_models_dir(env) / "broken")
    (broken / "graph" / "Gr.fst").unlink()
    with pytest.raises(ModelError, match=r"broken is not usable: graph/Gr.fst is missing"):
        resolve_model_dir(env=env, cwd=tmp_path)


# --- checks -------------------------------------------------------------------------------------

def test_complete_fake_models_pass(tmp_path: Path) -> None:
    check_model_dir(make_model(tmp_path / "a"))
    check_model_dir(make_model(tmp_path / "b", hclg=True, ivector=False))


def test_truncated_final_mdl_is_detected_with_manifest(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    installed = install_model(make_model(tmp_path / "m"), dest_dir=dest)
    check_model_dir(installed)
    mdl = installed / "am" / "final.mdl"
    with mdl.open("r+b") as f:
        f.truncate(MDL_BYTES - 10)  # still above the no-manifest sanity limit: only the manifest sees it
    with pytest.raises(ModelError) as info:
        check_model_dir(installed)
    message = str(info.value)
    assert "am/final.mdl is truncated" in message and str(installed) in message
    assert "voiceskill model install FILE" in message and "\n" not in message


def test_truncated_final_mdl_is_detected_without_manifest(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    with (model / "am" / "final.mdl").open("r+b") as f:
        f.truncate(4096)
    with pytest.raises(ModelError, match="am/final.mdl is truncated"):
        check_model_dir(model)


def test_structural_problems(tmp_path: Path) -> None:
    empty_fst = make_model(tmp_path / "a")
    (empty_fst / "graph" / "HCLr.fst").write_bytes(b"")
    with pytest.raises(ModelError, match="graph/HCLr.fst is empty"):
        check_model_dir(empty_fst)
    no_ie = make_model(tmp_path / "b")
    (no_ie / "ivector" / "final.ie").unlink()
    with pytest.raises(ModelError, match="ivector/final.ie is missing"):
        check_model_dir(no_ie)
    stray = make_model(tmp_path / "c")
    (stray / "rescore").mkdir()
    (stray / "rescore" / "G.carpa").write_bytes(b"")
    with pytest.raises(ModelError, match="rescore/G.carpa is empty"):
        check_model_dir(stray)
    with pytest.raises(ModelError, match="no such directory"):
        check_model_dir(tmp_path / "nothing")


def test_same_size_corruption_needs_full_verify(tmp_path: Path) -> None:
    installed = install_model(make_model(tmp_path / "m"), dest_dir=tmp_path / "dest")
    mdl = installed / "am" / "final.mdl"
    data = bytearray(mdl.read_bytes())
    data[1000] ^= 0xFF
    mdl.write_bytes(bytes(data))
    check_model_dir(installed)  # sizes only: fast, cannot see it
    with pytest.raises(ModelError, match="am/final.mdl is corrupt"):
        verify_model_dir(installed)


def test_installed_models_lists_both_places(tmp_path: Path, env: dict[str, str]) -> None:
    cwd = tmp_path / "work"
    make_model(cwd / "models" / "local")
    broken = make_model(user_models_dir(env) / "user")
    (broken / "conf" / "model.conf").unlink()
    infos = installed_models(env=env, cwd=cwd)
    assert [(i.name, i.complete) for i in infos] == [("local", True), ("user", False)]
    assert infos[0].size_bytes > MDL_BYTES and infos[1].problem == "conf/model.conf is missing"


# --- install ------------------------------------------------------------------------------------

def assert_same_files(model: Path, installed: Path) -> None:
    for path in model.rglob("*"):
        if path.is_file():
            assert (installed / path.relative_to(model)).read_bytes() == path.read_bytes()
    assert (installed / MANIFEST_NAME).is_file()


def test_install_from_nested_zip(tmp_path: Path) -> None:
    model = make_model(tmp_path / "src")
    archive = zip_model(model, tmp_path / "download.zip", "vosk-model-small-xx-0.1/")
    dest = tmp_path / "dest"
    installed = install_model(archive, dest_dir=dest)
    assert installed == dest / "vosk-model-small-xx-0.1"
    assert_same_files(model, installed)
    assert leftovers(dest) == ["vosk-model-small-xx-0.1"]
    verify_model_dir(installed)


def test_install_from_flat_zip_and_with_name(tmp_path: Path) -> None:
    model = make_model(tmp_path / "src", hclg=True)
    archive = zip_model(model, tmp_path / "my-model.zip")
    assert install_model(archive, dest_dir=tmp_path / "dest") == tmp_path / "dest" / "my-model"
    named = install_model(archive, dest_dir=tmp_path / "dest", name="other")
    assert named == tmp_path / "dest" / "other"
    check_model_dir(named)


def test_install_from_aar(tmp_path: Path) -> None:
    model = make_model(tmp_path / "src")
    aar = make_aar(model, tmp_path / "vosk-model-en-0.3.45.aar")
    dest = tmp_path / "dest"
    installed = install_model(aar, dest_dir=dest)
    assert installed == dest / "vosk-model-en-0.3.45"
    assert_same_files(model, installed)
    assert not (installed / "AndroidManifest.xml").exists()
    assert not (installed / "assets").exists()


def test_install_from_folder_copies(tmp_path: Path) -> None:
    model = make_model(tmp_path / "vosk-model-mine")
    installed = install_model(model, dest_dir=tmp_path / "dest")
    assert installed == tmp_path / "dest" / "vosk-model-mine"
    assert_same_files(model, installed)
    assert model.exists()
    shelf = tmp_path / "shelf"
    make_model(shelf / "only-one")
    assert install_model(shelf, dest_dir=tmp_path / "dest").name == "only-one"


def test_install_refuses_to_replace_a_complete_model_without_force(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    first = install_model(make_model(tmp_path / "m", seed=1), dest_dir=dest)
    again = make_model(tmp_path / "again" / "m", seed=2)
    with pytest.raises(ModelError, match="already installed.*--force"):
        install_model(again, dest_dir=dest)
    assert (first / "am" / "final.mdl").read_bytes()[0] == 1
    install_model(again, dest_dir=dest, force=True)
    assert (first / "am" / "final.mdl").read_bytes()[0] == 2
    assert leftovers(dest) == ["m"]


def test_install_replaces_an_incomplete_model(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    installed = install_model(make_model(tmp_path / "m"), dest_dir=dest)
    (installed / "am" / "final.mdl").write_bytes(b"cut")
    install_model(tmp_path / "m", dest_dir=dest)
    check_model_dir(installed)


@pytest.mark.parametrize("case", ["no_model", "incomplete", "crc", "not_zip", "missing", "unsafe_name"])
def test_failed_installs_leave_nothing(tmp_path: Path, case: str) -> None:
    model = make_model(tmp_path / "src")
    dest = tmp_path / "dest"
    if case == "no_model":
        source = tmp_path / "notes.zip"
        with zipfile.ZipFile(source, "w") as z:
            z.writestr("notes/readme.txt", "hello")
        expected = "no Vosk model"
    elif case == "incomplete":
        (model / "conf" / "mfcc.conf").unlink()
        source = zip_model(model, tmp_path / "m.zip", "m/")
        expected = "conf/mfcc.conf is missing"
    elif case == "crc":
        source = tmp_path / "m.zip"
        with zipfile.ZipFile(source, "w", zipfile.ZIP_STORED) as z:
            z.write(model / "am" / "final.mdl", "m/am/final.mdl")
            for rel in ("conf/model.conf", "conf/mfcc.conf"):
                z.write(model / rel, f"m/{rel}")
        data = bytearray(source.read_bytes())
        data[5000] ^= 0xFF  # inside final.mdl's stored bytes
        source.write_bytes(bytes(data))
        expected = "damaged zip"
    elif case == "not_zip":
        source = tmp_path / "model.tar.gz"
        source.write_bytes(b"\x1f\x8b" + bytes(100))
        expected = "not a zip, AAR or folder"
    elif case == "missing":
        source = tmp_path / "nope.zip"
        expected = "no such file"
    else:
        source = model
        expected = "invalid model name"
    with pytest.raises(ModelError, match=expected) as info:
        install_model(source, dest_dir=dest, name="../x" if case == "unsafe_name" else None)
    assert "\n" not in str(info.value)
    assert leftovers(dest) == []


def test_leftovers_of_a_killed_install_are_removed_later(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    old, recent, running = (dest / ".voiceskill-tmp-old", dest / ".voiceskill-tmp-recent.zip",
                            dest / ".voiceskill-tmp-running")
    (old / "model").mkdir(parents=True)
    recent.write_bytes(b"partial")
    running.mkdir()
    day_ago = time.time() - 24 * 3600
    os.utime(old, (day_ago, day_ago))
    holder = models._hold_lock(running)  # an install in progress holds its temporary's lock
    try:
        install_model(make_model(tmp_path / "m"), dest_dir=dest)
        # the dead ones (no lock held) go, whatever their age; the running one stays
        assert leftovers(dest) == [running.name, "m"]
    finally:
        os.close(holder)
    assert models.remove_stale_temps(dest) == 1
    assert leftovers(dest) == ["m"]


def test_interrupted_install_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = zip_model(make_model(tmp_path / "src"), tmp_path / "m.zip", "m/")

    def ctrl_c(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "write_manifest", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        install_model(archive, dest_dir=tmp_path / "dest")
    assert leftovers(tmp_path / "dest") == []


# --- download from a loopback HTTP server -------------------------------------------------------

class ModelServer(http.server.BaseHTTPRequestHandler):
    payload = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/stall.zip":  # headers, then nothing until well past the client's timeout
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(2.0)
            return
        if self.path not in ("/model.zip", "/cut.zip"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        if self.path == "/cut.zip":  # the connection drops half way
            self.wfile.write(self.payload[: len(self.payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(self.payload)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    archive = zip_model(make_model(tmp_path / "served"), tmp_path / "served.zip", "vosk-model-served-1.0/")
    payload = archive.read_bytes()
    handler = type("Handler", (ModelServer,), {"payload": payload})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", payload
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_with_right_checksum(tmp_path: Path, server: tuple[str, bytes]) -> None:
    base, payload = server
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "dest"
    installed = download_model(f"{base}/model.zip", sha256=hashlib.sha256(payload).hexdigest().upper(),
                               dest_dir=dest, progress=lambda done, total: seen.append((done, total)))
    assert installed == dest / "vosk-model-served-1.0"
    verify_model_dir(installed)
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    assert leftovers(dest) == ["vosk-model-served-1.0"]
    assert base in (installed / MANIFEST_NAME).read_text()


def test_download_checksum_mismatch_installs_nothing(tmp_path: Path, server: tuple[str, bytes]) -> None:
    base, _ = server
    with pytest.raises(ModelError, match="checksum mismatch") as info:
        download_model(f"{base}/model.zip", sha256="0" * 64, dest_dir=tmp_path / "dest")
    assert "voiceskill model install FILE" in str(info.value)
    assert leftovers(tmp_path / "dest") == []


def test_download_cut_off_installs_nothing(tmp_path: Path, server: tuple[str, bytes]) -> None:
    base, payload = server
    with pytest.raises(ModelError, match="download of .* (failed|was cut off)") as info:
        download_model(f"{base}/cut.zip", sha256=hashlib.sha256(payload).hexdigest(), dest_dir=tmp_path / "dest")
    assert "voiceskill model install FILE" in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path / "dest") == []


def test_download_interrupted_by_ctrl_c_installs_nothing(tmp_path: Path, server: tuple[str, bytes]) -> None:
    base, _ = server

    def ctrl_c(done: int, total: int | None) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_model(f"{base}/model.zip", dest_dir=tmp_path / "dest", progress=ctrl_c)
    assert leftovers(tmp_path / "dest") == []


def test_download_errors_are_one_line(tmp_path: Path, server: tuple[str, bytes]) -> None:
    base, _ = server
    with pytest.raises(ModelError, match="HTTP 404"):
        download_model(f"{base}/missing.zip", dest_dir=tmp_path / "dest")
    closed = http.server.HTTPServer(("127.0.0.1", 0), ModelServer)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there now
    with pytest.raises(ModelError, match="failed .*voiceskill model install FILE") as info:
        download_model(f"http://127.0.0.1:{port}/model.zip", dest_dir=tmp_path / "dest", timeout_s=5)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="stall.zip failed .*timed out.*voiceskill model install FILE"):
        download_model(f"{base}/stall.zip", dest_dir=tmp_path / "dest", timeout_s=0.3)
    with pytest.raises(ModelError, match="not a sha256"):
        download_model(f"{base}/model.zip", sha256="abc", dest_dir=tmp_path / "dest")
    assert leftovers(tmp_path / "dest") == []


def test_default_url_has_pinned_checksum_and_size() -> None:
    assert models.DEFAULT_MODEL_URL.endswith("/vosk-model-small-en-us-0.15.zip")
    assert len(models.DEFAULT_MODEL_SHA256) == 64 and models.DEFAULT_MODEL_SIZE_BYTES > 40_000_000


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    tty = FakeTerminal()
    bar = ProgressReporter(tty, label="downloading")
    for done in (0, 500_000, 1_000_000):
        bar(done, 1_000_000)
    bar.close()
    frames = tty.getvalue().split("\r")[1:]
    assert frames[-1] == "downloading [##############################] 100% 1.0 MB of 1.0 MB\n"
    assert "[###############---------------]  50%" in frames[1]
    pipe = io.StringIO()
    caplog.set_level(logging.INFO, logger="voiceskill.cliutil")
    quiet = ProgressReporter(pipe, label="downloading")
    for done in range(0, 1_000_001, 100_000):
        quiet(done, 1_000_000)
    quiet.close()
    assert pipe.getvalue() == ""
    assert [r.getMessage() for r in caplog.records] == ["downloading: 0.0 MB of 1.0 MB", "downloading: 1.0 MB of 1.0 MB"]


# --- CLI ----------------------------------------------------------------------------------------

def test_cli_install_list_path(tmp_path: Path, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aar = make_aar(make_model(tmp_path / "src"), tmp_path / "vosk-model-en-0.3.45.aar")
    assert cli.main(["model", "install", str(aar)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("installed vosk-model-en-0.3.45 at ") and str(isolated) in out
    assert cli.main(["model", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated / "vosk-model-en-0.3.45")
    make_model(Path("models") / "local-model")
    assert cli.main(["model", "list", "--verify"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* local-model") and "complete (no manifest" in lines[0]
    assert lines[1].startswith("  vosk-model-en-0.3.45") and "verified" in lines[1]


def test_cli_errors_are_one_line(tmp_path: Path, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["model", "path"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voiceskill: error: no speech model found") and err.count("\n") == 1
    assert cli.main(["model", "list"]) == 1
    assert "no speech models installed" in capsys.readouterr().out
    assert cli.main(["model", "install", str(tmp_path / "nope.zip")]) == 1
    assert capsys.readouterr().err.startswith("voiceskill: error: ")
    broken = make_model(isolated / "broken")
    (broken / "am" / "final.mdl").write_bytes(b"x")
    assert cli.main(["model", "path", "--model", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "am/final.mdl is truncated" in err and err.count("\n") == 1
    assert cli.main(["model", "list"]) == 1
    assert "INCOMPLETE: am/final.mdl is truncated" in capsys.readouterr().out


def test_cli_download(tmp_path: Path, isolated: Path, server: tuple[str, bytes],
                      capsys: pytest.CaptureFixture[str]) -> None:
    base, payload = server
    sha = hashlib.sha256(payload).hexdigest()
    assert cli.main(["model", "download", "--url", f"{base}/model.zip", "--sha256", sha]) == 0
    assert capsys.readouterr().out.startswith("installed vosk-model-served-1.0 at ")
    dest = tmp_path / "elsewhere"
    assert cli.main(["model", "download", "--url", f"{base}/cut.zip", "--sha256", sha, "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voiceskill: error: download of ") and "voiceskill model install FILE" in err
    assert leftovers(dest) == []


# --- the real model -----------------------------------------------------------------------------

def real_aar() -> Path | None:
    candidates = [os.environ.get("VOICESKILL_TEST_AAR", ""),
                  str(Path.home() / ".m2/repository/com/alphacephei/vosk-model-en" / REAL_AAR_VERSION
                      / f"vosk-model-en-{REAL_AAR_VERSION}.aar")]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.model
@pytest.mark.slow
def test_install_real_aar_and_vosk_loads_it(tmp_path: Path) -> None:
    aar = real_aar()
    require(aar, "the Vosk model AAR (scripts/fetch-model.sh, or set VOICESKILL_TEST_AAR)")
    assert aar is not None
    installed = install_model(aar, dest_dir=tmp_path)
    assert installed.name == f"vosk-model-en-{REAL_AAR_VERSION}"
    verify_model_dir(installed)
    assert (installed / "graph" / "HCLr.fst").is_file() and (installed / "graph" / "Gr.fst").is_file()
    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(installed))
    recognizer = vosk.KaldiRecognizer(model, 16000, '["hello", "[unk]"]')
    recognizer.AcceptWaveform(bytes(3200))
    assert "text" in recognizer.FinalResult()


@pytest.mark.model
@pytest.mark.slow
def test_fetch_model_script_is_idempotent(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    require(shutil.which("mvn"), "Maven (apt install maven) to fetch the model AAR")
    script = Path(__file__).resolve().parent.parent / "scripts" / "fetch-model.sh"
    env = {**os.environ, "PYTHON": sys.executable, "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop(models.ENV_VAR, None)
    first = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    installed = tmp_path / "data" / "voiceskill" / "models" / f"vosk-model-en-{REAL_AAR_VERSION}"
    assert first.stdout.splitlines() == [f"fetch-model: installed vosk-model-en-{REAL_AAR_VERSION} at "
                                         f"{installed} from {tmp_path / 'cache' / 'voiceskill'}"
                                         f"/vosk-model-en-{REAL_AAR_VERSION}.aar"]
    verify_model_dir(installed)
    again = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "already installed" in again.stdout
    assert again.stdout.count("\n") == 1
