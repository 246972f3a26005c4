"""What a head predicts: a class (``classify``) or a star rating (``rating``, 1-5), the vocabulary every layer
above shares (light to import: ``babelcart train``'s options check against it)."""

TASKS = ("classify", "rating")
RATING_LABELS = [1, 2, 3, 4, 5]
