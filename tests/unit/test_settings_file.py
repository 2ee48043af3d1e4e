"""Server default settings from a JSON or TOML file: valid files load, bad ones say which file and field."""

import json

import pytest

from engine.core.settings import (
    BatchSettings,
    LlmEndpoint,
    Profile,
    SettingsFileError,
    load_server_settings,
    load_settings_file,
    with_defaults,
)
from engine.runners import check_runner


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_file_sets_the_fields_it_names(tmp_path):
    path = write(tmp_path, "s.json", json.dumps({"runner": "command", "command": ["python", "job.py"], "workers": 4}))
    settings = load_settings_file(path)
    assert settings.runner == "command" and settings.command == ["python", "job.py"] and settings.workers == 4
    assert settings.max_attempts == BatchSettings().max_attempts  # the rest keep their built-in defaults


def test_toml_file_is_read_by_its_suffix(tmp_path):
    path = write(tmp_path, "s.toml", 'profile = "fast"\nworkers = 3\n')
    assert load_settings_file(path).profile is Profile.FAST


@pytest.mark.parametrize(("text", "expected"), [
    ('{"workers": 0}', "field workers: Input should be greater than or equal to 1"),
    ('{"wrokers": 2}', "field wrokers: Extra inputs are not permitted"),
    ('{"runner": "command"}', "runner 'command' needs a command"),
    ('{\n  "workers": 2,\n}', "s.json:3: not valid JSON"),
    ('[1, 2]', "expected an object of settings, found list"),
])
def test_a_bad_file_names_the_file_and_what_is_wrong(tmp_path, text, expected):
    path = write(tmp_path, "s.json", text)
    with pytest.raises(SettingsFileError) as info:
        load_settings_file(path)
    assert str(path) in info.value.message and expected in info.value.message


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"llm_model": "caf\xe9"}', "not UTF-8 text (invalid continuation byte at byte 18)"),
    (bytes(range(256)), "not UTF-8 text (invalid start byte at byte 128)"),
    (b'{"llm_model": "gpt\\ud800"}', "a text holds an unpaired surrogate (a \\ud800-style escape without its pair);"
                                   " write the character itself"),
], ids=["latin-1", "binary", "lone-surrogate"])
def test_a_file_that_cannot_be_used_is_refused_when_read(tmp_path, content, expected):
    """Not UTF-8 raised UnicodeDecodeError (a traceback); a lone surrogate was accepted."""
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(SettingsFileError) as info:
        load_settings_file(path)
    assert info.value.message == f"settings file {path}: {expected}"


def test_unknown_runner_is_refused_when_read_naming_the_known_ones(tmp_path):
    """It was accepted, and failed only when the first batch planned with it started."""
    path = write(tmp_path, "s.json", '{"runner": "nope"}')
    with pytest.raises(SettingsFileError) as info:
        load_settings_file(path, check_runner=check_runner)
    assert info.value.message.startswith(f"settings file {path}: field runner: unknown runner 'nope'; known runners: ")
    assert all(name in info.value.message for name in ("command", "harvest", "noop"))


def test_bad_toml_and_a_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(SettingsFileError, match="not valid TOML"):
        load_settings_file(write(tmp_path, "s.toml", "workers = = 2"))
    with pytest.raises(SettingsFileError, match="cannot read it"):
        load_settings_file(tmp_path / "absent.json")


def test_changes_over_defaults_keep_the_defaults_command():
    defaults = BatchSettings(runner="command", command=["job"], corpus="/srv/sources.jsonl")
    settings = with_defaults(defaults, {"runner": "command", "workers": 5})
    assert settings.command == ["job"] and settings.corpus == "/srv/sources.jsonl" and settings.workers == 5
    with pytest.raises(ValueError, match="needs a command"):
        with_defaults(BatchSettings(), {"runner": "command"})


def test_api_allow_lists_what_api_plans_may_choose_besides_the_defaults(tmp_path):
    path = write(tmp_path, "s.json", json.dumps({"workers": 3, "api_allow": {
        "llm_endpoints": [{"base_url": "http://10.0.0.5:11434/v1", "api_key_env": "LOCAL_LLM_KEY"}],
        "commands": [["python3", "job.py"]], "corpora": ["/srv/c/sources.jsonl"]}}))
    server = load_server_settings(path)
    assert server.defaults.workers == 3 and load_settings_file(path) == server.defaults
    assert server.api_allow.commands == [["python3", "job.py"]] and server.api_allow.corpora == ["/srv/c/sources.jsonl"]
    assert server.api_allow.llm_endpoints_with(server.defaults) == [
        LlmEndpoint(base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"),
        LlmEndpoint(base_url="http://10.0.0.5:11434/v1", api_key_env="LOCAL_LLM_KEY")]


@pytest.mark.parametrize(("allow", "expected"), [
    ({"llm_endpoints": [{"base_url": "file:///etc/passwd", "api_key_env": "K"}]}, "field api_allow.llm_endpoints.0.base_url"),
    ({"llm_endpoints": [{"base_url": "http://x/v1", "api_key_env": "NOT A NAME"}]}, "field api_allow.llm_endpoints.0.api_key_env"),
    ({"shells": []}, "field api_allow.shells: Extra inputs are not permitted"),
    ([], "field api_allow: Input should be a valid dictionary"),
])
def test_a_bad_api_allow_names_its_field(tmp_path, allow, expected):
    with pytest.raises(SettingsFileError) as info:
        load_server_settings(write(tmp_path, "s.json", json.dumps({"api_allow": allow})))
    assert expected in info.value.message


def test_the_servers_settings_refuse_a_runner_this_process_lacks(tmp_path):
    """The server's start-up reads its file through engine.service.server_settings, which passes check_runner."""
    from engine.service import server_settings

    with pytest.raises(SettingsFileError, match="field runner") as raised:
        server_settings(write(tmp_path, "s.json", json.dumps({"runner": "no-such-runner"})))
    assert raised.value.field == "runner"
    assert server_settings(None).defaults == BatchSettings()


def test_the_worker_budget_comes_from_the_file_and_a_bad_one_names_its_field(tmp_path):
    good = tmp_path / "budget.json"
    good.write_text(json.dumps({"workers": 3, "max_workers": 12, "max_running_batches": 2}))
    server = load_server_settings(good)
    assert (server.capacity.max_workers, server.capacity.max_running_batches, server.defaults.workers) == (12, 2, 3)
    assert load_server_settings(tmp_path / "budget.json").capacity == server.capacity
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"max_workers": 0}))
    with pytest.raises(SettingsFileError, match=r"bad.json: field max_workers: Input should be greater than or equal to 1"):
        load_server_settings(bad)


def test_the_environment_sets_the_worker_budget_and_a_bad_value_names_the_variable(monkeypatch):
    from engine.core.config import ConfigError, capacity_overrides, load_config

    monkeypatch.setenv("INDEXLAB_MAX_WORKERS", "9")
    assert capacity_overrides(load_config()) == {"max_workers": 9}
    monkeypatch.setenv("INDEXLAB_MAX_RUNNING_BATCHES", "0")
    with pytest.raises(ConfigError, match="INDEXLAB_MAX_RUNNING_BATCHES='0'"):
        load_config()
