"""`chat.settings`: one schema for flags, CHAT_* variables and a TOML file, every value checked.

In process: `Settings.from_args(argv, environ)` with a dict for the environment; a refusal is
argparse's `SystemExit(2)` with one `chat-server: error: ...` line on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from chat.settings import Settings, build_parser, option, version


def refusal(
    capsys: pytest.CaptureFixture[str], argv: list[str], env: dict[str, str] | None = None
) -> str:
    """The error line argparse prints when it refuses `argv` under `env`."""
    with pytest.raises(SystemExit) as exit_:
        Settings.from_args(argv, env or {})
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("chat-server: error: ")]
    assert len(errors) == 1, err
    assert len(err.splitlines()) == 2, err  # a short usage line, then the error
    return errors[0].removeprefix("chat-server: error: ")


def test_defaults_without_flags_variables_or_file() -> None:
    assert Settings.from_args([], {}) == Settings()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "99999"], "--port must be between 0 and 65535 (got 99999)"),
        (["--port", "-1"], "--port must be between 0 and 65535 (got -1)"),
        (["--tls-port", "70000"], "--tls-port must be between 0 and 65535 (got 70000)"),
        (["--stats-port", "65536"], "--stats-port must be between 0 and 65535 (got 65536)"),
        (["--max-line", "10"], "--max-line must be at least 64 (got 10)"),
        (["--max-line", "-5"], "--max-line must be at least 64 (got -5)"),
        (["--msg-rate", "-1"], "--msg-rate must be at least 0 (got -1)"),
        (["--room-create-rate", "-0.5"], "--room-create-rate must be at least 0 (got -0.5)"),
        (["--idle-timeout", "0"], "--idle-timeout must be greater than 0 (got 0)"),
        (["--idle-timeout", "-3"], "--idle-timeout must be greater than 0 (got -3)"),
        (["--idle-timeout", "inf"], "--idle-timeout must be a finite number (got inf)"),
        (["--shutdown-timeout", "nan"], "--shutdown-timeout must be a finite number (got nan)"),
        (["--node-ttl", "0"], "--node-ttl must be greater than 0 (got 0)"),
        (["--stats-timeout", "-1"], "--stats-timeout must be greater than 0 (got -1)"),
        (["--max-clients", "0"], "--max-clients must be at least 1 (got 0)"),
        (["--max-per-ip", "-1"], "--max-per-ip must be at least 0 (got -1)"),
        (["--queue-messages", "0"], "--queue-messages must be at least 1 (got 0)"),
        (["--queue-bytes", "100"], "--queue-bytes must be at least 1024 (got 100)"),
        (["--msg-burst", "0"], "--msg-burst must be at least 1 (got 0)"),
    ],
)
def test_a_flag_out_of_range_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert refusal(capsys, argv) == message


def test_history_db_and_nats_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    msg = refusal(capsys, ["--nats", "nats://127.0.0.1:4222", "--history-db", "h.db"])
    assert msg.startswith("--history-db cannot be used with --nats: a cluster keeps its history")


def test_a_variable_out_of_range_names_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    msg = refusal(capsys, [], {"CHAT_PORT": "99999"})
    assert msg == "CHAT_PORT must be between 0 and 65535 (got 99999)"
    msg = refusal(capsys, [], {"CHAT_IDLE_TIMEOUT": "-1"})
    assert msg == "CHAT_IDLE_TIMEOUT must be greater than 0 (got -1)"
    msg = refusal(capsys, [], {"CHAT_LOG_LEVEL": "loud"})
    assert msg == "CHAT_LOG_LEVEL must be one of debug, info, warning, error (got 'loud')"
    assert (
        refusal(capsys, [], {"CHAT_MAX_LINE": "lots"}) == "CHAT_MAX_LINE='lots' is not a valid int"
    )


def test_a_bad_variable_is_reported_even_when_a_flag_overrides_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The variable is wrong wherever it is set: better said than silently shadowed.
    assert refusal(capsys, ["--port", "7001"], {"CHAT_PORT": "99999"}).startswith("CHAT_PORT")


def test_the_edges_of_each_range_are_accepted() -> None:
    s = Settings.from_args(
        ["--port", "65535", "--max-line", "64", "--msg-rate", "0", "--idle-timeout", "0.01"], {}
    )
    assert (s.port, s.max_line, s.msg_rate, s.idle_timeout) == (65535, 64, 0.0, 0.01)
    assert Settings.from_args(["--port", "0"], {}).port == 0


def test_every_number_has_a_range() -> None:
    for f in fields(Settings):
        if type(f.default) in (int, float):
            bounds = [f.metadata[k] for k in ("lo", "hi", "gt")]
            assert any(b is not None for b in bounds), f"{f.name} has no range"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chat.toml"
    path.write_text(text)
    return str(path)


def test_a_config_file_sets_options_below_variables_and_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'max_line = 8192\nport = 7100\nidle-timeout = 30\nlog_level = "debug"\nplain = false\n',
    )
    s = Settings.from_args(["--config", path], {})
    assert (s.max_line, s.port, s.idle_timeout, s.log_level, s.plain) == (
        8192,
        7100,
        30.0,
        "debug",
        False,
    )
    s = Settings.from_args(["--config", path], {"CHAT_PORT": "7200"})
    assert (s.port, s.max_line) == (7200, 8192)  # the variable wins over the file
    s = Settings.from_args(["--config", path, "--port", "7300"], {"CHAT_PORT": "7200"})
    assert s.port == 7300  # the flag wins over both
    s = Settings.from_args([], {"CHAT_CONFIG": path})
    assert s.port == 7100  # the file named by the variable
    assert s.host == "127.0.0.1"  # what the file does not set keeps its default


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 99999\n", "port must be between 0 and 65535 (got 99999)"),
        ("max_line = 10\n", "max_line must be at least 64 (got 10)"),
        ('max_line = "big"\n', "max_line must be an integer (got 'big')"),
        ("idle_timeout = -1\n", "idle_timeout must be greater than 0 (got -1)"),
        ("idle_timeout = true\n", "idle_timeout must be a number (got True)"),
        ('loop = "fast"\n', "loop must be one of auto, asyncio, uvloop (got 'fast')"),
        ("colour = 1\n", "unknown option 'colour'"),
    ],
)
def test_a_bad_config_file_value_names_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    assert refusal(capsys, ["--config", path]) == f"{path}: {message}"


def test_a_missing_or_broken_config_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.toml")
    assert refusal(capsys, ["--config", missing]).startswith(
        f"cannot read the config file {missing}"
    )
    broken = write(tmp_path, "port = \n")
    assert refusal(capsys, [], {"CHAT_CONFIG": broken}).startswith(f"{broken} is not valid TOML")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        Settings.from_args(["--version"], {})
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"chat-server {version()}"
    assert version()[0].isdigit()


@dataclass(frozen=True)
class Other:
    """Another command's options, as `chat-stats` declares its own."""

    port: int = option(8080, "HTTP port", lo=0, hi=65535)
    stale_after: float = option(3.0, "seconds", gt=0)
    name: str = option("x", "a name", ["x", "y"])


def test_another_command_takes_its_own_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"CHAT_PORT": "7000", "OTHER_PORT": "9090", "OTHER_STALE_AFTER": "1.5"}
    ns = build_parser(Other, "other", env, "other", prefix="OTHER_").parse_args([])
    assert vars(ns) == {"port": 9090, "stale_after": 1.5, "name": "x"}  # CHAT_PORT is not its
    path = write(tmp_path, "port = 9191\n")
    ns = build_parser(Other, "other", {"OTHER_CONFIG": path}, "other", prefix="OTHER_").parse_args(
        []
    )
    assert ns.port == 9191
    with pytest.raises(SystemExit):
        build_parser(Other, "other", {"OTHER_PORT": "-2"}, "other", prefix="OTHER_").parse_args([])
    assert (
        "other: error: OTHER_PORT must be between 0 and 65535 (got -2)" in capsys.readouterr().err
    )


def test_the_old_field_shape_still_works() -> None:
    """`option(default, help, choices)` without a range: no check, as before."""

    @dataclass(frozen=True)
    class Plain:
        level: str = option("info", "log level", ["info", "debug"])
        count: int = option(3, "anything goes")

    ns = build_parser(Plain, "plain", {}, "plain").parse_args(["--count", "-7"])
    assert (ns.level, ns.count) == ("info", -7)
