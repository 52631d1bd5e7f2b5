"""Configuration: defaults < TOML file < command-line flags.

The file is ``<user config dir>/fastaw/config.toml`` (``config-testing.toml`` with
``--testing``) unless ``--config FILE`` names another. Keys (all optional)::

    host = "127.0.0.1"          # address to bind; the Host-header check is on for loopback
    port = 5600                 # 5666 in testing mode
    data_dir = "…"              # where the LMDB store lives
    workers = 1                 # Granian worker processes
    webui = "/path/to/aw-webui/dist"   # the dashboard, served at / (needs index.html)
    cors = ["http://example:1234"]          # extra exact origins
    cors_regex = ["chrome-extension://.*"]  # extra origin regexes (anchored)
    require_force_delete = false            # refuse DELETE bucket without ?force=1
    query_workers = 2           # query worker processes
    query_timeout = 30.0        # seconds before a query is stopped
    query_cache_mb = 1000       # MB a query process keeps between queries (answers, windows)
    query_threads = 0           # statements of a query run at once (0: one per core, ≤ 4)
    query_idle_release = 600.0  # seconds idle before a query process stops (0: never)
    map_size_gib = 1024         # address space reserved for the store (sparse)
    durability = "full"         # "full": fsync before answering a write; "process": no
                                # fsync (survives a fastaw crash, not a power loss)

    [auth]
    api_key = "…"               # require "Authorization: Bearer …" on /api/

    [custom_static]
    name = "/path"              # served at /pages/<name>/ (a missing directory: 404)

When fastaw's own file sets no ``api_key``, the one in aw-server-rust's config file is used
(aw-client sends that key), so existing setups keep working.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import platformdirs

APP_NAME: Final = "fastaw"
DEFAULT_PORT: Final = 5600
TESTING_PORT: Final = 5666
ENV_VAR: Final = "FASTAW_CONFIG_JSON"


class ConfigError(Exception):
    """The configuration file or a flag is invalid (reported on one line by the CLI)."""


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """Every setting of a running server."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    testing: bool = False
    data_dir: str = ""
    workers: int = 1
    webui: str | None = None
    cors: list[str] = msgspec.field(default_factory=list)
    cors_regex: list[str] = msgspec.field(default_factory=list)
    api_key: str | None = None
    require_force_delete: bool = False
    query_workers: int = 2
    query_timeout: float = 30.0
    query_cache_mb: int = 1000
    query_threads: int = 0
    query_idle_release: float = 600.0
    map_size_gib: int = 1024
    durability: Literal["full", "process"] = "full"
    custom_static: dict[str, str] = msgspec.field(default_factory=dict)
    config_file: str | None = None

    @property
    def durable(self) -> bool:
        return self.durability == "full"

    @property
    def map_size(self) -> int:
        return self.map_size_gib << 30


class _FileAuth(msgspec.Struct):
    api_key: str | None = None


class _FileConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str | None = None
    address: str | None = None  # aw-server-rust's name for host
    port: int | None = None
    data_dir: str | None = None
    workers: int | None = None
    webui: str | None = None
    cors: list[str] | None = None
    cors_regex: list[str] | None = None
    require_force_delete: bool | None = None
    query_workers: int | None = None
    query_timeout: float | None = None
    query_cache_mb: int | None = None
    query_threads: int | None = None
    query_idle_release: float | None = None
    map_size_gib: int | None = None
    durability: Literal["full", "process"] | None = None
    auth: _FileAuth | None = None
    custom_static: dict[str, str] | None = None


def default_config_file(testing: bool) -> Path:
    name = "config-testing.toml" if testing else "config.toml"
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / name


def default_data_dir(testing: bool) -> Path:
    base = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return base / "testing" if testing else base


def aw_server_rust_config_file(testing: bool) -> Path:
    name = "config-testing.toml" if testing else "config.toml"
    return Path(platformdirs.user_config_dir("activitywatch", appauthor=False)) / "aw-server-rust" / name


def aw_server_rust_device_id_file() -> Path:
    return Path(platformdirs.user_data_dir("activitywatch", appauthor=False)) / "aw-server-rust" / "device_id"


def _read_file(path: Path) -> _FileConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return msgspec.convert(raw, _FileConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def _rust_api_key(testing: bool) -> str | None:
    path = aw_server_rust_config_file(testing)
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    auth = raw.get("auth")
    key = auth.get("api_key") if isinstance(auth, dict) else None
    return key if isinstance(key, str) and key else None


def _webui_dir(value: str) -> Path:
    """The dashboard directory as an absolute path; it must hold an ``index.html``."""
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        raise ConfigError(f"webui directory {path} does not exist")
    if not (path / "index.html").is_file():
        raise ConfigError(
            f"webui directory {path} has no index.html (point it at a built aw-webui,"
            " e.g. aw-webui/dist)"
        )
    return path


def load(flags: dict[str, Any]) -> Config:
    """Build the Config from defaults, the config file and flags (``None`` = not given)."""
    testing = bool(flags.get("testing"))
    explicit = flags.get("config_file")
    path = Path(explicit) if explicit else default_config_file(testing)
    if explicit and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    file = _read_file(path) if path.is_file() else _FileConfig()

    values: dict[str, Any] = {"testing": testing, "port": TESTING_PORT if testing else DEFAULT_PORT}
    for name in ("port", "data_dir", "workers", "webui", "cors", "cors_regex",
                 "require_force_delete", "query_workers", "query_timeout", "query_cache_mb",
                 "query_threads", "query_idle_release", "map_size_gib",
                 "durability", "custom_static"):
        value = getattr(file, name)
        if value is not None:
            values[name] = value
    if file.host or file.address:
        values["host"] = file.host or file.address
    api_key = file.auth.api_key if file.auth else None
    values["api_key"] = api_key if api_key is not None else _rust_api_key(testing)
    for name, value in flags.items():
        if value is not None and name != "config_file":
            values[name] = value
    if not values.get("data_dir"):
        values["data_dir"] = str(default_data_dir(testing))
    values["config_file"] = str(path) if path.is_file() else None
    if values.get("api_key") == "":
        values["api_key"] = None
    if values.get("webui"):
        values["webui"] = str(_webui_dir(values["webui"]))
    if values.get("custom_static"):
        values["custom_static"] = {
            name: str(Path(directory).expanduser().absolute())
            for name, directory in values["custom_static"].items()
        }
    try:
        config = msgspec.convert(values, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    if not 0 < config.port < 65536:
        raise ConfigError(f"port {config.port} is out of range")
    if config.workers < 1:
        raise ConfigError("workers must be at least 1")
    if config.query_cache_mb < 0:
        raise ConfigError("query_cache_mb must be 0 or more")
    if config.query_threads < 0:
        raise ConfigError("query_threads must be 0 or more")
    if not config.query_idle_release >= 0:  # (NaN too)
        raise ConfigError("query_idle_release must be 0 or more seconds")
    return config


def to_env(config: Config) -> str:
    """The config as JSON, for handing it to Granian worker processes."""
    return msgspec.json.encode(config).decode()


def from_env(text: str) -> Config:
    return msgspec.json.decode(text, type=Config)
