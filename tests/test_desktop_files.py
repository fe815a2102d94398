"""The desktop files shipped in metagui/desktop/ are well formed and agree with each other."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from metagui.app.about import DESKTOP_FILES

NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def test_desktop_entry_mime_type_and_icon_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(DESKTOP_FILES / "metagui.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"] == "metagui %f"  # the console script; %f: one session file
    assert desktop["Icon"] == "metagui"
    assert desktop["Categories"].endswith(";") and desktop["MimeType"].endswith(";")

    (mime,) = ET.parse(DESKTOP_FILES / "metagui-session.xml").getroot()
    assert desktop["MimeType"] == f"{mime.get('type')};"
    assert mime.find(f"{NS}glob").get("pattern") == "*.metagui"

    ET.parse(DESKTOP_FILES / "metagui.svg")  # well-formed XML
    with Image.open(DESKTOP_FILES / "metagui.png") as png:
        assert png.size == (256, 256)
    assert Path(DESKTOP_FILES).parent.name == "metagui"
