from __future__ import annotations

import pytest

from babelcart.text.pii import PIIMasker, iban_ok, luhn_ok, mask_pii, unmask


@pytest.mark.parametrize(
    ("text", "masked", "counts"),
    [
        ("Mail jan@example.de or call +49 30 901820", "Mail <EMAIL> or call <PHONE>", {"EMAIL": 1, "PHONE": 1}),
        ("请联系我13800138000谢谢，邮箱abc@qq.com", "请联系我<PHONE>谢谢，邮箱<EMAIL>", {"PHONE": 1, "EMAIL": 1}),
        ("Meine IBAN: DE89 3704 0044 0532 0130 00 bitte", "Meine IBAN: <IBAN> bitte", {"IBAN": 1}),
        ("Karte 4111 1111 1111 1111 oder 5500-0000-0000-0004", "Karte <CARD> oder <CARD>", {"CARD": 2}),
        ("server 192.168.1.10 and 2001:db8::1 at 12:30:45", "server <IP> and <IP> at 12:30:45", {"IP": 2}),
        ("お電話は03-1234-5678まで。注文番号 12345678", "お電話は<PHONE>まで。注文番号 12345678", {"PHONE": 1}),
        ("Appelez le 01 42 68 53 00 pour la commande n° 1234567890",
         "Appelez le <PHONE> pour la commande n° 1234567890", {"PHONE": 1}),
        ("Hubungi 0812-3456-7890, pesanan 2023112812345", "Hubungi <PHONE>, pesanan 2023112812345", {"PHONE": 1}),
        ("FR76 3000 6000 0112 3456 7890 189 GB82 WEST 1234 5698 7654 32", "<IBAN> <IBAN>", {"IBAN": 2}),
    ],
)
def test_masks_across_languages(text, masked, counts):
    r = mask_pii(text)
    assert r.text == masked
    assert r.counts == counts
    assert r.mapping is None


@pytest.mark.parametrize(
    "text",
    [
        "Order 123456789 shipped on 2024-03-15, total $1,299.00",
        "Bestellung 4400123456 am 15.03.2024 für 1.299,00 €",
        "ORD-20231128 and SKU 5012345678900, price ¥12800",
        "Invalid card 4111 1111 1111 1112 and bad IBAN DE89 3704 0044 0532 0130 01",
        "version 1.2.3 and time 12:30:45",
    ],
)
def test_does_not_eat_orders_prices_dates_or_invalid_numbers(text):
    r = mask_pii(text)
    assert r.text == text, r.text
    assert r.counts == {}


def test_mapping_numbers_placeholders_and_unmask_restores_exactly():
    text = "a@x.com, b@y.org, again a@x.com; call +1 415 555 2671"
    r = mask_pii(text, keep_mapping=True)
    assert r.text == "<EMAIL_1>, <EMAIL_2>, again <EMAIL_1>; call <PHONE_1>"
    assert r.mapping == {"<EMAIL_1>": "a@x.com", "<EMAIL_2>": "b@y.org", "<PHONE_1>": "+1 415 555 2671"}
    assert unmask(r.text, r.mapping) == text
    assert r.counts == {"EMAIL": 3, "PHONE": 1}


def test_default_region_enables_national_numbers():
    assert PIIMasker(default_region="CN").mask("电话 138 0013 8000").text == "电话 <PHONE>"
    assert mask_pii("Tel. 030 1234567", default_region="DE").text == "Tel. <PHONE>"


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")


def test_types_can_be_restricted_and_unknown_types_fail():
    m = PIIMasker(types=["EMAIL"])
    assert m.mask("a@b.com +49 30 901820").text == "<EMAIL> +49 30 901820"
    with pytest.raises(ValueError, match="unknown PII types"):
        PIIMasker(types=["SSN"])


def test_edge_inputs():
    assert mask_pii("").text == ""
    assert mask_pii("   ").counts == {}
    with pytest.raises(TypeError):
        mask_pii(None)  # type: ignore[arg-type]
    big = "no pii here, just words. " * 40000
    assert mask_pii(big).text == big
