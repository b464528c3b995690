"""One settings object (kb/settings.py): defaults, then the KB_* environment, then flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.errors import SettingsError
from kb.settings import ENVIRONMENT
from kb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_then_environment_then_flags():
    assert Settings.load({}) == Settings()
    env = {"KB_DATA_DIR": "/srv/kb", "KB_SESSION_HOURS": "2", "KB_SEARCH_RATE_LIMIT": "off"}
    from_env = Settings.load(env)
    assert from_env.data_dir == Path("/srv/kb")
    assert from_env.session_hours == 2.0
    assert from_env.search_rate_limit == "off"
    assert from_env.corpus_dir == Path("corpus")  # not set: the default
    flagged = Settings.load(env, data_dir=Path("/tmp/kb"), database_url=None)
    assert flagged.data_dir == Path("/tmp/kb")  # the flag wins
    assert flagged.session_hours == 2.0  # a flag not given (None) leaves the environment's


def test_every_field_but_none_can_be_set_in_the_environment():
    assert set(ENVIRONMENT) == set(Settings.__dataclass_fields__)
    names = [variable for variable, _ in ENVIRONMENT.values()]
    assert len(set(names)) == len(names) and all(n.startswith("KB_") for n in names)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KB_SESSION_HOURS", "eight", "KB_SESSION_HOURS must be a number, not 'eight'."),
        ("KB_MAX_UPLOAD_BYTES", "5MB", "KB_MAX_UPLOAD_BYTES must be a whole number, not '5MB'."),
        ("KB_SESSION_COOKIE_SECURE", "maybe", "KB_SESSION_COOKIE_SECURE must be 1 or 0"),
        ("KB_UPLOADS", "workers", "KB_UPLOADS must be server or queue, not 'workers'."),
        ("KB_ORIGINALS", "s3", "KB_ORIGINALS must be folder or database, not 's3'."),
        (
            "KB_INGEST_RUNTIME",
            "cuda",
            "KB_INGEST_RUNTIME must be openvino or onnxruntime, not 'cuda'.",
        ),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(variable, value, says):
    with pytest.raises(SettingsError, match=re.escape(says)):
        Settings.load({variable: value})


@pytest.mark.parametrize(
    ("value", "secure"), [("0", False), ("off", False), ("1", True), ("", None)]
)
def test_yes_no_variables(value, secure):
    assert Settings.load({"KB_SESSION_COOKIE_SECURE": value}).session_cookie_secure is secure


def test_the_command_line_builds_its_settings_from_the_environment_and_its_flags(
    tmp_path, monkeypatch
):
    from kb_cli.main import cli

    seen = {}

    @cli.command(name="show-settings-for-test")
    @__import__("click").pass_obj
    def show(settings):
        seen["settings"] = settings

    try:
        env = {"KB_DATA_DIR": str(tmp_path / "env"), "KB_PUBLIC_URL": "https://e.example.org"}
        result = CliRunner().invoke(cli, ["show-settings-for-test"], env=env)
        assert result.exit_code == 0, result.output
        assert seen["settings"].data_dir == tmp_path / "env"
        assert seen["settings"].public_url == "https://e.example.org"
        flags = ["--data-dir", str(tmp_path / "flag"), "show-settings-for-test"]
        CliRunner().invoke(cli, flags, env=env)
        assert seen["settings"].data_dir == tmp_path / "flag"
        bad = CliRunner().invoke(cli, ["show-settings-for-test"], env={"KB_OCR_MAX_PAGES": "x"})
        assert bad.exit_code == 1
        assert "KB_OCR_MAX_PAGES must be a whole number, not 'x'." in bad.output
        assert "Traceback" not in bad.output
    finally:
        cli.commands.pop("show-settings-for-test")


def test_the_web_app_takes_its_settings_and_never_reads_the_environment(kb, settings, monkeypatch):
    from web import create_app

    monkeypatch.setenv("KB_PUBLIC_URL", "https://from-the-environment.example.org")
    monkeypatch.setenv("KB_SEARCH_RATE_LIMIT", "1/hour")
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    assert app.config["PUBLIC_URL"] == ""
    assert app.config["SEARCH_RATE_LIMIT"] == "60/minute"


# Code that reads a KB_* variable itself, or lets click read one (envvar=...).
_READS_ENVIRONMENT = re.compile(r"""(environ|getenv)[^\n]{0,20}["']KB_|envvar\s*=""")


def test_only_kb_settings_reads_kb_variables():
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("kb", "ingest", "web", "kb_cli", "export")
        for path in (ROOT / package).rglob("*.py")
        if path != ROOT / "kb" / "settings.py" and _READS_ENVIRONMENT.search(path.read_text())
    ]
    assert offenders == []
