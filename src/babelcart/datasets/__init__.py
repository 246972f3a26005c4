"""Reading and writing records (JSONL / CSV) and loaders for the real data sets."""
