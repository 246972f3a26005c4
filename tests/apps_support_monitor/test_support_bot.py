from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from babelcart.apps.support import SupportBot, extract_slots, load_templates

TEMPLATES = {
    "version": 1,
    "intents": {
        "order_status": {
            "examples": ["where is my order", "track my order package", "my order has not arrived"],
            "templates": {"en": ["Order {order_id} is on its way.", "Your order is on its way."],
                          "de": ["Bestellung {order_id} ist unterwegs.", "Ihre Bestellung ist unterwegs."]},
        },
        "refund": {
            "examples": ["I want a refund", "refund my money back", "where is my refund money"],
            "templates": {"en": "Refunds take 5-10 days."},
        },
        "no_template": {"examples": ["gift card balance check", "check my gift card"], "templates": {}},
    },
    "handover": {"en": "A person will answer.", "de": "Ein Mensch antwortet."},
    "faq": [{"question": "do you sell gift cards", "answer": "Yes, from 10 EUR.", "lang": "en"}],
}


@pytest.fixture(scope="module")
def bot(hash_encoder):
    return SupportBot(templates=TEMPLATES, encoder=hash_encoder, threshold=0.3, temperature=0.05,
                      detect_lang=lambda t: type("G", (), {"lang": "en", "confidence": 1.0})())


def test_template_in_customer_language_with_slot(bot):
    a = bot.answer(["where is my order #A12345?"], langs=["de"])[0]
    assert a["intent"] == "order_status"
    assert a["source"] == "template" and a["answer_lang"] == "de"
    assert a["answer"] == "Bestellung A12345 ist unterwegs."
    assert a["handover"] is False


def test_variant_without_missing_slot_and_english_fallback(bot):
    a = bot.answer(["where is my order"], langs=["fr"])[0]
    assert a["source"] == "template_en" and a["answer"] == "Your order is on its way."
    b = bot.answer(["I want a refund of my money"], langs=["de"])[0]
    assert b["intent"] == "refund" and b["source"] == "template_en" and b["answer_lang"] == "en"


def test_given_slots_win_over_extracted(bot):
    a = bot.answer(["where is my order"], langs=["en"], slots=[{"order_id": "X-99"}])[0]
    assert a["answer"] == "Order X-99 is on its way."


def test_intent_without_template_goes_to_faq_or_person(bot):
    a = bot.answer(["do you sell gift cards"], langs=["en"])[0]
    assert a["source"] == "faq" and a["answer"] == "Yes, from 10 EUR."


def test_low_confidence_hands_over(hash_encoder):
    strict = SupportBot(templates=TEMPLATES, encoder=hash_encoder, threshold=0.6, temperature=1.0, faq=[])
    a = strict.answer(["where is my order"], langs=["de"])[0]
    assert a["handover"] is True and a["source"] == "handover"
    assert a["answer"] == "Ein Mensch antwortet."
    e = strict.answer(["   "], langs=["en"])[0]
    assert e["handover"] and e["intent"] is None


def test_bad_inputs(bot):
    assert bot.answer([]) == []
    with pytest.raises(TypeError):
        bot.answer([None])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        bot.answer(["a", "b"], slots=[{}])


def test_extract_slots_multilingual():
    assert extract_slots("Wo ist meine Bestellung Nr. 4711-2024?") == {"order_id": "4711-2024"}
    assert extract_slots("我的订单号 88812345 还没到") == {"order_id": "88812345"}
    assert extract_slots("no number here") == {}


def test_bundled_templates_cover_languages():
    data = load_templates()
    langs = {"en", "de", "fr", "es", "zh", "ja", "id"}
    with_templates = [k for k, v in data["intents"].items() if v["templates"]]
    assert len(with_templates) >= 8
    for name in with_templates:
        assert langs <= set(data["intents"][name]["templates"]), name
        assert data["intents"][name]["examples"]


def test_templates_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_templates(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_templates(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text('{"intents": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="non-empty"):
        load_templates(tmp_path / "empty.json")


@pytest.mark.slow
def test_zero_shot_cross_lingual_with_bundled_file(e5):
    bot = SupportBot(templates=load_templates(), encoder=e5)
    msgs = ["Quiero cancelar mi pedido", "パスワードを忘れました", "Mon colis est arrivé cassé",
            "我的包裹还没到，订单号 88812345"]
    got = bot.answer(msgs)
    assert [a["intent"] for a in got] == ["cancel_order", "account_login", "damaged_item", "order_status"]
    assert [a["lang"] for a in got] == ["es", "ja", "fr", "zh"]
    assert got[3]["source"] == "template" and "88812345" in got[3]["answer"]


def test_support_cli(tmp_path):
    from babelcart.cli import app

    tpl = tmp_path / "t.json"
    tpl.write_text(json.dumps(TEMPLATES), encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["support", "where is my order 1234567", "--templates", str(tpl), "-e", "hash:256",
                              "--threshold", "0.1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["intent"] == "order_status"
    inp = tmp_path / "m.jsonl"
    inp.write_text('{"text": "I want a refund", "lang": "en"}\n{"nope": 1}\n', encoding="utf-8")
    res = runner.invoke(app, ["support", "--input", str(inp), "--templates", str(tpl), "-e", "hash:256",
                              "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["intent"] == "refund" and "answer" in rows[0]
    assert "error" in rows[1]
    assert runner.invoke(app, ["support"]).exit_code != 0


def test_trained_classifier_is_used_when_given(hash_encoder):
    class FakeClassifier:
        labels = ["refund", "order_status"]
        task = "intent"
        encoder_spec = "hash:256"

        def predict(self, texts, langs=None):
            return [{"pred": "refund", "scores": {"refund": 0.9, "order_status": 0.1}} for _ in texts]

    bot = SupportBot(templates=TEMPLATES, encoder=hash_encoder, classifier=FakeClassifier(), threshold=0.5)
    assert bot.classify(["where is my order"])[0][0] == "refund"  # the model decides, not the centroids
    a = bot.answer(["where is my order"], langs=["en"])[0]
    assert a["intent"] == "refund" and a["confidence"] == 0.9 and a["answer"] == "Refunds take 5-10 days."


def test_close_top_two_intents_are_handed_over(hash_encoder):
    kw = {"templates": TEMPLATES, "encoder": hash_encoder, "threshold": 0.0, "temperature": 1.0, "faq": [],
          "detect_lang": lambda t: type("G", (), {"lang": "en", "confidence": 1.0})()}
    loose = SupportBot(**kw).answer(["where is my order #A12345?"])[0]
    ranked = sorted(loose["scores"].values(), reverse=True)
    lead = ranked[0] - ranked[1]
    assert loose["handover"] is False and lead > 0
    strict = SupportBot(**kw, margin=lead + 1e-3).answer(["where is my order #A12345?"])[0]
    assert strict["handover"] is True and strict["source"] == "handover"
    assert SupportBot(**kw, margin=lead - 1e-3).answer(["where is my order #A12345?"])[0]["handover"] is False


BY_LANG = {
    "version": 1,
    "intents": {
        "order_status": {"examples": {"en": ["where is my order", "track my order package", "my order has not arrived"],
                                      "de": ["wo ist meine Bestellung", "Paket verfolgen", "Bestellung nicht angekommen"]},
                         "templates": {"en": "On its way.", "de": "Unterwegs."}},
        "refund": {"examples": {"en": ["I want a refund", "refund my money back", "where is my refund money"],
                                "de": ["ich will mein Geld zurück", "Rückerstattung bitte", "wo bleibt mein Geld"]},
                   "templates": {"en": "Refunds take 5-10 days."}},
        "other": {"examples": {"en": ["what is the weather today", "set an alarm for seven", "tell me a joke"],
                               "de": ["wie wird das Wetter", "stell einen Wecker", "erzähl einen Witz"]}},
    },
    "handover": {"en": "A person will answer."},
}


def test_examples_by_language_match_a_plain_list(hash_encoder):
    flat = json.loads(json.dumps(BY_LANG))
    for spec in flat["intents"].values():
        spec["examples"] = [e for ex in spec["examples"].values() for e in ex]
    by_lang = SupportBot(templates=BY_LANG, encoder=hash_encoder, faq=[])
    plain = SupportBot(templates=flat, encoder=hash_encoder, faq=[])
    assert by_lang.labels_ == plain.labels_ == ["order_status", "refund", "other"]
    assert by_lang.centroids_ is not None and plain.centroids_ is not None
    assert (by_lang.centroids_ == plain.centroids_).all()  # the softmax does not depend on the languages
    assert by_lang.centering_ is not None and sorted(by_lang.centering_.means_) == ["de", "en"]
    assert plain.centering_ is None  # a plain list: one mean for every language


def test_out_of_scope_check_hands_over_and_reports_its_margin(hash_encoder):
    msgs, langs = ["where is my order", "wie wird das Wetter morgen"], ["en", "de"]
    off = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=0.0, faq=[], oos_margin=None)
    on = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=0.0, faq=[], oos_margin=0.0)
    strict = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=0.0, faq=[], oos_margin=5.0)
    a_off, a_on, a_strict = off.answer(msgs, langs=langs), on.answer(msgs, langs=langs), strict.answer(msgs, langs=langs)
    assert a_off[0]["intent"] == "order_status" and not a_off[0]["handover"]
    assert a_on[0]["scope_margin"] > 0 and not a_on[0]["handover"]  # its own examples are nearest
    assert a_strict[0]["handover"] and a_strict[0]["intent"] == "order_status"  # cosines differ by at most 2
    for a in a_on:
        assert a["handover"] == (a["intent"] == "other" or a["scope_margin"] < 0)
        assert a.get("handover_reason") == ("out_of_scope" if a["handover"] else None)
    # no out-of-scope intent: no check, no margin reported
    b = SupportBot(templates=TEMPLATES, encoder=hash_encoder, threshold=0.0, oos_margin=5.0, faq=[])
    got = b.answer(["where is my order"], langs=["en"])[0]
    assert "scope_margin" not in got and not got["handover"]


def test_scope_margin_does_not_depend_on_the_batch(hash_encoder):
    bot = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=0.0, faq=[])
    alone = bot.answer(["wo ist mein Paket"], langs=["de"])[0]
    many = bot.answer(["hola", "wo ist mein Paket"] + ["ciao"] * 6, langs=["es", "de"] + ["it"] * 6)[1]
    assert alone == many
    it_alone = bot.answer(["ciao"], langs=["it"])[0]
    it_many = bot.answer(["ciao"] * 6, langs=["it"] * 6)[0]  # no statistics from the batch for an unknown language
    assert it_alone == it_many


def test_templates_examples_must_be_a_list_or_by_language(tmp_path):
    bad = {"intents": {"x": {"examples": "where is my order", "templates": {}}}}
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match="'examples' must be a list"):
        load_templates(tmp_path / "bad.json")


@pytest.mark.slow
def test_bundled_bot_hands_over_weather_and_alarms_in_any_language(e5):
    bot = SupportBot(templates=load_templates(), encoder=e5)
    off_topic = {"Quel temps fait-il à Paris ?": "fr", "Welche Temperatur hat es in Paris?": "de",
                 "What's the weather like in Paris?": "en", "¿Qué tiempo hace en Madrid?": "es",
                 "Annulla la mia sveglia": "it", "Zet een wekker om zeven uur": "nl"}
    got = bot.answer(list(off_topic), langs=list(off_topic.values()))
    assert [a["handover"] for a in got] == [True] * len(off_topic), [(a["intent"], a.get("scope_margin")) for a in got]
    shop = bot.answer(["Combien de temps prend la livraison ?", "Bitte stornieren Sie meine Bestellung"],
                      langs=["fr", "de"])
    assert [a["intent"] for a in shop] == ["shipping_time", "cancel_order"]
    assert not any(a["handover"] for a in shop)


def test_handover_reasons(hash_encoder):
    bot = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=0.0, faq=[], oos_margin=5.0)
    assert bot.answer(["where is my order"], langs=["en"])[0]["handover_reason"] == "out_of_scope"
    assert bot.answer([" "], langs=["en"])[0]["handover_reason"] == "empty"
    unsure = SupportBot(templates=BY_LANG, encoder=hash_encoder, threshold=1.01, faq=[], oos_margin=None)
    assert unsure.answer(["where is my order"], langs=["en"])[0]["handover_reason"] == "low_confidence"
    no_tpl = SupportBot(templates=TEMPLATES, encoder=hash_encoder, threshold=0.0, faq=[])
    got = no_tpl.answer(["check my gift card balance"], langs=["en"])[0]
    assert got["intent"] == "no_template" and got["handover_reason"] == "no_template"
    assert "handover_reason" not in no_tpl.answer(["where is my order"], langs=["en"])[0]
