"""The plug-in system: discovery, registration rules, hooks the core uses itself."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pluggy
import pytest
import supporthub_fakecrm

import supporthub
from supporthub import Adapter, KeyRule, PluginError, Setting, hookimpl
from supporthub.ingest.plugins import (
    collect_adapters,
    collect_key_pipeline,
    list_plugins,
    source_config,
)


def plugin(**hooks: Any) -> Any:
    """An in-test plug-in object with the given hook implementations."""
    namespace = type(
        "InTestPlugin", (), {name: staticmethod(hookimpl(fn)) for name, fn in hooks.items()}
    )
    return namespace()


@pytest.fixture
def manager() -> pluggy.PluginManager:
    return supporthub.make_plugin_manager(entry_points=False)


def test_the_core_registers_its_default_rule_through_its_own_hook(manager) -> None:
    pipeline = collect_key_pipeline(manager, supporthub.Settings())
    assert [rule.name for rule in pipeline.rules] == ["default"]
    aliased = collect_key_pipeline(manager, supporthub.Settings(provider_aliases={"a": "b"}))
    assert [rule.name for rule in aliased.rules] == ["default", "provider-aliases"]


def test_an_adapter_registers_in_process_without_touching_the_core(manager) -> None:
    manager.register(supporthub_fakecrm)
    assert collect_adapters(manager) == {"fake": supporthub_fakecrm.FakeAdapter}


def test_duplicate_names_are_refused(manager) -> None:
    class Twin(supporthub_fakecrm.FakeAdapter):
        pass

    manager.register(supporthub_fakecrm)
    manager.register(plugin(register_adapters=lambda register: register(Twin)))
    with pytest.raises(PluginError, match="two adapters are named 'fake'"):
        collect_adapters(manager)


@pytest.mark.parametrize(
    ("thing", "words"),
    [
        (object, "not an Adapter subclass"),
        ("banana", "not an Adapter subclass"),
        (
            type("NoName", (Adapter,), {"title": "x", "fetch": lambda self, c: iter(())}),
            "name must match",
        ),
        (
            type(
                "Bad",
                (Adapter,),
                {"name": "Bad Name", "title": "x", "fetch": lambda s, c: iter(())},
            ),
            "name must match",
        ),
        (
            type(
                "NoUrl",
                (Adapter,),
                {
                    "name": "nourl",
                    "title": "x",
                    "settings": (Setting("key"),),
                    "fetch": lambda s, c: iter(()),
                },
            ),
            "include 'url'",
        ),
    ],
)
def test_wrong_adapters_are_refused_in_words(manager, thing: Any, words: str) -> None:
    manager.register(plugin(register_adapters=lambda register: register(thing)))
    with pytest.raises(PluginError, match=words):
        collect_adapters(manager)


def test_key_rules_must_be_rule_instances(manager) -> None:
    manager.register(plugin(register_key_rules=lambda register: register("not a rule")))
    with pytest.raises(PluginError, match="not a KeyRule instance"):
        collect_key_pipeline(manager, supporthub.Settings())


def test_a_plugin_rule_runs_after_the_default(manager) -> None:
    class Upper(KeyRule):
        name = "upper"

        def apply(self, case, key):
            return supporthub.AggregationKey(
                (key.provider_key or "").upper() or None, key.error_code_key
            )

    manager.register(plugin(register_key_rules=lambda register: register(Upper())))
    pipeline = collect_key_pipeline(manager, supporthub.Settings())
    assert [rule.name for rule in pipeline.rules] == ["default", "upper"]


def test_a_misspelled_hook_fails_at_start_up() -> None:
    class Typo:
        @hookimpl
        def register_adapter(self, register):  # the hook is register_adapters
            pass

    manager = supporthub.make_plugin_manager(entry_points=False)
    with pytest.raises(pluggy.PluginValidationError):
        manager.register(Typo())
        manager.check_pending()


def test_refresh_finished_reaches_plugins(make_hub, plugin_manager, fake_crm) -> None:
    reports: list[supporthub.RefreshReport] = []
    plugin_manager.register(
        plugin(refresh_finished=lambda report: reports.append(report))  # noqa: PLW0108, name="listener"
    )
    fake_crm.put("1", provider="Acme")
    report = make_hub().refresh(force=True)
    assert reports == [report]
    plugin_manager.unregister(name="listener")


def test_a_failing_refresh_finished_hook_does_not_undo_the_refresh(
    make_hub, plugin_manager, fake_crm
) -> None:
    def explode(report):
        raise RuntimeError("listener bug")

    plugin_manager.register(plugin(refresh_finished=explode), name="bad-listener")
    fake_crm.put("1", provider="Acme")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    assert hub.all().total == 1
    plugin_manager.unregister(name="bad-listener")


def test_settings_come_from_prefixed_variables() -> None:
    env = {"SUPPORTHUB_FAKE_URL": "/tmp/x.json", "SUPPORTHUB_FAKE_TOKEN": " t "}
    config = source_config(supporthub_fakecrm.FakeAdapter, env)
    assert config is not None and config["token"] == "t" and config.missing == ()
    assert source_config(supporthub_fakecrm.FakeAdapter, {"SUPPORTHUB_FAKE_TOKEN": "t"}) is None
    partial = source_config(supporthub_fakecrm.FakeAdapter, {"SUPPORTHUB_FAKE_URL": "/x"})
    assert partial is not None and partial.missing == ("token",)
    with pytest.raises(supporthub.ConfigurationError, match="SUPPORTHUB_FAKE_TOKEN"):
        partial["token"]


def test_installed_plugins_are_found_through_entry_points(installed_fakecrm) -> None:
    code = (
        "import supporthub; from supporthub.ingest.plugins import collect_adapters, list_plugins;"
        "m = supporthub.make_plugin_manager();"
        "print(sorted(collect_adapters(m)));"
        "print([(i.name, i.distribution, i.version, i.hooks)"
        " for i in list_plugins(m) if i.distribution])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=installed_fakecrm,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "'fake'" in out[0]
    assert "('fake', 'supporthub-fakecrm', '0.0.1', ('register_adapters',))" in out[1]
    blocked = dict(installed_fakecrm, SUPPORTHUB_BLOCKED_PLUGINS="fake")
    code_blocked = (
        "import supporthub; from supporthub.ingest.plugins import collect_adapters;"
        "s = supporthub.Settings.from_env();"
        "print(sorted(collect_adapters(supporthub.make_plugin_manager(blocked=s.blocked_plugins))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code_blocked],
        env=blocked,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "fake" not in out


def test_list_plugins_names_the_builtin(manager) -> None:
    infos = list_plugins(manager)
    assert [(i.name, i.distribution) for i in infos] == [("supporthub.ingest.default_plugin", None)]
    assert infos[0].hooks == ("register_key_rules",)
