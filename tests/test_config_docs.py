"""Every setting the project defines is documented in docs/configuration.md, with a help
text, and the document names no setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from traitlets import TraitType
from traitlets.config import Configurable

from hopsworks_lab.cli import HopsworksLab
from hopsworks_lab.platform import PlatformConfig
from hopsworks_lab.server.export import ExportGate
from hopsworks_lab.server.tensorboard import TensorBoardManager

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"


def configurables() -> list[type[Configurable]]:
    """The command classes reachable from ``hopsworks-lab``, the classes they configure,
    ``PlatformConfig`` and the lab server's ``TensorBoardManager`` and ``ExportGate``."""
    found: list[type[Configurable]] = []

    def walk(cls: type[Configurable]) -> None:
        if cls in found:
            return
        found.append(cls)
        # on the base Application these are trait descriptors, not values
        classes = getattr(cls, "classes", [])
        for configured in classes if isinstance(classes, list) else []:
            walk(configured)
        subcommands = getattr(cls, "subcommands", {})
        for sub, _help in subcommands.values() if isinstance(subcommands, dict) else []:
            walk(sub)

    walk(HopsworksLab)
    walk(PlatformConfig)
    walk(TensorBoardManager)  # configured through Jupyter's config (the lab server)
    walk(ExportGate)
    return found


def own_settings() -> dict[str, tuple[str, TraitType]]:
    """``ClassName.trait`` -> (trait name, trait), for the config traits defined by
    the project's classes (not those inherited from traitlets' Application)."""
    settings = {}
    for cls in configurables():
        for name, trait in cls.class_traits(config=True).items():
            if trait.this_class.__module__.split(".")[0] == "hopsworks_lab":
                settings[f"{cls.__name__}.{name}"] = (name, trait)
    return settings


SETTINGS = own_settings()


def doc_rows() -> dict[str, str]:
    """Table rows of the document keyed by the setting in their first cell."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`([A-Za-z]+\.[a-z_0-9]+)`\s*\|", line)
        if match:
            rows.setdefault(match.group(1), line)
    return rows


def test_discovery_finds_the_commands() -> None:
    names = {cls.__name__ for cls in configurables()}
    assert {"PlatformConfig", "ServeCommand", "UpCommand", "UserAddCommand"} <= names
    assert "PlatformConfig.lockout_threshold" in SETTINGS
    assert "UpCommand.port" in SETTINGS
    assert not any(s.endswith(".log_level") for s in SETTINGS)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_setting_is_documented(setting: str) -> None:
    name, trait = SETTINGS[setting]
    assert trait.help.strip(), f"{setting} has no help text"
    defined_in = f"{trait.this_class.__name__}.{name}"
    rows = doc_rows()
    for documented in {setting, defined_in}:
        assert documented in rows, f"undocumented setting {documented} in {DOC.name}"
        row = rows[documented]
        assert f"| {type(trait).__name__} |" in row, f"{documented}: type not {row!r}"
        default = trait.default_value
        if isinstance(default, (bool, int)) or (isinstance(default, str) and default):
            assert f"`{default}`" in row, f"{documented}: default {default!r} not in {row!r}"


def test_documented_settings_exist() -> None:
    known_classes = {cls.__name__ for cls in configurables()}
    text = DOC.read_text()
    for cls_name, name in re.findall(r"`(?:--|c\.)?([A-Z][A-Za-z]+)\.([a-z_0-9]+)", text):
        if cls_name in known_classes:
            assert f"{cls_name}.{name}" in SETTINGS, f"{DOC.name} names unknown {cls_name}.{name}"
