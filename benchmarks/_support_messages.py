"""Hand-written customer messages for the bundled support intents, for ``benchmarks/support_intents.py``.

Source: written for babelcart by its engineers (2026-12) in English, German, French, Spanish, Chinese, Japanese
and Indonesian, the way shoppers write to a shop's support (short, informal, some without punctuation);
independent of the example utterances in ``src/babelcart/apps/support_data/intents.json`` (none is a copy or a
translation of one). Not from a dataset; no licence restrictions. The first message of each (intent,
language) cell is dev, the other two are test.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "order_status": {
        "en": ("any news on my parcel?", "it's been a week and still no delivery", "where's my stuff"),
        "de": ("Wann kommt mein Paket?", "Meine Lieferung ist immer noch nicht da", "Wo bleibt meine Sendung?"),
        "fr": ("Où en est ma commande ?", "Je n'ai toujours pas reçu mon colis", "Quand vais-je recevoir mon colis ?"),
        "es": ("¿Dónde está mi paquete?", "Todavía no me ha llegado el pedido", "¿Cuándo llega mi compra?"),
        "zh": ("我的快递到哪了", "订单一直没收到", "包裹什么时候能到"),
        "ja": ("荷物はいつ届きますか", "注文した商品がまだ届きません", "配送状況を教えてください"),
        "id": ("paket saya sudah sampai mana?", "pesanan saya belum datang juga", "kapan barang saya sampai"),
    },
    "refund": {
        "en": ("still waiting for my refund", "I'd like my money returned", "when is the refund coming"),
        "de": ("Wann bekomme ich mein Geld zurück?", "Ich möchte eine Rückerstattung", "Die Erstattung ist noch nicht da"),
        "fr": ("Je veux être remboursé", "Quand serai-je remboursé ?", "Le remboursement n'est toujours pas arrivé"),
        "es": ("Quiero que me devuelvan el dinero", "¿Cuándo recibiré el reembolso?", "El reembolso aún no llega"),
        "zh": ("我要退款", "退款什么时候到账", "钱还没退回来"),
        "ja": ("返金してください", "返金はいつになりますか", "まだ返金されていません"),
        "id": ("saya mau refund", "kapan dana saya dikembalikan?", "uang saya belum balik"),
    },
    "shipping_time": {
        "en": ("how long until it ships to Canada?", "what's the delivery time to Germany", "do you deliver abroad"),
        "de": ("Wie lange dauert der Versand?", "Liefert ihr auch nach Österreich?", "Wie viele Tage dauert die Lieferung?"),
        "fr": ("Combien de temps prend la livraison ?", "Livrez-vous en Belgique ?", "Quels sont les délais d'expédition ?"),
        "es": ("¿Cuánto tarda el envío?", "¿Hacen envíos a México?", "¿Cuántos días tarda en llegar?"),
        "zh": ("发货要几天", "能寄到国外吗", "一般多久能送到"),
        "ja": ("配送には何日かかりますか", "海外発送はできますか", "発送までどのくらいかかりますか"),
        "id": ("pengiriman berapa lama?", "bisa kirim ke luar negeri?", "berapa hari sampai ke Surabaya"),
    },
    "cancel_order": {
        "en": ("please cancel it, I changed my mind", "I don't want this order anymore", "cancel order 55123 please"),
        "de": ("Bitte stornieren Sie meine Bestellung", "Ich möchte meine Bestellung stornieren", "Kann ich noch stornieren?"),
        "fr": ("Je voudrais annuler ma commande", "Annulez ma commande s'il vous plaît", "Est-il encore possible d'annuler ?"),
        "es": ("Quiero cancelar mi pedido", "Por favor cancelen la compra", "¿Puedo anular el pedido?"),
        "zh": ("我想取消订单", "请帮我取消这个订单", "订单还能取消吗"),
        "ja": ("注文をキャンセルしたいです", "キャンセルをお願いします", "まだキャンセルできますか"),
        "id": ("tolong batalkan pesanan saya", "saya mau batalin order", "pesanan masih bisa dibatalkan?"),
    },
    "change_address": {
        "en": ("I need to fix the delivery address", "can I ship it to my office instead", "wrong street on my order"),
        "de": ("Ich möchte die Lieferadresse ändern", "Falsche Adresse angegeben", "Bitte an eine andere Adresse schicken"),
        "fr": ("Je dois changer l'adresse de livraison", "Je me suis trompé d'adresse", "Pouvez-vous livrer à une autre adresse ?"),
        "es": ("Quiero cambiar la dirección de envío", "Puse mal la dirección", "¿Pueden enviarlo a otra dirección?"),
        "zh": ("我想修改收货地址", "地址填错了", "能改一下送货地址吗"),
        "ja": ("配送先の住所を変更したい", "住所を間違えて入力しました", "別の住所に送ってもらえますか"),
        "id": ("saya mau ganti alamat pengiriman", "alamatnya salah tulis", "bisa kirim ke alamat lain?"),
    },
    "damaged_item": {
        "en": ("the mug came smashed", "it's broken, arrived like this", "the box was wet and the product is ruined"),
        "de": ("Der Artikel kam kaputt an", "Das Produkt ist beschädigt", "Das Gerät funktioniert nicht"),
        "fr": ("L'article est arrivé cassé", "Le produit est endommagé", "L'appareil ne marche pas"),
        "es": ("El producto llegó roto", "El artículo está dañado", "No funciona, vino defectuoso"),
        "zh": ("收到的东西是坏的", "商品有破损", "打开就发现坏了"),
        "ja": ("商品が壊れて届きました", "箱が潰れて中身が破損していました", "初期不良で動きません"),
        "id": ("barangnya rusak pas sampai", "produk yang saya terima pecah", "barang cacat tidak bisa dipakai"),
    },
    "payment_failed": {
        "en": ("checkout keeps failing on payment", "my card won't go through", "money was taken but no order"),
        "de": ("Die Zahlung ist fehlgeschlagen", "Meine Karte wird abgelehnt", "Ich kann nicht bezahlen"),
        "fr": ("Le paiement a échoué", "Ma carte est refusée", "Je n'arrive pas à payer"),
        "es": ("El pago no se procesó", "Me rechazan la tarjeta", "No puedo pagar el pedido"),
        "zh": ("付款失败了", "银行卡支付不了", "扣款了但是订单没成功"),
        "ja": ("支払いができません", "カードが使えませんでした", "決済エラーが出ます"),
        "id": ("pembayaran saya gagal", "kartu saya ditolak", "saldo kepotong tapi pesanan gagal"),
    },
    "return_item": {
        "en": ("how can I send this back", "I want to return these shoes", "what's your returns process"),
        "de": ("Wie kann ich den Artikel zurückschicken?", "Ich möchte etwas zurückgeben", "Wie funktioniert die Rücksendung?"),
        "fr": ("Comment retourner un article ?", "Je veux renvoyer ce produit", "Quelle est votre politique de retour ?"),
        "es": ("¿Cómo devuelvo un producto?", "Quiero devolver esto", "¿Cuál es la política de devoluciones?"),
        "zh": ("怎么退货", "我想把这个退回去", "退货流程是什么"),
        "ja": ("返品したいです", "返品の方法を教えてください", "サイズが合わないので交換できますか"),
        "id": ("cara retur barang gimana?", "saya mau mengembalikan barang", "bisa tukar ukuran?"),
    },
    "wrong_item": {
        "en": ("you sent me someone else's order", "got a blue one, I ordered black", "this isn't the product I bought"),
        "de": ("Ich habe den falschen Artikel bekommen", "Das ist nicht das, was ich bestellt habe", "Falsche Größe geliefert"),
        "fr": ("J'ai reçu le mauvais article", "Ce n'est pas ce que j'ai commandé", "Mauvaise couleur livrée"),
        "es": ("Me llegó un producto equivocado", "Esto no es lo que pedí", "Me enviaron otra talla"),
        "zh": ("发错货了", "收到的不是我买的东西", "颜色发错了"),
        "ja": ("違う商品が届きました", "注文したものと違います", "サイズ違いが届きました"),
        "id": ("barang yang dikirim salah", "ini bukan yang saya pesan", "warnanya beda dari pesanan"),
    },
    "discount_code": {
        "en": ("the promo code gives an error", "my voucher isn't accepted", "any coupons available?"),
        "de": ("Mein Gutscheincode funktioniert nicht", "Der Rabattcode wird nicht angenommen", "Gibt es einen Rabatt?"),
        "fr": ("Mon code promo ne marche pas", "Le bon de réduction est refusé", "Avez-vous des codes de réduction ?"),
        "es": ("Mi código de descuento no funciona", "El cupón no se aplica", "¿Hay alguna promoción?"),
        "zh": ("优惠券用不了", "折扣码无效", "有没有优惠活动"),
        "ja": ("クーポンが使えません", "割引コードが無効と表示されます", "セールはありますか"),
        "id": ("kode promo tidak bisa dipakai", "voucher saya tidak berlaku", "ada diskon nggak?"),
    },
    "account_login": {
        "en": ("can't sign in", "password reset email never came", "locked out of my account"),
        "de": ("Ich kann mich nicht einloggen", "Passwort vergessen", "Mein Konto ist gesperrt"),
        "fr": ("Je n'arrive pas à me connecter", "J'ai oublié mon mot de passe", "Mon compte est bloqué"),
        "es": ("No puedo iniciar sesión", "Olvidé mi contraseña", "Mi cuenta está bloqueada"),
        "zh": ("登录不了账号", "忘记密码了", "账户被锁了"),
        "ja": ("ログインできません", "パスワードを忘れました", "アカウントがロックされました"),
        "id": ("tidak bisa login", "lupa kata sandi", "akun saya terkunci"),
    },
    "other": {
        "en": ("good morning", "do you like music?", "what time is it in Tokyo"),
        "de": ("Hallo, wie geht's?", "Erzähl mir einen Witz", "Wie wird das Wetter morgen?"),
        "fr": ("Bonjour, ça va ?", "Raconte-moi une blague", "Quel temps fait-il demain ?"),
        "es": ("Hola, ¿qué tal?", "Cuéntame un chiste", "¿Qué tiempo hará mañana?"),
        "zh": ("你好", "给我讲个笑话", "明天天气怎么样"),
        "ja": ("こんにちは", "何か面白い話をして", "明日の天気は？"),
        "id": ("halo apa kabar", "ceritakan lelucon dong", "besok cuacanya gimana"),
    },
}
