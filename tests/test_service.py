"""The systemd unit: its text, `systemd-analyze verify`, install/uninstall with a recording runner."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import require
from voiceskill import cli, service
from voiceskill.service import UnitSpec, render_unit


class FakeSystemctl:
    """Records every command; answers with the given return code (per verb)."""

    def __init__(self, codes: dict[str, int] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.codes = codes or {}

    def __call__(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(cmd))
        verb = next(a for a in cmd[1:] if not a.startswith("--"))
        code = self.codes.get(verb, 0)
        return subprocess.CompletedProcess(list(cmd), code, stdout=f"{verb} output\n",
                                           stderr="Failed to do it: Access denied\n" if code else "")


def ordinary_account() -> str:
    """An existing non-root account other than nobody (systemd-analyze warns about those)."""
    for entry in pwd.getpwall():
        if entry.pw_uid not in (0, 65534) and entry.pw_name != "nobody":
            return entry.pw_name
    return ""


def system_spec(exec_path: Path, **kw: object) -> UnitSpec:
    base: dict[str, object] = dict(exec_path=exec_path, run_as="pi", groups=("audio", "input"),
                                   writable=service.writable_dirs(Path("/home/pi")),
                                   runtime_dir=Path("/run/user/1000"))
    base.update(kw)
    return UnitSpec(**base)  # type: ignore[arg-type]


def keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out


def test_system_unit_text() -> None:
    text = render_unit(system_spec(Path("/opt/vs/bin/voiceskill"), config=Path("/etc/my coach.toml"),
                                   gpio=True, restart_s=7, stop_timeout_s=20))
    k = keys(text)
    assert k["ExecStart"] == ['/opt/vs/bin/voiceskill run --config "/etc/my coach.toml"']
    assert k["User"] == ["pi"] and k["SupplementaryGroups"] == ["audio input"]
    assert k["WantedBy"] == ["multi-user.target"]
    assert "sound.target" in k["After"][0]
    assert k["Restart"] == ["on-failure"] and k["RestartSec"] == ["7"] and k["TimeoutStopSec"] == ["20"]
    assert k["KillSignal"] == ["SIGTERM"]
    assert k["StandardOutput"] == ["journal"] and k["StandardError"] == ["journal"]
    assert k["SyslogIdentifier"] == ["voiceskill"]
    for key, value in [("PrivateNetwork", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "read-only"), ("PrivateTmp", "yes"), ("PrivateDevices", "no"),
                       ("CapabilityBoundingSet", ""), ("DevicePolicy", "closed")]:
        assert k[key] == [value], key
    assert k["DeviceAllow"] == ["char-alsa rw", "char-input r", "char-gpiochip rw", "/dev/gpiomem rw"]
    assert k["ReadWritePaths"] == ["-/home/pi/.cache/voiceskill -/home/pi/.local/share/voiceskill"]
    assert "Environment=XDG_RUNTIME_DIR=/run/user/1000" in text
    assert "AF_INET" not in k["RestrictAddressFamilies"][0]


def test_user_unit_text_and_refusals() -> None:
    k = keys(render_unit(UnitSpec(exec_path=Path("/home/me/.venv/bin/voiceskill"), user_unit=True)))
    assert k["ExecStart"] == ["/home/me/.venv/bin/voiceskill run"]
    assert k["WantedBy"] == ["default.target"]
    assert "pipewire.service" in k["After"][0]
    assert "User" not in k and "DeviceAllow" not in k and "SupplementaryGroups" not in k
    assert k["NoNewPrivileges"] == ["yes"] and k["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK"]
    assert "char-gpiochip" not in render_unit(system_spec(Path("/x/voiceskill")))
    with pytest.raises(ValueError, match="not root"):
        render_unit(system_spec(Path("/x/voiceskill"), run_as="root"))
    with pytest.raises(ValueError, match="absolute"):
        render_unit(system_spec(Path("voiceskill")))


def test_exec_start_quoting() -> None:
    text = render_unit(system_spec(Path("/opt/my venv/bin/voiceskill"), config=Path("/c/100%.toml")))
    assert keys(text)["ExecStart"] == ['"/opt/my venv/bin/voiceskill" run --config /c/100%%.toml']


@pytest.mark.parametrize("user_unit", [False, True])
def test_systemd_analyze_verify(tmp_path: Path, user_unit: bool) -> None:
    require(shutil.which("systemd-analyze"), "systemd-analyze (sudo apt install systemd)")
    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    # ExecStart must exist and be executable: use the running Python as the stand-in script.
    spec = system_spec(Path(sys.executable), run_as=account, gpio=True, config=tmp_path / "c.toml",
                       user_unit=user_unit, groups=service.existing_groups())
    unit = tmp_path / "voiceskill.service"
    unit.write_text(render_unit(spec))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if "voiceskill.service" in line]
    assert complaints == [], done.stderr
    # The check is real: a misspelt key is reported.
    unit.write_text(render_unit(spec).replace("KillSignal=", "KillSignl="))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert "KillSignl" in done.stderr


def test_install_and_uninstall_system_unit(tmp_path: Path) -> None:
    runner = FakeSystemctl()
    spec = system_spec(Path("/opt/vs/bin/voiceskill"))
    path = service.install(spec, tmp_path / "system", runner)
    assert path == tmp_path / "system" / "voiceskill.service"
    assert path.read_text() == render_unit(spec)
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert runner.calls == [["systemctl", "daemon-reload"],
                            ["systemctl", "enable", "--now", "voiceskill.service"]]
    runner.calls.clear()
    assert service.uninstall(False, tmp_path / "system", runner) == path
    assert not path.exists()
    assert runner.calls == [["systemctl", "disable", "--now", "voiceskill.service"],
                            ["systemctl", "daemon-reload"]]
    runner.calls.clear()
    assert service.uninstall(False, tmp_path / "system", runner) is None


def test_install_user_unit_without_start(tmp_path: Path) -> None:
    runner = FakeSystemctl()
    directory = service.unit_dir(True, {"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert directory == tmp_path / "cfg/systemd/user"
    assert service.unit_dir(True, {"HOME": "/home/pi"}) == Path("/home/pi/.config/systemd/user")
    assert service.unit_dir(False, {}) == Path("/etc/systemd/system")
    spec = UnitSpec(exec_path=Path("/x/voiceskill"), user_unit=True)
    service.install(spec, directory, runner, start=False)
    assert runner.calls == [["systemctl", "--user", "daemon-reload"],
                            ["systemctl", "--user", "enable", "voiceskill.service"]]


def test_systemctl_failure_is_one_line(tmp_path: Path) -> None:
    runner = FakeSystemctl({"enable": 1})
    with pytest.raises(service.ServiceError) as e:
        service.install(UnitSpec(exec_path=Path("/x/voiceskill"), user_unit=True), tmp_path, runner)
    assert str(e.value) == ("`systemctl --user enable --now voiceskill.service` failed: Failed to do it: "
                            "Access denied; see `journalctl --user -u voiceskill`")


def test_system_unit_needs_root() -> None:
    with pytest.raises(service.ServiceError) as e:
        service.check_privileges(user_unit=False, euid=1000, action="installing")
    assert str(e.value) == "installing a system unit needs root: use --user or sudo"
    service.check_privileges(user_unit=False, euid=0, action="installing")
    service.check_privileges(user_unit=True, euid=1000, action="installing")


def test_status(tmp_path: Path) -> None:
    active, text = service.status(True, FakeSystemctl())
    assert active and text == "status output"
    active, _ = service.status(False, FakeSystemctl({"is-active": 3, "status": 3}))
    assert not active


def test_console_script_lookup(tmp_path: Path) -> None:
    venv_bin = tmp_path / "bin"
    venv_bin.mkdir()
    script = venv_bin / "voiceskill"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert service.console_script(str(venv_bin / "python3"), which=lambda _: None) == script
    assert service.console_script("/nowhere/python3", which=lambda _: "/usr/bin/voiceskill") == Path("/usr/bin/voiceskill")
    with pytest.raises(service.ServiceError, match="pip install"):
        service.console_script("/nowhere/python3", which=lambda _: None)
    assert service.invoking_user({"SUDO_USER": "pi"}, 0) == "pi"
    assert service.invoking_user({"SUDO_USER": "pi"}, os.getuid() or 1) != "pi" or os.getuid() == 0


def test_cli_print_and_root_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "voiceskill").write_text("#!/bin/sh\n")
    (bindir / "voiceskill").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert cli.main(["service", "install", "--print", "--run-as", account]) == 0
    printed = capsys.readouterr()
    assert 'trigger is "terminal"' in printed.err  # the default trigger needs a terminal: warned
    k = keys(printed.out)
    assert k["User"] == [account]
    assert k["ExecStart"][0].endswith("voiceskill run")
    assert cli.main(["service", "install", "--print", "--run-as", "root"]) == 1
    assert "must not run as root" in capsys.readouterr().err
    assert cli.main(["service", "install", "--print", "--user", "--config", str(tmp_path / "c.toml")]) == 1
    assert "does not exist" in capsys.readouterr().err
    config = tmp_path / "gpio.toml"
    config.write_text('[trigger]\nkind = "gpio"\n')
    assert cli.main(["service", "install", "--print", "--run-as", account, "--config", str(config)]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    k = keys(printed.out)
    assert "char-gpiochip rw" in k["DeviceAllow"] and k["ExecStart"][0].endswith(f"run --config {config}")
    assert cli.main(["service", "install", "--user", "--no-start"]) == 1  # terminal trigger: refused
    assert 'trigger is "terminal"' in capsys.readouterr().err


# -- the Home Assistant server (voiceskill wyoming) -------------------------------------------------


def test_wyoming_unit_differs_from_the_offline_unit_only_in_its_network() -> None:
    offline = keys(render_unit(system_spec(Path("/opt/vs/bin/voiceskill"))))
    loopback = keys(render_unit(system_spec(Path("/opt/vs/bin/voiceskill"), wyoming_uri="tcp://127.0.0.1:10700")))
    assert loopback["ExecStart"] == ["/opt/vs/bin/voiceskill wyoming --uri tcp://127.0.0.1:10700"]
    assert loopback["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK AF_INET AF_INET6"]
    assert loopback["IPAddressDeny"] == ["any"] and loopback["IPAddressAllow"] == ["localhost"]
    assert "PrivateNetwork" not in loopback
    changed = {k for k in set(offline) | set(loopback) if offline.get(k) != loopback.get(k)}
    assert changed == {"ExecStart", "Description", "After", "Wants", "SyslogIdentifier",
                       "RestrictAddressFamilies", "PrivateNetwork", "IPAddressDeny", "IPAddressAllow"}
    assert loopback["SyslogIdentifier"] == ["voiceskill-wyoming"]
    assert system_spec(Path("/x"), wyoming_uri="tcp://127.0.0.1:1").unit_name == "voiceskill-wyoming.service"

    lan = keys(render_unit(system_spec(Path("/x/voiceskill"), wyoming_uri="tcp://0.0.0.0:10700")))
    assert lan["IPAddressAllow"][0].split() == ["localhost", *service.PRIVATE_NETWORKS]
    narrowed = keys(render_unit(system_spec(Path("/x/voiceskill"), wyoming_uri="tcp://0.0.0.0:10700",
                                            ip_allow=("localhost", "192.168.1.20/32"))))
    assert narrowed["IPAddressAllow"] == ["localhost 192.168.1.20/32"]

    unix = keys(render_unit(system_spec(Path("/x/voiceskill"), wyoming_uri="unix:///run/coach/wy.sock")))
    assert unix["PrivateNetwork"] == ["yes"] and "AF_INET" not in unix["RestrictAddressFamilies"][0]
    assert "-/run/coach" in unix["ReadWritePaths"][0].split()

    user = keys(render_unit(UnitSpec(exec_path=Path("/x/voiceskill"), user_unit=True,
                                     wyoming_uri="tcp://127.0.0.1:10700")))
    assert user["RestrictAddressFamilies"] == ["AF_UNIX AF_NETLINK AF_INET AF_INET6"]
    assert "IPAddressAllow" not in user  # user managers cannot filter addresses


def test_wyoming_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    require(shutil.which("systemd-analyze"), "systemd-analyze (sudo apt install systemd)")
    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    for uri in ("tcp://0.0.0.0:10700", "unix:///run/coach/wy.sock"):
        spec = system_spec(Path(sys.executable), run_as=account, groups=service.existing_groups(),
                           wyoming_uri=uri)
        unit = tmp_path / "voiceskill-wyoming.service"
        unit.write_text(render_unit(spec))
        done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stderr.splitlines() if "voiceskill-wyoming.service" in line] == []


def test_wyoming_unit_install_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeSystemctl()
    spec = system_spec(Path("/opt/vs/bin/voiceskill"), wyoming_uri="tcp://127.0.0.1:10700")
    path = service.install(spec, tmp_path / "system", runner)
    assert path == tmp_path / "system" / "voiceskill-wyoming.service"
    assert runner.calls[-1] == ["systemctl", "enable", "--now", "voiceskill-wyoming.service"]
    assert service.uninstall(False, tmp_path / "system", runner, service.WYOMING_UNIT_NAME) == path

    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "voiceskill").write_text("#!/bin/sh\n")
    (bindir / "voiceskill").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert cli.main(["service", "install", "--print", "--wyoming", "--run-as", account,
                     "--uri", "tcp://0.0.0.0:10700", "--allow", "192.168.1.0/24"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # the terminal trigger does not matter to the server
    k = keys(printed.out)
    assert k["ExecStart"][0].endswith("voiceskill wyoming --uri tcp://0.0.0.0:10700")
    assert k["IPAddressAllow"] == ["localhost 192.168.1.0/24"]
    assert cli.main(["service", "install", "--print", "--wyoming", "--run-as", account, "--allow", "lan"]) == 1
    assert "not an IP address" in capsys.readouterr().err
    assert cli.main(["service", "install", "--print", "--run-as", account, "--uri", "tcp://0.0.0.0:1"]) == 1
    assert "add --wyoming" in capsys.readouterr().err
    assert cli.main(["service", "install", "--print", "--wyoming", "--run-as", account, "--uri", "ftp://x"]) == 1
    assert "tcp://HOST:PORT" in capsys.readouterr().err
# --- issue 10 rows 8 and 9: nothing from outside can add a line to the unit; the user unit is sandboxed

def _voiceskill_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceskill", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    env.pop("VOICESKILL_GENERAL_RECORD_DIR", None)
    return env


@pytest.mark.parametrize("user_unit", [False, True])
def test_cli_refuses_control_characters_in_unit_values(tmp_path: Path, user_unit: bool) -> None:
    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    scope = ["--user"] if user_unit else ["--run-as", account]
    config = tmp_path / "c.toml"
    config.write_text('[general]\nrecord_dir = "/tmp/rec\\nExecStartPre=+/bin/touch /tmp/PWNED"\n'
                      '[trigger]\nkind = "gpio"\n')
    done = _voiceskill_cli("service", "install", "--print", *scope, "--config", str(config),
                           env=_cli_env(tmp_path))
    assert done.returncode == 1, done.stdout
    assert "ExecStartPre" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "control character" in lines[0] and "Traceback" not in done.stderr
    # a newline in the --config path itself
    evil = tmp_path / "x\nExecStartPre=+" / "bin" / "touch PWNED.toml"
    evil.parent.mkdir(parents=True)
    evil.write_text('[trigger]\nkind = "gpio"\n')
    done = _voiceskill_cli("service", "install", "--print", *scope, "--config", str(evil),
                           env=_cli_env(tmp_path))
    assert done.returncode == 1 and "ExecStartPre" not in done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and "control character" in done.stderr


@pytest.mark.parametrize("user_unit", [False, True])
def test_cli_escapes_dollar_percent_quotes_and_verifies(tmp_path: Path, user_unit: bool) -> None:
    require(shutil.which("systemd-analyze"), "systemd-analyze (sudo apt install systemd)")
    account = ordinary_account()
    require(account, "a non-root account on this machine (e.g. `useradd pi`)")
    folder = tmp_path / "a$HOME b%i"
    folder.mkdir()
    config = folder / 'my "coach" \\ 1.toml'
    config.write_text(f'[general]\nrecord_dir = "{tmp_path}/rec %n"\n[trigger]\nkind = "gpio"\n')
    scope = ["--user"] if user_unit else ["--run-as", account]
    done = _voiceskill_cli("service", "install", "--print", *scope, "--config", str(config),
                           env=_cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    k = keys(done.stdout)
    exec_start = k["ExecStart"][0]
    assert exec_start.endswith(f'--config "{str(folder).replace("$", "$$").replace("%", "%%")}'
                               f'/my \\"coach\\" \\\\ 1.toml"')
    assert "a$$HOME b%%i" in exec_start
    assert f"-{tmp_path}/rec\\x20%%n" in k["ReadWritePaths"][0].split()
    unit = tmp_path / "voiceskill.service"
    unit.write_text(done.stdout)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(["systemd-analyze", *(["--user"] if user_unit else []), "verify", str(unit)],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert verify.returncode == 0, verify.stderr
    assert [line for line in verify.stderr.splitlines() if "voiceskill.service" in line
            and "Special user" not in line] == [], verify.stderr


def test_cli_user_unit_is_sandboxed(tmp_path: Path) -> None:
    done = _voiceskill_cli("service", "install", "--print", "--user", env=_cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    k = keys(done.stdout)
    for key, value in [("PrivateUsers", "yes"), ("PrivateNetwork", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "read-only"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("ProtectKernelTunables", "yes"), ("ProtectControlGroups", "yes")]:
        assert k[key] == [value], key
    rw = k["ReadWritePaths"][0].split()
    assert rw[-1] == "-%t" and any(p.endswith("/.cache/voiceskill") for p in rw)
    assert "User" not in k and "DeviceAllow" not in k and "CapabilityBoundingSet" not in k
    # what the README promises is what the units get
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "PrivateUsers=yes" in readme and "ProtectSystem=strict" in readme
