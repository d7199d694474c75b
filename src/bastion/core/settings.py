"""Settings from ``BASTION_*`` environment variables and an optional ``bastion.toml``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BASTION_", toml_file="bastion.toml", extra="ignore"
    )

    home: Path = Field(default=Path(".bastion"), description="State directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in the home directory"
    )
    redis_url: str | None = None
    ledger_origin: str = Field(default="bastion.local/ledger", max_length=200)
    max_manifest_bytes: int = 2 * 1024 * 1024
    session_secret: str | None = None
    check_roots: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        description=(
            "Directories under which an API caller's check parameters may name files "
            "(BASTION_CHECK_ROOTS, os.pathsep-separated); none by default, so remote path "
            "parameters are refused until an operator configures a root"
        ),
    )

    trust_anchors: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        description=(
            "Directories of operator-approved trust anchors (public keys, CA certificates, "
            "Sigstore trust roots) that an API caller's signature and provenance checks may "
            "name (BASTION_TRUST_ANCHORS, os.pathsep-separated); none by default. Never "
            "inside the Bastion home: copy the public CA certificate out"
        ),
    )

    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("localhost", "127.0.0.1", "::1"),
        description=(
            "Host names the console answers to (BASTION_ALLOWED_HOSTS, comma-separated); "
            "a console request with any other Host header is refused, and a form post must "
            "come from one of them (CSRF)"
        ),
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(str(h).strip().lower().strip("[]") for h in value if str(h).strip())
        return value

    @field_validator("check_roots", "trust_anchors", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(p) for p in value.split(os.pathsep) if p.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then ``BASTION_*`` variables, then ``bastion.toml``."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'bastion.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
