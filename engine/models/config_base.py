"""What every architecture config shares: a frozen dataclass that round-trips through a dict.

A weights file stores ``to_dict()`` as JSON in its metadata; ``from_dict`` reads it back and
names any key it does not know (an old file, a typo in a training config).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

Config = TypeVar("Config", bound="ArchitectureConfig")


class ArchitectureConfig:
    """Base of the dataclass configs (``ResFCN256Config``, ``CompactFCNConfig``)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Config], data: dict[str, Any]) -> Config:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        unknown = set(data) - set(fields)
        if unknown:
            name = cls.__name__.removesuffix("Config")
            raise ValueError(f"unknown {name} config keys: {sorted(unknown)}")
        return cls(**data)
