"""Settings from the environment: defaults, parsing, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from supporthub import ConfigurationError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///supporthub.db"
    assert settings.refresh_interval == dt.timedelta(hours=4)
    assert settings.min_refresh_age == dt.timedelta(minutes=15)
    assert settings.scheduler is True
    assert settings.provider_aliases == {}
    assert settings.api_token is None and settings.read_token is None
    assert settings.fetch_processes == "auto"
    assert settings.log_format == "text"


def test_fractions_and_switches() -> None:
    settings = Settings.from_env(
        {
            "SUPPORTHUB_REFRESH_INTERVAL_HOURS": "0.5",
            "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "1.5",
            "SUPPORTHUB_SCHEDULER": "OFF",
            "SUPPORTHUB_PROVIDER_ALIASES": '{"Acme Pay": "Acme Payments"}',
            "SUPPORTHUB_FETCH_PROCESSES": " Off ",
            "SUPPORTHUB_LOG_FORMAT": "JSON",
        }
    )
    assert settings.fetch_processes == "off"
    assert settings.log_format == "json"
    assert settings.refresh_interval == dt.timedelta(minutes=30)
    assert settings.min_refresh_age == dt.timedelta(seconds=90)
    assert settings.scheduler is False
    assert settings.provider_aliases == {"Acme Pay": "Acme Payments"}


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("SUPPORTHUB_REFRESH_INTERVAL_HOURS", "four", "must be a number"),
        ("SUPPORTHUB_REFRESH_INTERVAL_HOURS", "0", "> 0"),
        ("SUPPORTHUB_REFRESH_INTERVAL_HOURS", "nan", "finite"),
        ("SUPPORTHUB_MIN_REFRESH_AGE_MINUTES", "-1", ">= 0"),
        ("SUPPORTHUB_SCHEDULER", "maybe", "'on' or 'off'"),
        ("SUPPORTHUB_PROVIDER_ALIASES", "{nope", "not valid JSON"),
        ("SUPPORTHUB_PROVIDER_ALIASES", '["a"]', "JSON object of strings"),
        ("SUPPORTHUB_PROVIDER_ALIASES", '{"a": 1}', "JSON object of strings"),
        ("SUPPORTHUB_HTTP_ATTEMPTS", "0", ">= 1"),
        ("SUPPORTHUB_LOG_LEVEL", "LOUD", "SUPPORTHUB_LOG_LEVEL"),
        ("SUPPORTHUB_LOG_FORMAT", "xml", "must be 'text' or 'json', got 'xml'"),
        ("SUPPORTHUB_FETCH_PROCESSES", "always", "must be 'auto', 'on' or 'off', got 'always'"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value) and words in str(error.value)


def test_secrets_are_known_and_not_in_repr() -> None:
    settings = Settings.from_env(
        {
            "SUPPORTHUB_API_TOKEN": "api-token-1",
            "SUPPORTHUB_READ_TOKEN": "read-token-2",
            "SUPPORTHUB_DATABASE_URL": "mysql+pymysql://hub:db-pass-3@db:3306/hub",
        }
    )
    assert set(settings.secret_values()) == {"api-token-1", "read-token-2", "db-pass-3"}
    shown = repr(settings)
    assert "api-token-1" not in shown and "read-token-2" not in shown
