"""Every string the pages use is translated into Simplified and Traditional Chinese."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cloudexpo.i18n import LANGUAGES, negotiate, pick
from web.i18n import gettext_for, load_all

ROOT = Path(__file__).resolve().parent.parent


def test_catalogs_compile() -> None:
    load_all()
    assert gettext_for("zh-Hans").gettext("Sign in") == "登录"
    assert gettext_for("zh-Hant").gettext("Sign in") == "登入"
    assert gettext_for("en").gettext("Sign in") == "Sign in"


def test_no_string_lacks_a_translation() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "i18n.py"), "check"], capture_output=True, text=True)
    assert result.returncode == 0, "untranslated strings:\n" + result.stdout


def test_negotiation_prefers_what_the_visitor_asks_for() -> None:
    assert negotiate("zh-TW,zh;q=0.8,en;q=0.5", "en") == "zh-Hant"
    assert negotiate("zh-CN", "en") == "zh-Hans"
    assert negotiate("en-GB,en;q=0.9", "zh-Hans") == "en"
    assert negotiate("fr-FR, de;q=0.5", "zh-Hans") == "zh-Hans"
    assert negotiate("fr;q=0.9, en;q=0.8", "zh-Hans") == "en"
    assert negotiate(None, "zh-Hant") == "zh-Hant"
    assert set(LANGUAGES) == {"zh-Hans", "zh-Hant", "en"}


def test_content_falls_back_and_says_so() -> None:
    values = {"zh-Hans": "新能源汽车", "en": "New-energy vehicles"}
    assert pick(values, "zh-Hant") == ("新能源汽车", "zh-Hans", True)
    assert pick(values, "en") == ("New-energy vehicles", "en", False)
    assert pick({"en": "Only English"}, "zh-Hans").fallback is True
    assert pick({}, "en").text == ""
