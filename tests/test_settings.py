from finsentry.settings import load_settings


def test_env_prefix_and_csv_lists(monkeypatch):
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_URLS", "http://a:1/x, http://b:2/y")
    monkeypatch.setenv("FINSENTRY_TOPIC", "news,more")
    monkeypatch.setenv("FINSENTRY_LANGUAGE_MODELS", '{"en": "shipped", "pl": "/m/pl"}')
    s = load_settings(group="g1", store_url=None)
    assert s.alert_webhook_urls == ["http://a:1/x", "http://b:2/y"]
    assert s.topic == ["news", "more"]
    assert s.group == "g1"
    assert s.language_models["pl"] == "/m/pl"
    assert s.store_url.startswith("sqlite:///")


def test_secret_not_in_repr(monkeypatch):
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_SECRET", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s)
    assert s.alert_webhook_secret.get_secret_value() == "hunter2"
