"""Hand-written 2-3 word shop search queries with their language, for ``benchmarks/langid_titles.py``.

Source: written for babelcart by its engineers (2026-12), the kind of query a shopper types into a
storefront's search box; each was checked against the language's common shop vocabulary. Not from a
dataset; no licence restrictions. Split dev / test by the same stable hash as the other rows.
"""

from __future__ import annotations

QUERIES: dict[str, tuple[str, ...]] = {
    "id": (
        "kaos kaki", "tas ransel", "tisu basah", "sepatu lari", "baju anak", "celana jeans pria", "kemeja batik",
        "jam tangan wanita", "sendal jepit", "kabel data", "casing hp", "botol minum", "tempat makan",
        "kasur lipat", "sarung bantal", "minyak goreng", "susu bayi", "popok bayi", "mainan anak", "lampu tidur",
        "kipas angin", "panci presto", "sikat gigi", "sabun mandi", "handuk mandi", "jaket hoodie pria",
        "masker wajah", "rak sepatu", "tas selempang", "kacamata hitam", "kerudung instan", "gamis wanita",
    ),
    "en": (
        "running shoes", "kids backpack", "phone case", "water bottle", "baby wipes", "wireless earbuds",
        "coffee mug", "dog food", "yoga mat", "rice cooker", "desk lamp", "winter jacket", "hair dryer",
        "laptop sleeve", "bed sheets", "face mask", "toy car", "garden hose", "wall clock", "cooking pot",
        "red dress", "socks for men", "wet wipes", "school bag", "hand cream",
    ),
    "fr": (
        "robe rouge", "chaussures de sport", "sac à main", "lait pour bébé", "coque téléphone", "gourde inox",
        "nourriture pour chat", "crème hydratante", "montre femme", "tapis de yoga", "jouet enfant",
        "veste d'hiver", "lampe de chevet", "poêle antiadhésive", "brosse à dents", "chaussettes homme",
        "lingettes bébé", "sac à dos", "bouilloire électrique", "pull en laine",
    ),
    "de": (
        "rotes Kleid", "Laufschuhe Herren", "Handyhülle", "Wasserflasche Edelstahl", "Hundefutter trocken",
        "Kinder Rucksack", "Kaffeebecher", "Winterjacke Damen", "Zahnbürste elektrisch", "Bettwäsche Baumwolle",
        "Gartenschlauch", "Schreibtischlampe", "Feuchttücher Baby", "Kochtopf Set", "Wanduhr modern",
        "Socken Herren", "Damen Handtasche", "Wasserkocher", "Strickpullover", "Katzenfutter nass",
    ),
    "es": (
        "zapatillas running", "camiseta roja", "funda móvil", "botella de agua", "comida para perro",
        "mochila escolar", "toallitas bebé", "auriculares inalámbricos", "chaqueta de invierno", "lámpara de mesa",
        "olla a presión", "cepillo de dientes", "sábanas de algodón", "reloj mujer", "juguetes para niños",
        "calcetines hombre", "bolso de mano", "hervidor eléctrico", "jersey de lana", "pelotas de tenis",
    ),
    "it": (
        "scarpe da corsa", "borsa donna", "cover telefono", "bottiglia acqua", "cibo per gatti", "zaino scuola",
        "salviette bambini", "giacca invernale", "lampada da tavolo", "spazzolino elettrico", "pentola a pressione",
        "orologio uomo", "maglietta rossa", "tappetino yoga", "giocattoli bambini", "calzini uomo",
        "bollitore elettrico", "maglione di lana", "crema mani", "palline da tennis",
    ),
}
