"""Language identification: script rules, short queries, und cases, batch == single, junk input."""

from __future__ import annotations

import threading

import pytest

from babelcart.text import langid
from babelcart.text.langid import LangGuess, LanguageDetector, normalize_code, script_counts

SMALL_SET = ["en", "de", "fr", "es", "it", "id", "ru", "uk", "ar", "fa", "ur"]


@pytest.fixture(scope="module")
def det() -> LanguageDetector:
    """A detector restricted to a few languages: lingua loads only those models (a few seconds)."""
    return LanguageDetector(languages=SMALL_SET)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("무선 블루투스 이어폰 추천", "ko"),
        ("ワイヤレスイヤホン", "ja"),
        ("今日は雨が降りますか", "ja"),
        ("东京", "zh"),
        ("无线蓝牙耳机", "zh"),
        ("iPhone 15 手机壳 透明", "zh"),
        ("หูฟังไร้สาย", "th"),
        ("ασύρματα ακουστικά", "el"),
        ("אוזניות אלחוטיות", "he"),
        ("वायरलेस हेडफ़ोन", "hi"),
        ("ওয়্যারলেস হেডফোন", "bn"),
        ("უკაბელო ყურსასმენები", "ka"),
    ],
)
def test_script_rules_decide_unambiguous_scripts(det: LanguageDetector, text: str, lang: str) -> None:
    g = det.detect(text)
    assert g.lang == lang
    assert g.method == "script"
    assert 0.5 <= g.confidence <= 1.0


def test_script_rules_do_not_load_models() -> None:
    fresh = LanguageDetector(languages=["en", "de"])
    assert fresh.detect("무선 이어폰").lang == "ko"
    assert fresh.detect("ワイヤレス").lang == "ja"
    assert not fresh.fasttext.loaded and not fresh.lingua.loaded()  # nothing loaded for script-only decisions


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("red dress", "en"),
        ("wireless earbuds", "en"),
        ("Handyhülle", "de"),
        ("rotes Kleid", "de"),
        ("sac à main", "fr"),
        ("chaussures femme", "fr"),
        ("zapatos rojos", "es"),
        ("scarpe da donna", "it"),
        ("sepatu wanita", "id"),
        ("Привіт, як справи?", "uk"),
        ("Привет, как дела?", "ru"),
        ("هل ستمطر اليوم ؟", "ar"),
        ("این خیلی خوب است", "fa"),
        ("یہ بہت اچھا ہے", "ur"),
    ],
)
def test_short_queries(det: LanguageDetector, text: str, lang: str) -> None:
    g = det.detect(text)
    assert g.lang == lang, g
    assert 0.0 < g.confidence <= 1.0


def test_long_texts_take_the_fast_path(det: LanguageDetector) -> None:
    text = ("I bought this dress for my sister's wedding and it fit perfectly, the fabric is soft "
            "and the colour is exactly like the pictures. Shipping was fast too.")
    g = det.detect(text)
    assert g == LangGuess("en", g.confidence, "fasttext")
    assert g.confidence > 0.8
    de = det.detect("Das Kleid passt sehr gut und der Stoff ist weich, die Lieferung kam schnell an.")
    assert de.lang == "de" and de.method == "fasttext"


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "12345", "!!! ??? ...", "€ 19,99 - 50%", "🙂🙂🙂", "\x00\x00", "https://example.com/x?y=1",
     "user@example.com"],
)
def test_und_for_nothing_to_detect(det: LanguageDetector, text: str) -> None:
    g = det.detect(text)
    assert g.lang == "und"
    assert g.confidence == 0.0


@pytest.mark.parametrize(
    "junk",
    [
        "\ud800\udfff abc \udc80",  # lone surrogates
        "na\x00me\x00 of the product in english please",
        bytes(range(256)).decode("latin-1"),
        "\ufffd" * 50,
        "a" * 1_000_000,
        "The quick brown fox jumps over the lazy dog. " * 25_000,  # ~1 MB of text
        None,
        b"\xff\xfe\x00bytes in disguise",
        12345,
    ],
)
def test_junk_never_raises(det: LanguageDetector, junk: object) -> None:
    g = det.detect(junk)  # type: ignore[arg-type]
    assert isinstance(g.lang, str) and g.lang
    assert 0.0 <= g.confidence <= 1.0


def test_huge_text_is_detected_from_its_start(det: LanguageDetector) -> None:
    g = det.detect("Die Lieferung war schnell und die Qualität ist sehr gut. " * 20_000)
    assert g.lang == "de"


def test_batch_equals_single(det: LanguageDetector) -> None:
    texts = ["red dress", "", "무선 이어폰", "zapatos rojos", "Привет, как дела?", "12", "sac à main",
             "Das Kleid passt sehr gut und der Stoff ist weich, die Lieferung kam schnell an."]
    assert det.detect_batch(texts) == [det.detect(t) for t in texts]
    assert det.detect_batch([]) == []


def test_restricted_languages_limit_the_answers() -> None:
    d = LanguageDetector(languages=["en", "de"])
    for text in ["zapatos rojos para mujer", "chaussures femme", "scarpe da donna", "sepatu wanita"]:
        assert d.detect(text).lang in {"en", "de"}
    # a language with its own script is still recognised
    assert d.detect("หูฟังไร้สาย").lang == "th"


@pytest.mark.slow
def test_default_set_names_languages_beyond_the_core_markets() -> None:
    """Review sentences in languages outside CORE_LANGUAGES: the core set forces them into a neighbour
    (Catalan -> French, Macedonian -> Serbian, ...); the default set names them."""
    reviews = {
        "ca": "Aquest producte és molt bo i va arribar ràpidament",
        "mk": "Овој производ е многу добар и брзо пристигна",
        "az": "Bu məhsul çox yaxşıdır və tez çatdı",
        "sl": "Ta izdelek je zelo dober in je hitro prispel",
        "sq": "Ky produkt është shumë i mirë dhe arriti shpejt",
        "is": "Þessi vara er mjög góð og kom fljótt",
        "mr": "हे उत्पादन खूप चांगले आहे आणि लवकर पोहोचले",
        "cy": "Mae'r cynnyrch hwn yn dda iawn ac fe gyrhaeddodd yn gyflym",
    }
    default = LanguageDetector()
    wide = [g.lang for g in default.detect_batch(list(reviews.values()))]
    core = [g.lang for g in LanguageDetector(languages=langid.CORE_LANGUAGES).detect_batch(list(reviews.values()))]
    assert wide == list(reviews)
    assert not set(core) & set(reviews)
    # a two-word Hindi query stays Hindi: near ties on short texts go to the core markets (not Marathi)
    assert default.detect("नमस्ते दुनिया").lang == "hi"


def test_languages_validation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LanguageDetector(languages=[])
    d = LanguageDetector(languages=["EN", "nb", "zh-CN"])
    assert d.languages == ("en", "no", "zh")


def test_normalize_code() -> None:
    assert normalize_code("__label__zh") == "zh"
    assert normalize_code("NB") == "no"
    assert normalize_code("pt_BR") == "pt"


def test_script_counts() -> None:
    c = script_counts("iPhone 手机壳 ケース 케이스 Привет")
    assert c["latin"] == 6 and c["han"] == 3 and c["kana"] == 3 and c["hangul"] == 3 and c["cyrillic"] == 6


def test_thread_safe_lazy_load() -> None:
    d = LanguageDetector(languages=["en", "fr"])
    results: list[LangGuess] = []
    lock = threading.Lock()

    def work() -> None:
        g = d.detect("the red dress is beautiful")
        with lock:
            results.append(g)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert results[0].lang == "en"


@pytest.mark.slow
def test_module_level_default_detector() -> None:
    assert langid.detect("wireless earbuds with charging case").lang == "en"
    assert langid.default_detector() is langid.default_detector()
    out = langid.detect_batch(["Tas ini bagus sekali dan pengirimannya cepat", "무선 이어폰", ""])
    assert [g.lang for g in out] == ["id", "ko", "und"]
    # Serbian in Latin script (lingua only knows Cyrillic Serbian; fastText decides)
    assert langid.detect("Da li će da pada kiša danas?").lang == "sr"
    assert langid.detect("Бүгін жаңбыр жауады ма?").lang == "kk"


def test_modes() -> None:
    with pytest.raises(ValueError, match="mode"):
        LanguageDetector(mode="turbo")
    fast = LanguageDetector(languages=SMALL_SET, mode="fast")
    text = "Das Kleid passt sehr gut und der Stoff ist weich, die Lieferung kam schnell an."
    g = fast.detect(text)
    assert g.lang == "de" and g.method == "fasttext"
    assert fast.detect("zapatos rojos").lang == "es"


def test_prior_can_be_turned_off(det: LanguageDetector) -> None:
    plain = LanguageDetector(languages=SMALL_SET, prior={})
    assert plain.prior == {}
    assert det.prior.get("en", 1.0) > 1.0
    # with no evidence either way, the default prior reads a bare English word as English
    assert det.detect("cute").lang == "en"


def test_bcs_cluster_uses_reflex_markers() -> None:
    d = LanguageDetector(languages=["sr", "hr", "bs", "sl", "en"])
    assert d.detect("Gde mogu da kupim jeftine cipele?").lang == "sr"
    assert d.detect("Gdje mogu kupiti jeftine cipele, koja je cijena?").lang in {"hr", "bs"}


def test_a_left_out_standard_form_gives_its_score_to_its_relative() -> None:
    # fastText splits this Indonesian review between en, id and ms; a detector without Malay must not lose the
    # Malay share (it would read English); it goes to Indonesian
    from babelcart.text.langid import DEFAULT_LANGUAGES

    no_malay = LanguageDetector(languages=[lg for lg in DEFAULT_LANGUAGES if lg != "ms"])
    assert no_malay.detect("Paket gepeng gosend gak bener Pelayanan kurang bertanggung jawab done.").lang == "id"
