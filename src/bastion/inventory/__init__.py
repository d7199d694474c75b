"""The inventory of AI systems and their assets, versioned from system manifests."""

from bastion.inventory._store import (
    AssetRecord,
    AssetVersion,
    ImportResult,
    SystemRecord,
    get_asset,
    get_system,
    import_manifest,
    list_assets,
    list_systems,
)

__all__ = [
    "AssetRecord",
    "AssetVersion",
    "ImportResult",
    "SystemRecord",
    "get_asset",
    "get_system",
    "import_manifest",
    "list_assets",
    "list_systems",
]
