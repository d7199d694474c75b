"""Settings from ``BASTION_*`` environment variables and an optional ``bastion.toml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
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
